"""Our small loopback HTTP servers (the media host, the sandbox): stopping them at once."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import ThreadingHTTPServer


def shutdown(httpd: ThreadingHTTPServer) -> None:
    """Stop `httpd.serve_forever` at once and close the listening socket. serve_forever
    only looks at its stop flag every half second; shutting the listening socket down wakes
    its select() now (on Linux; elsewhere the half second is the bound)."""
    waiter = threading.Thread(target=httpd.shutdown, daemon=True)
    waiter.start()
    with contextlib.suppress(OSError):
        httpd.socket.shutdown(socket.SHUT_RDWR)
    waiter.join()
    httpd.server_close()
