"""The sandbox over HTTP: Graph API routes, auth, faults, and the control endpoints.

Routes (any `/vNN.N/` version prefix; `ig` is any run of digits, an account is made on first
use): POST /{ig}/media, POST /{ig}/media_publish, GET /{id}, GET /{ig}/media,
GET /{ig}/stories, GET /{ig}/content_publishing_limit, GET /me, GET /debug_token.
Control (no token, for tests that drive a sandbox in another process): GET|POST
/_sandbox/faults, GET /_sandbox/posts, GET /_sandbox/publish_calls, POST /_sandbox/reset.

Auth: `Authorization: Bearer <token>` (or `OAuth <token>`); with `token` set it must match,
else any non-empty token passes. A token in the query string or body is refused, so our own
client can never regress into putting it in a URL. One DEBUG log line per request (method,
path without query, status); headers are never logged.

Run alone: `python -m publisher.sandbox.server --port 8766 --state sandbox.json`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import random
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from publisher.clock import Clock, system_clock
from publisher.sandbox import faults as faults_module
from publisher.sandbox import meta_errors
from publisher.sandbox.faults import Faults
from publisher.sandbox.fetch import Fetcher
from publisher.sandbox.graph import Graph, token_key
from publisher.sandbox.meta_errors import GraphError

log = logging.getLogger("publisher.sandbox")

DEFAULT_PORT = 8766
MAX_BODY = 1024 * 1024
_VERSION = re.compile(r"^v\d+\.\d+$")
_DIGITS = re.compile(r"^\d+$")
# Meta sends usage headers on every answer; the client records them (instagram-api.md §7.4).
_APP_USAGE = json.dumps({"call_count": 1, "total_time": 1, "total_cputime": 1})


class SandboxServer:
    """The fake Graph API on a port, served from a daemon thread. Owns its HTTP server, its
    media fetcher and its state (durable when `state_path` is given)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_path: Path | None = None,
        faults: Faults | None = None,
        token: str | None = None,
        fetch_media: bool = True,
        clock: Clock = system_clock,
    ) -> None:
        self._address = (host, port)
        self._faults = faults if faults is not None else Faults()
        self._token = token
        self._clock = clock
        self._fetcher = Fetcher() if fetch_media else None
        self.graph = Graph(
            state_path=state_path, faults=self._faults, clock=clock, fetcher=self._fetcher
        )
        self._random = random.Random(0)
        self._random_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None

    @property
    def faults(self) -> Faults:
        return self._faults

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not started")
        return int(self._httpd.server_address[1])

    def start(self) -> str:
        """Listen and serve in a daemon thread; return the base URL "http://host:port"."""
        if self._httpd is not None:
            raise RuntimeError("the sandbox is already started")
        self._httpd = _HTTPServer(self._address, self)
        host = self._address[0]
        self.base_url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            name="sandbox",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop listening and close every open connection. Safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            _shutdown(httpd)
            httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        """Stop, and release the media fetcher."""
        self.stop()
        if self._fetcher is not None:
            self._fetcher.close()

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def posts(self) -> list[dict[str, Any]]:
        """Every published post (all accounts), oldest first."""
        return self.graph.posts()

    def publish_calls(self) -> dict[str, int]:
        """container id -> media_publish calls that reached it (a transient 5xx fault answers
        before that, like a front end failing, and is not counted)."""
        return self.graph.publish_calls()

    def reset(self) -> None:
        """Forget every account, container and post; all faults back to off."""
        self.graph.reset()
        for name, value in faults_module.to_json(Faults()).items():
            setattr(self._faults, name, value)
        with self._random_lock:
            self._random.seed(0)

    def check_token(self, header: str) -> str:
        """Given the Authorization header, return the token's fingerprint. Raise GraphError
        (190) if it is missing, wrong, or the `invalid_token` fault is on."""
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() not in ("bearer", "oauth") or not token:
            raise meta_errors.token_missing()
        if self._token is not None and token != self._token:
            raise meta_errors.token_invalid()
        if self._faults.invalid_token:
            raise meta_errors.token_expired(self._clock())
        return token_key(token)

    def roll_transient(self) -> bool:
        """True when the transient 5xx fault picks this request (seeded, repeatable)."""
        rate = self._faults.transient_5xx_rate
        if rate <= 0:
            return False
        with self._random_lock:
            return self._random.random() < rate


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        # Kept-alive connections would otherwise go on talking to a stopped sandbox.
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "publisher-sandbox"
    sys_version = ""
    timeout = 60  # an idle kept-alive connection frees its thread
    # Headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    # http.server logs request lines (with their query) to stderr: replace that with ours.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sandbox: malformed request")

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path
        try:
            status = self._route(method, path, dict(parse_qsl(split.query, keep_blank_values=True)))
        except (BrokenPipeError, ConnectionResetError):
            status = "client gone"
        except Exception:
            log.exception("sandbox: %s %s failed", method, path)
            self.close_connection = True
            status = "500"
            try:
                self._send_json(
                    500,
                    GraphError(
                        1, "An unknown error occurred", http_status=500, is_transient=True
                    ).body(),
                )
            except OSError:
                pass
        log.debug("%s %s %s", method, path, status)

    def _route(self, method: str, path: str, query: dict[str, str]) -> str:
        if path.startswith("/_sandbox/"):
            return self._control(method, path)
        sandbox = self.server.sandbox
        if sandbox.faults.latency_s > 0:
            time.sleep(sandbox.faults.latency_s)
        try:
            form = self._form() if method == "POST" else {}
            if "access_token" in query or "access_token" in form:
                raise meta_errors.token_in_url()
            key = sandbox.check_token(self.headers.get("Authorization", ""))
            if sandbox.roll_transient():
                raise meta_errors.transient()
            return self._graph(method, path, query, form, key)
        except GraphError as error:
            self._send_json(error.http_status, error.body())
            return str(error.http_status)

    def _graph(
        self, method: str, path: str, query: dict[str, str], form: dict[str, str], key: str
    ) -> str:
        graph = self.server.sandbox.graph
        parts = [part for part in path.split("/") if part]
        if not parts or not _VERSION.match(parts[0]):
            raise meta_errors.unknown_path(method, path)
        rest = parts[1:]
        answer: dict[str, Any]
        if method == "GET" and rest == ["me"]:
            answer = graph.me(query, key)
        elif method == "GET" and rest == ["debug_token"]:
            answer = graph.debug_token(key)
        elif method == "GET" and len(rest) == 1 and _DIGITS.match(rest[0]):
            answer = graph.read_node(rest[0], query, key)
        elif len(rest) == 2 and _DIGITS.match(rest[0]):
            ig_user_id, edge = rest
            if method == "POST" and edge == "media":
                answer = graph.create_container(ig_user_id, form, key)
            elif method == "POST" and edge == "media_publish":
                return self._publish(ig_user_id, form, key)
            elif method == "GET" and edge in ("media", "stories"):
                url = f"http://{self.headers.get('Host', '127.0.0.1')}{path}"
                answer = graph.list_media(
                    ig_user_id, query, key, stories=edge == "stories", url=url
                )
            elif method == "GET" and edge == "content_publishing_limit":
                answer = graph.publishing_limit(ig_user_id, query, key)
            else:
                raise meta_errors.unknown_path(method, path)
        elif len(rest) == 1:
            raise meta_errors.no_such_object(method, rest[0])
        else:
            raise meta_errors.unknown_path(method, path)
        self._send_json(200, answer)
        return "200"

    def _publish(self, ig_user_id: str, form: dict[str, str], key: str) -> str:
        answer = self.server.sandbox.graph.publish(ig_user_id, form, key)
        if answer.delay_s > 0:
            time.sleep(answer.delay_s)
        if answer.lose == "drop":
            # The post is committed; the client hears nothing (like a reset after the fact).
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return "dropped"
        if answer.lose == "502":
            self.close_connection = True
            self._send(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return "502"
        self._send_json(200, answer.body)
        return "200"

    def _control(self, method: str, path: str) -> str:
        sandbox = self.server.sandbox
        body: Any
        status = 200
        if path == "/_sandbox/faults" and method == "GET":
            body = faults_module.to_json(sandbox.faults)
        elif path == "/_sandbox/faults" and method == "POST":
            try:
                changes = json.loads(self._body() or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("send a JSON object of fault fields")
                faults_module.apply(sandbox.faults, changes)
                body = faults_module.to_json(sandbox.faults)
            except ValueError as exc:
                status, body = 400, {"error": {"message": str(exc)}}
        elif path == "/_sandbox/posts" and method == "GET":
            body = sandbox.posts()
        elif path == "/_sandbox/publish_calls" and method == "GET":
            body = sandbox.publish_calls()
        elif path == "/_sandbox/reset" and method == "POST":
            self._body()
            sandbox.reset()
            body = {"reset": True}
        else:
            status, body = 404, {"error": {"message": f"no control endpoint {method} {path}"}}
        self._send_json(status, body)
        return str(status)

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise meta_errors.bad_parameter("send the body with a Content-Length")
        length_text = self.headers.get("Content-Length", "0").strip() or "0"
        if not length_text.isdigit() or int(length_text) > MAX_BODY:
            self.close_connection = True
            raise meta_errors.bad_parameter("the request body is too large")
        return self.rfile.read(int(length_text))

    def _form(self) -> dict[str, str]:
        """The POST parameters: the query string's, overridden by the body's (form-encoded
        or a JSON object, as Meta's guide shows both)."""
        raw = self._body()
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not raw:
            return {}
        if content_type == "application/json":
            try:
                document = json.loads(raw)
            except ValueError as exc:
                raise meta_errors.bad_parameter("the JSON body cannot be parsed") from exc
            if not isinstance(document, dict):
                raise meta_errors.bad_parameter("the JSON body must be an object")
            return {str(k): _form_value(v) for k, v in document.items()}
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise meta_errors.bad_parameter("the body is not UTF-8") from exc
        return dict(parse_qsl(text, keep_blank_values=True))

    def _send_json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode("utf-8"), "application/json; charset=UTF-8")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-fb-trace-id", meta_errors.fbtrace_id())
        self.send_header("X-App-Usage", _APP_USAGE)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


def _shutdown(httpd: ThreadingHTTPServer) -> None:
    """Stop `httpd.serve_forever` at once and close the listening socket. serve_forever
    only looks at its stop flag every half second; shutting the listening socket down wakes
    its select() now (on Linux; elsewhere the half second is the bound)."""
    waiter = threading.Thread(target=httpd.shutdown, daemon=True)
    waiter.start()
    with contextlib.suppress(OSError):
        httpd.socket.shutdown(socket.SHUT_RDWR)
    waiter.join()
    httpd.server_close()


def _form_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def serve_forever(
    host: str,
    port: int,
    state_path: Path | None,
    *,
    token: str | None = None,
    faults: Faults | None = None,
    fetch_media: bool = True,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Run a sandbox until SIGTERM or Ctrl-C (for `publisher sandbox`). `announce` receives
    the base URL once the port is bound (useful with port 0)."""
    server = SandboxServer(
        host=host,
        port=port,
        state_path=state_path,
        faults=faults,
        token=token,
        fetch_media=fetch_media,
    )
    stopping = threading.Event()
    previous: Any = None
    in_main = threading.current_thread() is threading.main_thread()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    if in_main:
        previous = signal.signal(signal.SIGTERM, on_term)
    url = server.start()
    try:
        if announce is not None:
            announce(url)
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m publisher.sandbox.server [--host H] [--port N] [--state FILE]`."""
    parser = argparse.ArgumentParser(
        prog="python -m publisher.sandbox.server",
        description="Run publisher's Graph API sandbox until SIGTERM or Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0 = any free)")
    parser.add_argument("--state", type=Path, default=None, help="keep the state in FILE")
    parser.add_argument("--no-fetch", action="store_true", help="do not download media URLs")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    def announce(url: str) -> None:
        print(f"sandbox listening on {url}", flush=True)

    serve_forever(
        args.host, args.port, args.state, fetch_media=not args.no_fetch, announce=announce
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
