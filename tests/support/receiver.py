"""A loopback HTTP receiver: records every request, answers with scripted statuses.

For tests of anything that calls out over HTTP (Apprise's json:// notifications, web hooks):

    with Receiver(statuses=[500, 500]) as receiver:     # then 200 for good
        ... send to f"json://127.0.0.1:{receiver.port}/hook" ...
        requests = receiver.wait_for(3)

`hold()` keeps every answer back until `release()`, to show that a caller does not wait.
(`tests.support.ports.free_port()` gives an address where nothing listens: a receiver that
is down.)
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, statuses: list[int] | None = None) -> None:
        """Answer the first requests with `statuses`, in order, then with 200."""
        self._statuses = list(statuses or [])
        self._requests: list[Request] = []
        self._changed = threading.Condition()
        self._answer = threading.Event()
        self._answer.set()
        self._server = ThreadingHTTPServer((HOST, 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def requests(self) -> list[Request]:
        with self._changed:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        """Return the requests once there are at least `count`; fail after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} request(s) within {timeout} s, got {len(self._requests)}"
                    )
                self._changed.wait(left)
            return list(self._requests)

    def hold(self) -> None:
        """Keep every answer back (the request is still recorded) until `release()`."""
        self._answer.clear()

    def release(self) -> None:
        self._answer.set()

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)  # so that shutdown() is quick

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._record()

            def do_GET(self) -> None:
                self._record()

            def do_PUT(self) -> None:
                self._record()

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                request = Request(self.command, self.path, dict(self.headers), body)
                with receiver._changed:
                    receiver._requests.append(request)
                    status = receiver._statuses.pop(0) if receiver._statuses else 200
                    receiver._changed.notify_all()
                receiver._answer.wait(10)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler
