"""`publisher run`: the daemon in the foreground until SIGTERM/SIGINT; SIGHUP reloads.

The composition root of the daemon: the real clock, the real systemd notifier, the signal
handlers. What can go wrong at start is raised; `cli.main` says it and picks the exit status.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType

from publisher.clock import system_clock
from publisher.commands import calendar
from publisher.config import Config
from publisher.daemon.loop import Daemon
from publisher.daemon.sdnotify import Notifier
from publisher.errors import PublisherError, StartFailed
from publisher.publishing.runtime import Runtime

_Handler = Callable[[int, FrameType | None], object] | int | None


def serve(config: Config) -> None:
    """Run the daemon on `config` until SIGTERM or SIGINT (a clean stop returns).

    Raise StateLocked or StoreCorrupt if state_dir cannot be used, StartFailed if the daemon
    cannot start (state_dir or the media host cannot be opened, content_dir cannot be
    watched).
    """
    try:
        runtime = Runtime.open(config)
    except OSError as exc:
        raise StartFailed(f"cannot start: {exc}") from exc
    daemon = Daemon(
        config, runtime, clock=system_clock, notifier=Notifier(), plan_feed=calendar.plan_feed
    )
    previous = _install_signals(daemon)
    try:
        try:
            daemon.start()
        except PublisherError:  # metrics.listen taken: a config error, said by cli.main
            daemon.shutdown()
            raise
        except OSError as exc:
            daemon.shutdown()
            raise StartFailed(
                f"cannot watch {config.content_dir}: {exc.strerror or exc} (raise "
                "fs.inotify.max_user_watches / max_user_instances if the limit is reached)"
            ) from exc
        daemon.serve()
        daemon.shutdown()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _install_signals(daemon: Daemon) -> dict[int, _Handler]:
    """SIGTERM/SIGINT ask the daemon to stop, SIGHUP to reload; the handlers only set flags.
    Return the handlers they replaced."""

    def stop(_signum: int, _frame: FrameType | None) -> None:
        daemon.request_stop()

    def reload(_signum: int, _frame: FrameType | None) -> None:
        daemon.request_reload()

    previous: dict[int, _Handler] = {}
    for signum, handler in ((signal.SIGTERM, stop), (signal.SIGINT, stop), (signal.SIGHUP, reload)):
        previous[signum] = signal.signal(signum, handler)
    return previous
