"""`media.host: serve`: `ServeHost`, our own HTTP server on `media.listen`, serving exactly
the files it signed a link for (`links`), each as it was when the link was made
(`identity`), until the link expires.

`url_for` opens the file through `confined.open_beneath` (no link followed out of
content_dir, or out of state_dir/cache for a converted copy), binds the link to what it
opened, and signs. A request is checked in this order: the link's shape, its signature and
expiry (no file is touched for a link we did not sign), then the file is opened the same way
and the opened descriptor is compared with the binding; the answer is sent from that
descriptor. A signed link whose file cannot be opened, or is not the file it was made for,
is a 404 and one warning naming the path (never the link: it is a capability).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Collection
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from publisher import confined
from publisher.clock import Clock, system_clock
from publisher.hosting import httpserve
from publisher.hosting.mediahost import identity, links
from publisher.hosting.mediahost.server import MediaServer, Opened

log = logging.getLogger(__name__)

_WARNED_LINKS = 256  # refused links remembered, so a fetcher's retries log one line


class ServeHost:
    """`media.host: serve` (module doc). Owns the server (a ThreadingHTTPServer in a daemon
    thread). `listen` may use port 0: `port` is the real port after `start()`, and a port 0
    in `public_url` is replaced by it. Links live at most `link_ttl`; the signing key is
    `state_dir/media.key`."""

    def __init__(
        self,
        *,
        content_dir: Path,
        state_dir: Path,
        listen: tuple[str, int],
        public_url: str,
        link_ttl: timedelta,
        clock: Clock = system_clock,
    ) -> None:
        self._content_dir = Path(os.path.realpath(content_dir))
        self._cache_dir = Path(os.path.realpath(state_dir / links.CACHE))
        self._key = links.load_key(state_dir)
        self._listen = listen
        self._public_url = public_url.rstrip("/")
        self._ttl = link_ttl
        self._clock = clock
        self._digests = identity.Digests()
        self._warned: OrderedDict[str, None] = OrderedDict()
        self._warned_lock = threading.Lock()
        self._httpd: MediaServer | None = None
        self._thread: threading.Thread | None = None

    # --- nothing to delete: the links point at the files where they are -------------------

    def release(self, job_id: str) -> None:
        pass

    def sweep(self, active_job_ids: Collection[str]) -> None:
        pass

    # --- links ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port served on (the configured one before `start()`)."""
        if self._httpd is not None:
            return int(self._httpd.server_address[1])
        return self._listen[1]

    @property
    def public_url(self) -> str:
        split = urlsplit(self._public_url)
        if split.port == 0 and self._httpd is not None:
            netloc = f"{split.hostname}:{self.port}"
            if split.hostname and ":" in split.hostname:  # IPv6 literal
                netloc = f"[{split.hostname}]:{self.port}"
            return urlunsplit(split._replace(netloc=netloc))
        return self._public_url

    def url_for(self, path: Path, *, job_id: str | None = None) -> str:
        """Given a file in content_dir (absolute, or relative to it) or a converted copy
        directly in state_dir/cache, return a link to it as it is now that works until
        now + link_ttl. The file is read once (its hash) unless it was already.

        Raise ValueError if `path` is in neither folder (after its links are resolved);
        OSError if it cannot be opened or read, is not a regular file, or changed while it
        was read.
        """
        expires = int((self._clock() + self._ttl).timestamp())
        real = Path(os.path.realpath(path))
        kind: links.Kind
        if real.parent == self._cache_dir:
            kind, folder, relpath = "c", self._cache_dir, real.name
        else:
            kind, folder = "m", self._content_dir
            relpath = links.relative_path(self._content_dir, path)
        try:
            handle = confined.open_beneath(folder, folder / relpath)
        except confined.OutsideContentDir:
            raise ValueError(f"{path} is not inside the content folder {folder}") from None
        with handle:
            binding = identity.bind(handle, self._digests, with_mtime=kind == "m")
        link = links.path_of(self._key, kind, expires, binding.text(), relpath)
        return f"{self.public_url}{link}"

    def open_link(self, request_path: str) -> Opened | None:
        """Given a request's path (query ignored), return the file it may read, opened and
        checked (module doc), or None (a 404) whatever the reason."""
        link = links.parse(request_path)
        if link is None or not link.verified(self._key, self._clock().timestamp()):
            return None
        names = link.parts()
        binding = identity.Binding.parse(link.binding)
        if names is None or binding is None:
            return None  # signed by us, so never: a key shared with something else
        folder = self._cache_dir if link.kind == "c" else self._content_dir
        try:
            handle = confined.open_beneath(folder, folder.joinpath(*names))
        except OSError as exc:
            self._refused(link, f"cannot be opened ({exc.strerror or exc})")
            return None
        try:
            if identity.still(binding, handle, self._digests):
                info = os.fstat(handle.fileno())
                return Opened(handle, link.relpath, info.st_size, info.st_mtime)
        except OSError as exc:
            handle.close()
            self._refused(link, f"cannot be read ({exc.strerror or exc})")
            return None
        handle.close()
        self._refused(link, "is not the file its link was made for (changed or replaced)")
        return None

    def _refused(self, link: links.Link, why: str) -> None:
        """One warning per refused link (Meta's fetcher asks again), naming the path."""
        with self._warned_lock:
            if link.signature in self._warned:
                return
            self._warned[link.signature] = None
            while len(self._warned) > _WARNED_LINKS:
                self._warned.popitem(last=False)
        where = "state_dir/cache/" if link.kind == "c" else ""
        log.warning(
            "media: %r %s; answered 404",
            f"{where}{link.relpath}",
            why,
        )

    # --- the server -------------------------------------------------------------------------

    def start(self) -> None:
        """Listen on `listen` and serve from a daemon thread. Raise OSError if the address
        cannot be bound."""
        if self._httpd is not None:
            return
        self._httpd = MediaServer(self._listen, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            name="mediahost",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving. Safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpserve.shutdown(httpd)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
