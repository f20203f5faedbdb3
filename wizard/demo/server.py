"""A loopback HTTP mirror for the demo mode and the tests.

``MirrorServer`` serves a directory on 127.0.0.1 the way the real upstreams behave where it
matters to a resumable downloader: byte ranges (206/416), strong ETags, ``Last-Modified``,
``If-Range``, and Hugging Face Hub ``resolve`` routes carrying ``X-Repo-Commit``. Faults
(dropped connections, error statuses, ignored ranges, changed ETags, delays, throttling) can be
injected per path prefix while it runs, and every request is recorded for assertions.

Routes (query strings are ignored for file lookup):

* ``/<path>`` -> ``docroot/<path>``
* ``/datasets/<ns>/<name>/resolve/<revision>/<path>`` -> ``docroot/hub/<ns>/<name>/<path>``
  (any revision), with ``X-Repo-Commit``, ``X-Linked-Size`` and ``X-Linked-Etag`` (quoted
  sha256, as the Hub does for LFS files); a missing file is a 404 with the Hub's
  ``X-Error-Code`` (``EntryNotFound`` / ``RepositoryNotFound``)
* ``/drive/folders/<id>[/]`` -> a JSON listing of ``docroot/drive/folders/<id>/`` in nginx's
  ``autoindex_format json`` shape: ``[{"name", "type", "mtime", "size"}]``
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

#: The commit every Hub-like route reports (also used by the nginx test helper).
HUB_COMMIT = "5ea1e4c1b6f00c0de2f1c7a3d9b8e6f4a2c0d1e3"
CHUNK_SIZE = 64 * 1024
#: Request headers kept in :attr:`MirrorServer.requests`.
RECORDED_HEADERS = (
    "Range", "If-Range", "If-None-Match", "If-Modified-Since", "Accept-Encoding",
    "Authorization", "User-Agent", "Cookie",
)
_HUB_ROUTE = re.compile(r"^/datasets/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$")
_DRIVE_FOLDERS = "/drive/folders/"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class Fault:
    """A misbehaviour applied to the next ``times`` requests whose path starts with a prefix.

    ``times=None`` applies it to every matching request until :meth:`MirrorServer.clear_faults`.
    Faults for one prefix are used in the order they were added, so a sequence such as
    "503, then drop after 1000 bytes, then normal" is three ``add_fault`` calls.
    """

    status: int | None = None  # answer with this status and a short text body
    retry_after: str | None = None  # Retry-After header (with ``status``)
    drop_after: int | None = None  # send headers + this many body bytes, then close the socket
    ignore_range: bool = False  # answer 200 with the full body whatever Range says
    etag: str | None = None  # report this ETag (and X-Linked-Etag) instead: "upstream changed"
    delay: float = 0.0  # seconds to wait before answering
    rate: int | None = None  # throttle the body to this many bytes per second
    times: int | None = 1
    methods: tuple[str, ...] = ("GET", "HEAD")
    #: With ``status``: answer with this body (e.g. an HTML error page) instead of a short text.
    body: bytes | None = None
    #: With ``body``: its Content-Type (default ``text/plain; charset=utf-8``).
    content_type: str | None = None
    #: With ``status``: extra response headers (e.g. the Hub's ``X-Error-Code``/``X-Error-Message``).
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it. ``path`` is percent-decoded and has no query."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    status: int
    faulted: bool = False
    #: Body bytes the server set out to send (0 for HEAD); less than the announced
    #: Content-Length when a ``drop_after`` fault cuts the connection.
    sent: int = 0


@dataclass
class _Rule:
    prefix: str
    fault: Fault
    remaining: int | None = field(default=None)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # parallel downloaders open many connections at once

    def __init__(self, address: tuple[str, int], mirror: MirrorServer) -> None:
        self.mirror = mirror
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-transfer are expected here: stay quiet."""


class MirrorServer:
    """Serves ``docroot`` on 127.0.0.1 (port 0 = any free port) from a background thread.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, docroot: Path, *, host: str = "127.0.0.1", port: int = 0,
                 hub_commit: str = HUB_COMMIT, chunk_size: int = CHUNK_SIZE,
                 tls: ssl.SSLContext | None = None) -> None:
        self.docroot = Path(docroot)
        self.tls = tls  # serve https with this server context (tests: every real upstream but COCO is https)
        self.host = host
        self.port = port
        self.hub_commit = hub_commit
        self.chunk_size = chunk_size
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._rules: list[_Rule] = []
        self._requests: list[RequestRecord] = []
        self._connections: set[socket.socket] = set()
        self._sha_cache: dict[tuple[str, int, int], str] = {}
        self.stopping = threading.Event()
        #: The throttle's clock and wait (tests swap them: no test measures wall time).
        self.clock: Callable[[], float] = time.monotonic
        self.pause: Callable[[float], bool] = self.stopping.wait  # True: the server is stopping

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> MirrorServer:
        if self._httpd is not None:
            return self
        self.stopping.clear()
        self._httpd = _Server((self.host, self.port), self)
        if self.tls is not None:
            self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"mirror-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and wait (briefly) for handlers to finish."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._idle.wait_for(lambda: not self._connections, timeout=5)

    def __enter__(self) -> MirrorServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("MirrorServer is not running: call start() first")
        return f"{'https' if self.tls is not None else 'http'}://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        """The absolute URL of a docroot-relative path."""
        return f"{self.base_url}/{path.lstrip('/')}"

    # -- faults and records ------------------------------------------------------------------
    def add_fault(self, path_prefix: str, fault: Fault) -> None:
        """Apply ``fault`` to requests whose decoded URL path starts with ``path_prefix``.

        The prefix is matched against the path as requested (a leading "/" is added), so Hub
        files are targeted as ``/datasets/<ns>/<name>/resolve/...``, not by their docroot path.
        """
        prefix = "/" + path_prefix.lstrip("/")
        with self._lock:
            self._rules.append(_Rule(prefix, fault, fault.times))

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the requests answered so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def _take_fault(self, path: str, method: str) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if not path.startswith(rule.prefix) or method not in rule.fault.methods:
                    continue
                if rule.remaining is None:
                    return rule.fault
                if rule.remaining > 0:
                    rule.remaining -= 1
                    return rule.fault
        return None

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def _track(self, conn: socket.socket, active: bool) -> None:
        with self._lock:
            if active:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
                self._idle.notify_all()

    def linked_etag(self, path: Path, size: int, mtime_ns: int) -> str:
        """The quoted sha256 of a file (cached by path, size and mtime), like the Hub's LFS ETag."""
        key = (str(path), size, mtime_ns)
        with self._lock:
            cached = self._sha_cache.get(key)
        if cached is None:
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            cached = f'"{digest.hexdigest()}"'
            with self._lock:
                self._sha_cache[key] = cached
        return cached

    # -- path resolution ---------------------------------------------------------------------
    def resolve(self, path: str) -> tuple[Path | None, bool]:
        """(file or directory under the docroot or None, is-a-Hub-route) for a raw URL path."""
        hub = _HUB_ROUTE.match(path)
        if hub:
            ns, name, _revision, rest = (unquote(g) for g in hub.groups())
            rel = f"hub/{ns}/{name}/{rest}"
        else:
            rel = unquote(path)
        parts = [p for p in rel.split("/") if p]
        if any(p in ("..", ".") or "\\" in p or "\0" in p for p in parts):
            return None, bool(hub)
        return self.docroot.joinpath(*parts), bool(hub)


def _http_date(seconds: float) -> str:
    return email.utils.formatdate(seconds, usegmt=True)


def _parse_range(value: str, total: int) -> tuple[int, int] | str | None:
    """(first, last) inclusive; None = ignore the header; "unsatisfiable" = answer 416."""
    match = _RANGE.match(value.strip().replace(" ", ""))
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first_s, last_s = match.groups()
    if not first_s:  # suffix range: the last N bytes
        suffix = int(last_s)
        if suffix == 0 or total == 0:
            return "unsatisfiable"
        return max(0, total - suffix), total - 1
    first = int(first_s)
    last = int(last_s) if last_s else total - 1
    if last_s and last < first:
        return None
    if first >= total:
        return "unsatisfiable"
    return first, min(last, total - 1)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MirrorServer/1"
    timeout = 60
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.mirror._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.mirror._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are recorded in ``MirrorServer.requests``, not printed."""

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    # -- helpers -----------------------------------------------------------------------------
    def _subset(self) -> dict[str, str]:
        return {k: v for k in RECORDED_HEADERS if (v := self.headers.get(k)) is not None}

    def _simple(self, status: int, body: bytes, headers: Mapping[str, str], head: bool,
                path: str, query: str, faulted: bool) -> None:
        # Recorded before answering, so a client that saw the answer also sees the record.
        self.server.mirror._record(RequestRecord(self.command, path, query, self._subset(), status,
                                                 faulted, 0 if head else len(body)))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _abort(self) -> None:
        """Close the connection without finishing the response."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

    def _serve(self, head: bool) -> None:
        mirror = self.server.mirror
        split = urlsplit(self.path)
        path, query = unquote(split.path), split.query
        fault = mirror._take_fault(path, self.command)
        faulted = fault is not None
        if fault and fault.delay > 0 and mirror.stopping.wait(fault.delay):
            self._abort()
            return
        if fault and fault.status is not None:
            headers = {"Content-Type": "text/plain; charset=utf-8"}
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            headers.update(fault.headers)
            body = f"{fault.status} injected fault for {path}\n".encode()
            if fault.body is not None:
                body = fault.body
                headers["Content-Type"] = fault.content_type or headers["Content-Type"]
            self._simple(fault.status, body, headers, head, path, query, faulted)
            return

        target, hub = mirror.resolve(split.path)
        if target is not None and target.is_dir() and path.startswith(_DRIVE_FOLDERS):
            self._simple(200, self._listing(target), {"Content-Type": "application/json"}, head,
                         path, query, faulted)
            return
        if target is None or not target.is_file():
            headers = {"Content-Type": "text/plain; charset=utf-8"}
            if hub:
                repo = mirror.docroot / "hub" / "/".join(path.split("/")[2:4])
                headers["X-Error-Code"] = "EntryNotFound" if repo.is_dir() else "RepositoryNotFound"
                headers["X-Error-Message"] = "Entry not found" if repo.is_dir() else "Repository not found"
            self._simple(404, b"404 Not Found\n", headers, head, path, query, faulted)
            return
        self._send_file(target, hub, head, path, query, fault)

    def _listing(self, folder: Path) -> bytes:
        entries = []
        for child in sorted(folder.iterdir(), key=lambda p: p.name):
            st = child.stat()
            entry: dict[str, Any] = {"name": child.name, "type": "directory" if child.is_dir() else "file",
                                     "mtime": _http_date(st.st_mtime)}
            if child.is_file():
                entry["size"] = st.st_size
            entries.append(entry)
        return json.dumps(entries, ensure_ascii=False).encode()

    def _send_file(self, target: Path, hub: bool, head: bool, path: str, query: str,
                   fault: Fault | None) -> None:
        mirror = self.server.mirror
        st = target.stat()
        total = st.st_size
        etag = f'"{total:x}-{st.st_mtime_ns:x}"'
        last_modified = _http_date(st.st_mtime)
        validators = {etag, last_modified}
        linked = ""
        if hub:
            linked = mirror.linked_etag(target, total, st.st_mtime_ns)
            validators.add(linked)
        if fault and fault.etag is not None:
            etag = linked = fault.etag
            validators = {etag}

        status, first, last = 200, 0, total - 1
        range_header = self.headers.get("Range")
        if range_header and not (fault and fault.ignore_range):
            if_range = self.headers.get("If-Range")
            if if_range is None or if_range.strip() in validators:
                wanted = _parse_range(range_header, total)
                if wanted == "unsatisfiable":
                    self._simple(416, b"", {"Content-Range": f"bytes */{total}"}, head, path, query,
                                 fault is not None)
                    return
                if isinstance(wanted, tuple):
                    status, (first, last) = 206, wanted
        length = max(0, last - first + 1)
        limit = length
        if not head and fault is not None and fault.drop_after is not None:
            limit = max(0, min(fault.drop_after, length))
        mirror._record(RequestRecord(self.command, path, query, self._subset(), status,
                                     fault is not None, 0 if head else limit))

        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", last_modified)
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{last}/{total}")
        if hub:
            self.send_header("X-Repo-Commit", mirror.hub_commit)
            self.send_header("X-Linked-Size", str(total))
            self.send_header("X-Linked-Etag", linked)
        self.end_headers()
        if head:
            return
        with target.open("rb") as fh:
            fh.seek(first)
            self._stream(fh, limit, fault.rate if fault else None)
        if limit < length:
            self._abort()

    def _stream(self, fh: BinaryIO, limit: int, rate: int | None) -> None:
        mirror = self.server.mirror
        chunk = mirror.chunk_size if not rate else max(1, min(mirror.chunk_size, rate // 20))
        started = mirror.clock()
        sent = 0
        try:
            while sent < limit:
                data = fh.read(min(chunk, limit - sent))
                if not data:
                    break
                self.wfile.write(data)
                sent += len(data)
                if rate:
                    ahead = sent / rate - (mirror.clock() - started)
                    if ahead > 0 and mirror.pause(ahead):
                        self._abort()
                        return
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
