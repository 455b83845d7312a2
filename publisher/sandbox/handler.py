"""The sandbox's HTTP side: the listening server and the request handler (routing, auth,
faults, control endpoints). `server.SandboxServer` owns one `GraphHTTPServer`.

Graph routes (any `/vNN.N/` version prefix; `ig` is any run of digits, an account is made on
first use): POST /{ig}/media, POST /{ig}/media_publish, GET /{id}, GET /{ig}/media,
GET /{ig}/stories, GET /{ig}/content_publishing_limit, GET /me, GET /debug_token,
POST|GET /{media-id}/comments, GET /{media-id}/insights; and, unversioned like Meta's,
GET /refresh_access_token.
The upload host (`rupload`): POST /ig-api-upload/{version}/{container-id}, `OAuth` only.
Control (no token, for tests that drive a sandbox in another process): GET|POST
/_sandbox/faults, GET /_sandbox/posts, GET /_sandbox/publish_calls, POST /_sandbox/reset.

Auth: `Authorization: Bearer <token>` (or `OAuth <token>`). A token in the query string or
the body is refused, so our own client can never regress into putting it in a URL; the one
exception is /refresh_access_token, which Meta defines with `access_token=` in the query.
One DEBUG log line per request (method, path without query, status); headers are never
logged. Every Graph answer carries usage headers (`Faults.usage_percent`; 100 % with the
wait when throttled).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from publisher.sandbox import faults as faults_module
from publisher.sandbox import meta_errors, rupload
from publisher.sandbox.faults import Faults
from publisher.sandbox.meta_errors import GraphError

if TYPE_CHECKING:
    from publisher.sandbox.server import SandboxServer

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
_VERSION = re.compile(r"^v\d+\.\d+$")
_DIGITS = re.compile(r"^\d+$")
_REFRESH_PATH = re.compile(r"^(/v\d+\.\d+)?/refresh_access_token$")


class GraphHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback on stderr, past the log filter; a client that
        # drops its connection (a timed-out request) is routine.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            log.debug("sandbox: a client dropped its connection")
        else:
            log.warning("sandbox: a request failed", exc_info=True)

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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "publisher-sandbox"
    sys_version = ""
    timeout = 60  # an idle kept-alive connection frees its thread
    # Headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms.
    disable_nagle_algorithm = True
    server: GraphHTTPServer

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
        if path.startswith(rupload.PREFIX):  # the upload host (rupload.facebook.com)
            return rupload.serve(self, method, path)
        sandbox = self.server.sandbox
        if sandbox.faults.latency_s > 0:
            time.sleep(sandbox.faults.latency_s)
        try:
            form = self._form() if method == "POST" else {}
            if method == "GET" and _REFRESH_PATH.match(path):
                return self._refresh(query)
            if "access_token" in query or "access_token" in form:
                raise meta_errors.token_in_url()
            key = sandbox.check_token(self.headers.get("Authorization", ""))
            if sandbox.take_rate_limit():
                raise meta_errors.rate_limited(
                    sandbox.faults.rate_limit_code, sandbox.faults.rate_limit_regain_minutes
                )
            if sandbox.roll_transient():
                raise meta_errors.transient()
            return self._graph(method, path, query, form, key)
        except GraphError as error:
            self._send_error(error)
            return str(error.http_status)

    def _refresh(self, query: dict[str, str]) -> str:
        """GET /refresh_access_token?grant_type=ig_refresh_token&access_token=...: the one
        request whose token is in the URL (Meta's definition)."""
        if query.get("grant_type") != "ig_refresh_token":
            raise meta_errors.bad_parameter("grant_type must be ig_refresh_token")
        token = query.get("access_token", "").strip()
        if not token:
            raise meta_errors.token_missing()
        sandbox = self.server.sandbox
        key = sandbox.check_bare_token(token)
        self._send_json(200, sandbox.graph.refresh_token(key))
        return "200"

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
        elif len(rest) == 2 and _DIGITS.match(rest[0]) and rest[1] == "comments":
            if method == "POST":
                return self._comment(rest[0], query, form, key)
            if method != "GET":
                raise meta_errors.unknown_path(method, path)
            answer = graph.list_comments(rest[0], query, key)
        elif (
            method == "GET" and len(rest) == 2 and _DIGITS.match(rest[0]) and rest[1] == "insights"
        ):
            answer = graph.insights(rest[0], query, key)
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
        return self._lose(answer.lose) or self._ok(answer.body)

    def _comment(self, media_id: str, query: dict[str, str], form: dict[str, str], key: str) -> str:
        answer = self.server.sandbox.graph.comment(media_id, form, query, key)
        lost = self._lose(answer.lose)
        if lost:
            return lost
        if answer.refuse is not None:
            self._send_error(answer.refuse)
            return str(answer.refuse.http_status)
        return self._ok(answer.body)

    def _lose(self, how: str | None) -> str | None:
        """Lose the answer of a write that was committed: "drop" (the client hears nothing,
        like a reset after the fact), "502" or "500" (Meta's transient error); return the
        log status, None to answer."""
        if how == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return "dropped"
        if how == "502":
            self.close_connection = True
            self._send(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return "502"
        if how == "500":
            self._send_error(meta_errors.transient())
            return "500"
        return None

    def _ok(self, body: dict[str, Any]) -> str:
        self._send_json(200, body)
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

    def send_json(self, status: int, body: Any) -> None:
        """Answer `body` as JSON (for `rupload`)."""
        self._send_json(status, body)

    def send_raw(self, status: int, data: bytes, content_type: str) -> None:
        """Answer raw bytes (for `rupload`'s bare 502)."""
        self._send(status, data, content_type)

    def _send_error(self, error: GraphError) -> None:
        self._send_json(error.http_status, error.body(), regain_minutes=error.regain_minutes)

    def _send_json(self, status: int, body: Any, *, regain_minutes: int | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self._send(status, data, "application/json; charset=UTF-8", regain_minutes)

    def _send(
        self, status: int, data: bytes, content_type: str, regain_minutes: int | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-fb-trace-id", meta_errors.fbtrace_id())
        for name, value in _usage_headers(self.server.sandbox.faults, regain_minutes).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


def _usage_headers(faults: Faults, regain_minutes: int | None) -> dict[str, str]:
    """Meta's usage headers (instagram-api.md §7.4): `faults.usage_percent` of the app's and
    the Instagram account's budgets, or 100 % and the wait when the call was throttled."""
    percent = 100 if regain_minutes is not None else faults.usage_percent
    app = {"call_count": percent, "total_time": max(percent // 2, 1), "total_cputime": 1}
    entry = {
        "type": "instagram",
        "call_count": percent,
        "total_cputime": 1,
        "total_time": max(percent // 2, 1),
        "estimated_time_to_regain_access": regain_minutes or 0,
    }
    return {
        "X-App-Usage": json.dumps(app),
        "X-Business-Use-Case-Usage": json.dumps({"sandbox": [entry]}),
    }


def _form_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)
