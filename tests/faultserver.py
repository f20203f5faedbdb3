"""A small HTTP server on 127.0.0.1 that misbehaves on request, for the network-policy fault tests.

It serves in-memory files (``Range``, ``If-Range``, strong ETags, ``HEAD``), the Hub's resolve
URLs (``/datasets/<ns>/<name>/resolve/<rev>/<path>`` with ``X-Repo-Commit``, ``ETag`` and
``X-Linked-Size``) and JSON folder listings (``/folders/<id>/``). Faults are queued per path
prefix and used in order, each for ``times`` requests of the given methods:

``status`` (with ``retry_after`` — a string, or a callable giving one at answer time, e.g. an HTTP
date from the test's fake clock), ``redirect_loop`` (redirect to itself this many times in all,
then answer normally), ``redirect_to`` (e.g. ``file:///etc/passwd``), ``stall`` (headers and half
the body, then silence), ``extra`` (the declared ``Content-Length`` and the body, then this many
more bytes), ``endless`` (no length, the body, then zeros until the client goes away) and
``gzip`` (the body gzip-compressed with ``Content-Encoding: gzip`` although the client asked for
``identity``; ``Content-Length`` counts the compressed bytes).
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

HUB_COMMIT = "c0ffee" * 6 + "c0ff"
MTIME = "Tue, 02 Jan 2024 10:00:00 GMT"


@dataclass
class FaultRule:
    """One misbehaviour (see the module docstring)."""

    status: int | None = None
    retry_after: str | Callable[[], str] | None = None
    redirect_loop: int = 0
    redirect_to: str | None = None
    stall: float = 0.0
    extra: int = 0
    endless: bool = False
    gzip: bool = False
    times: int | None = 1
    methods: tuple[str, ...] = ("GET",)
    hops: int = field(default=0, repr=False)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    range: str | None
    status: int


class FaultServer:
    """``files``: URL path -> bytes. Use as a context manager; ``url(path)`` gives a full URL."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.listings: dict[str, list[str]] = {}
        self.faults: list[tuple[str, FaultRule]] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    def __enter__(self) -> FaultServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(self, prefix: str, rule: FaultRule) -> None:
        with self.lock:
            self.faults.append((prefix, rule))

    def take(self, method: str, path: str) -> FaultRule | None:
        with self.lock:
            for index, (prefix, rule) in enumerate(self.faults):
                if path.startswith(prefix) and method in rule.methods:
                    if rule.redirect_loop:
                        rule.hops += 1
                        if rule.hops >= rule.redirect_loop:
                            del self.faults[index]
                        return rule
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            del self.faults[index]
                    return rule
        return None

    def record(self, seen: Seen) -> None:
        with self.lock:
            self.seen.append(seen)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class _Handler(BaseHTTPRequestHandler):
    owner: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_HEAD(self) -> None:
        self._answer("HEAD")

    def do_GET(self) -> None:
        self._answer("GET")

    def _answer(self, method: str) -> None:
        owner = self.owner
        path = unquote(urlsplit(self.path).path)
        rule = owner.take(method, path)
        if rule is not None and rule.status is not None:
            value = rule.retry_after() if callable(rule.retry_after) else rule.retry_after
            headers = {"Retry-After": value} if value else {}
            return self._plain(method, path, rule.status, b"try later\n", headers)
        if rule is not None and rule.redirect_loop:
            return self._plain(method, path, 302, b"", {"Location": f"{path}?hop={rule.hops}"})
        if rule is not None and rule.redirect_to:
            return self._plain(method, path, 302, b"", {"Location": rule.redirect_to})
        if path.startswith("/folders/") and path.endswith("/"):
            names = owner.listings.get(path.strip("/").split("/")[1], [])
            body = json.dumps([{"name": n, "type": "file"} for n in names]).encode()
            return self._plain(method, path, 200, body, {"Content-Type": "application/json"})
        data = owner.files.get(path)
        if data is None and "/resolve/" in path:  # the Hub: /datasets/<ns>/<name>/resolve/<rev>/<file>
            parts = path.split("/")
            data = owner.files.get("/hub/" + "/".join(parts[2:4] + parts[6:]))
        if data is None:
            return self._plain(method, path, 404, b"not here\n", {})
        etag = '"' + hashlib.sha1(data, usedforsecurity=False).hexdigest()[:16] + '"'
        start, status = 0, 200
        rng = self.headers.get("Range")
        if rng and self.headers.get("If-Range") in (None, etag, MTIME) and rng.startswith("bytes="):
            first = rng[6:].split("-")[0]
            if first.isdigit() and int(first) < len(data):
                start, status = int(first), 206
            elif first.isdigit():
                return self._plain(method, path, 416, b"", {"Content-Range": f"bytes */{len(data)}"})
        body = data[start:]
        headers = {"ETag": etag, "Last-Modified": MTIME, "Accept-Ranges": "bytes",
                   "X-Repo-Commit": HUB_COMMIT, "X-Linked-Size": str(len(data)),
                   "Content-Type": "application/octet-stream"}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        if rule is not None and rule.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        owner.record(Seen(method, path, rng, status))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if rule is not None and rule.endless and method == "GET":
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            return self._endless(body)
        self.send_header("Content-Length", str(len(body)))
        if rule is not None and (rule.stall or rule.extra):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if method == "HEAD":
            return None
        if rule is not None and rule.stall:
            self._write(body[: len(body) // 2])
            owner.stopping.wait(rule.stall)
            return None
        self._write(body + (b"\xa5" * rule.extra if rule is not None and rule.extra else b""))
        return None

    def _endless(self, body: bytes) -> None:
        if not self._write(body):
            return
        zeros = bytes(256 * 1024)
        while not self.owner.stopping.is_set() and self._write(zeros):
            pass

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except OSError:
            return False

    def _plain(self, method: str, path: str, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.owner.record(Seen(method, path, self.headers.get("Range"), status))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self._write(body)


def http_date(when: float) -> str:
    """``when`` (Unix time) as an HTTP date."""
    return email.utils.formatdate(when, usegmt=True)
