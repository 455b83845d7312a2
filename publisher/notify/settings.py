"""The `notify:` section of config.yaml (SPEC §8).

    notify:
      urls: [ntfy://ntfy.sh/my-topic]   # Apprise URLs
      on: [failed, blocked, unconfirmed, missed, token_expiring]   # also: published, invalid

Each URL is read by Apprise when the config is loaded, so a typo is a config error naming the
entry (`notify.urls[1]`), never a notification silently lost months later. The URLs often hold
a password or a token: they are left out of the model's repr and of validation errors.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from publisher.notify.change import DEFAULT_EVENTS, Event


def _readable(url: str) -> str:
    # Imported here: Apprise loads its hundred plugins, which a config without URLs never needs.
    from publisher.notify import targets

    trouble = targets.problem(url)
    if trouble is not None:
        raise ValueError(trouble)
    return url.strip()


AppriseUrl = Annotated[str, AfterValidator(_readable)]


class Notify(BaseModel):
    """Where notifications go (`urls`, none by default: no notifications) and for what."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    urls: list[AppriseUrl] = Field(
        default_factory=list,
        repr=False,
        description="Apprise URLs: ntfy://, slack://, discord://, tgram://, mailto://, json://...",
        examples=[["ntfy://ntfy.sh/my-publisher-alerts"]],
    )
    on: list[Event] = Field(
        default_factory=lambda: list(DEFAULT_EVENTS),
        description="the events to be told about",
        examples=[["failed", "blocked", "unconfirmed", "missed", "token_expiring"]],
    )
