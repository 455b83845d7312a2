"""Apprise at the edge: a `notify.urls` entry → a `Target` that sends one message.

The only module that imports apprise, so the rest of the package reads without it (and
config.yaml without notification URLs never loads Apprise's hundred plugins). Apprise logs each
failed attempt itself; while we parse or send, its warnings are caught here instead, and the
sender logs one line per target that it gives up on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import apprise

from publisher import logs
from publisher.notify.change import Event
from publisher.notify.messages import Message

WIKI = "https://github.com/caronc/apprise/wiki"
APPRISE_LOGGER = "apprise"

# How urgent each event looks in the services that show it (colour, icon, priority).
_TYPES = {
    Event.FAILED: apprise.NotifyType.FAILURE,
    Event.BLOCKED: apprise.NotifyType.FAILURE,
    Event.UNCONFIRMED: apprise.NotifyType.WARNING,
    Event.MISSED: apprise.NotifyType.WARNING,
    Event.TOKEN_EXPIRING: apprise.NotifyType.WARNING,
    Event.INVALID: apprise.NotifyType.WARNING,
    Event.PUBLISHED: apprise.NotifyType.SUCCESS,
}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(?:[^@/?#]*@)?([^/?#]*)(.*)$", re.DOTALL)
# A host worth showing: a DNS name with a dot, an IPv4 address or localhost, with a port.
# Anything else in that place (a bot token, a webhook id) may be the secret itself.
_PLAIN_HOST = re.compile(
    r"^(?:localhost|(?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$"
)


def _asset() -> apprise.AppriseAsset:
    # app_id is the sender's name where a service shows one (an e-mail's From, ntfy's title).
    return apprise.AppriseAsset(app_id="publisher", app_desc="publisher (Instagram drafts)")


def shown(url: str) -> str:
    """Given a notify URL, return what of it may be shown: its scheme and, when it looks like
    a host name or address, its host; never the user, password, path or query."""
    match = _SCHEME.match(url.strip())
    if match is None:
        return "(not a URL)"
    scheme, host, rest = match.groups()
    scheme = scheme.lower()
    if not host or not _PLAIN_HOST.match(host):
        return f"{scheme}://..."
    return f"{scheme}://{host.lower()}" + ("/..." if rest.strip("/") else "")


def problem(url: str) -> str | None:
    """Given a notify URL, return None when Apprise can read it, else a sentence that says
    why, shows no more of the URL than its scheme and host, and points to Apprise's wiki."""
    with _apprise_quiet():
        plugin = apprise.Apprise.instantiate(url, asset=_asset())
    if plugin is not None:
        return None
    match = _SCHEME.match(url.strip())
    if match is None:
        why = "it is not a URL; write it like ntfy://ntfy.sh/my-topic or json://host/path"
    else:
        scheme = match.group(1).lower()
        plugins = apprise.NotificationManager()  # type: ignore[no-untyped-call]
        if scheme in plugins:
            name = plugins[scheme].service_name
            why = f"{shown(url)} lacks something the {name} service needs, or has a bad value"
        elif scheme in {"http", "https"}:
            why = f"{shown(url)} is not a web hook address Apprise knows; use json://host/path"
        else:
            why = f"{shown(url)}: Apprise knows no service called {scheme}://"
    return f"Apprise cannot read this URL: {why}; see {WIKI}"


class Target:
    """One `notify.urls` entry, ready to send. `label` names it in logs without secrets."""

    def __init__(self, url: str, index: int) -> None:
        """Given a notify URL (already checked by `problem`) and its place in `notify.urls`,
        prepare it. Raise ValueError with `problem`'s sentence if Apprise cannot read it."""
        with _apprise_quiet():
            plugin = apprise.Apprise.instantiate(url, asset=_asset())
        if plugin is None:
            raise ValueError(f"notify.urls[{index}]: {problem(url)}")
        # Apprise's privacy form masks passwords and tokens; the query holds only its options.
        private = str(plugin.url(privacy=True)).partition("?")[0]  # type: ignore[no-untyped-call]
        self.label = f"notify.urls[{index}] ({private})"
        self._apprise = apprise.Apprise(asset=plugin.asset)
        self._apprise.add(plugin)

    def send(self, message: Message) -> str | None:
        """Send `message`; return None once the service took it, else why it did not (the
        last thing Apprise said, redacted). Never raise."""
        with _apprise_quiet() as said:
            try:
                delivered = bool(
                    self._apprise.notify(
                        body=message.body,
                        title=message.title,
                        notify_type=_TYPES[message.event],
                        body_format=apprise.NotifyFormat.TEXT,
                    )
                )
            except Exception as exc:  # a plugin's bug must not end the notifier
                return f"Apprise raised {type(exc).__name__}"
        if delivered:
            return None
        return logs.redact(said[-1]) if said else "the service did not accept it"


@contextmanager
def _apprise_quiet() -> Iterator[list[str]]:
    """While the block runs, hold back Apprise's warnings and errors (and yield them), drop
    its INFO chatter ("Notifying 1 service(s)."), and let its DEBUG lines through for -v."""
    said: list[str] = []

    def keep(record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return True
        if record.levelno < logging.WARNING:
            return False
        try:
            said.append(record.getMessage())
        except Exception:
            said.append(str(record.msg))
        return False

    logger = logging.getLogger(APPRISE_LOGGER)
    logger.addFilter(keep)
    try:
        yield said
    finally:
        logger.removeFilter(keep)
