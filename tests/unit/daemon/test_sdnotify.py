"""sd_notify datagrams, received on real AF_UNIX sockets (a path and an abstract name)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from publisher.daemon.sdnotify import Notifier


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket systemd would own, and the NOTIFY_SOCKET value that names it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        address: str | bytes = str(tmp_path / "notify")
        value = str(address)
    else:
        name = f"publisher-test-{uuid.uuid4().hex}"
        address = b"\0" + name.encode()
        value = "@" + name
    sock.bind(address)
    sock.settimeout(2.0)
    with sock:
        yield value, sock


@pytest.mark.parametrize(
    ("send", "expected"),
    [
        (lambda n: n.ready(), b"READY=1"),
        (lambda n: n.ready("3 drafts scheduled"), b"READY=1\nSTATUS=3 drafts scheduled"),
        (lambda n: n.stopping(), b"STOPPING=1"),
        (lambda n: n.status("publishing\nnext.yaml"), b"STATUS=publishing next.yaml"),
        (lambda n: n.watchdog(), b"WATCHDOG=1"),
        (lambda n: n.extend_timeout(2.5), b"EXTEND_TIMEOUT_USEC=2500000"),
    ],
)
def test_messages_reach_the_socket(
    listener: tuple[str, socket.socket], send: Callable[[Notifier], None], expected: bytes
) -> None:
    value, sock = listener
    notifier = Notifier({"NOTIFY_SOCKET": value})
    assert notifier.enabled
    send(notifier)
    assert sock.recv(4096) == expected


def test_reloading_carries_the_monotonic_time(listener: tuple[str, socket.socket]) -> None:
    value, sock = listener
    Notifier({"NOTIFY_SOCKET": value}).reloading()
    first, second = sock.recv(4096).split(b"\n")
    assert first == b"RELOADING=1"
    assert second.startswith(b"MONOTONIC_USEC=") and int(second.split(b"=")[1]) > 0


@pytest.mark.parametrize("environ", [{}, {"NOTIFY_SOCKET": ""}, {"NOTIFY_SOCKET": "relative"}])
def test_without_systemd_every_call_is_a_no_op(environ: dict[str, str]) -> None:
    notifier = Notifier(environ)
    assert not notifier.enabled
    notifier.ready("x")
    notifier.watchdog()
    notifier.stopping()


def test_a_vanished_socket_is_logged_once_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    notifier.watchdog()
    notifier.watchdog()
    assert len([r for r in caplog.records if "NOTIFY_SOCKET" in r.getMessage()]) == 1


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout_when_meant_for_us(
    environ: dict[str, str], expected: float | None
) -> None:
    assert Notifier(environ).watchdog_interval() == expected
