"""`Report`: the problems of one draft, each naming the field, in the order found."""

from __future__ import annotations

from publisher.errors import Problem


class Report:
    """The problems of one draft, in the order found."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.items: list[Problem] = []

    def error(self, where: str, message: str) -> None:
        self.items.append(Problem(self.shown, where, message))

    def warn(self, where: str, message: str) -> None:
        self.items.append(Problem(self.shown, where, message, "warning"))

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for p in self.items)
