"""OCR-VQA images one by one: the GET, the project's policy on its answer, the write — the same in
the run's process and in the second image process (:mod:`.ocrsplit`).

:class:`Fetcher` turns one ``(key, URL)`` into a result ``("saved" | "dead", HTTP status or None,
detail)`` and, for a saved image, ``<target>/<key>.jpg``; it knows no journal (what becomes of a
result is its caller's). :class:`Crew` is a pool of worker threads, each with its own kept-alive
connections (:class:`~wizard.engine.net.keepalive.KeepAlive`), that take images from a callable
and hand results to another; how many of them work at once follows ``target`` (the ramp's share
for this process).

A 429/503 cuts this process's gate for the host (:class:`~wizard.engine.net.ratelimit.HostGate`)
and is passed to ``on_throttle``, which tells the other process (a 429 to either slows both).
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from ..control import Control
from ..errors import Cancelled
from ..imagesig import looks_like_html, sniff
from ..net import httperrors, keepalive
from ..net.bounds import MARGIN
from ..net.policy import Kind, RetryLater, backoff, classify, describe, is_retryable, log_retry
from ..net.ratelimit import HostGate, NetShared
from ..safefs import open_private, open_private_file
from ..settings import Settings

#: ("saved" | "dead", HTTP status or None, detail): what became of one image.
Result = tuple[str, int | None, str]
Take = Callable[[], tuple[str, str] | None]
Record = Callable[[str, str, int | None, str], None]

_DEAD_STATUSES = {400, 401, 403, 404, 410, 451}
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ORIGIN = re.compile(r"(?i:https?)://([^/?#]*)")
_MAX_IMAGE = 64 * 1024 * 1024
#: Image hosts answer 200 with a tiny placeholder (Amazon: a 1x1 GIF, 43 bytes) for a missing image.
PLACEHOLDER = "placeholder image"
#: An image URL answered with a web page (200): a dead link's error page, or a network's sign-in page.
WEB_PAGE = "an HTML page"
_PLACEHOLDER_BYTES = 100
_HEADERS = {"Accept-Encoding": "identity"}
_CHUNK = 64 * 1024
_SPILL = 1 << 20  # bodies up to this size are gathered in memory and written at once


class Stopped(Cancelled):
    """Another worker stopped the batch; this one leaves its image to do."""


class Fetcher:
    """One image from its URL to ``<target>/<key>.jpg`` (through ``<tmp>``), with retries.

    ``per_host``: this process's connections to one host at most; ``net``: its host gates, clocks
    and bandwidth limiter; ``stop``: set when the batch ends early (the image is left to do).
    """

    def __init__(self, settings: Settings, control: Control, net: NetShared, target: Path, tmp: Path,
                 stop: threading.Event, *, per_host: int, threads: int | None = None,
                 on_throttle: Callable[[str], None] = lambda host: None) -> None:
        self.settings = settings
        self.control = control
        self.net = net
        self.target_dir = os.path.join(target, "")  # the folder as a string ending in a separator
        self.tmp_dir = os.path.join(tmp, "")
        self.stop = stop
        self.per_host = max(1, per_host)
        # with no more workers than that (``threads``), the per-host limit can never bind: no semaphore
        self._bounded = threads is None or self.per_host < threads
        self.on_throttle = on_throttle
        self._hosts: dict[str, threading.Semaphore | contextlib.nullcontext[None]] = {}
        self._lock = threading.Lock()

    def _host(self, host: str) -> threading.Semaphore | contextlib.nullcontext[None]:
        with self._lock:
            if host not in self._hosts:
                self._hosts[host] = threading.Semaphore(self.per_host) if self._bounded else contextlib.nullcontext()
            return self._hosts[host]

    def hosts(self) -> list[str]:
        """The hosts asked so far."""
        with self._lock:
            return list(self._hosts)

    def one(self, pool: keepalive.KeepAlive, key: str, url: str) -> Result:
        """("saved" | "dead", HTTP status or None, detail) for one image."""
        if not url:
            return "dead", None, "no imageURL in dataset.json"
        origin = _ORIGIN.match(url)
        if not _SAFE_KEY.match(key) or origin is None:
            return "dead", None, "unusable key or URL"
        host = origin.group(1)  # what urlsplit calls the netloc (a gate per host)
        settings, control = self.settings, self.control
        attempt = 0
        while True:
            if self.stop.is_set():
                raise Stopped()
            control.checkpoint()
            wait: float | None = None
            gate = self.net.gate(host)
            try:
                with self._host(host):
                    if not gate.acquire(self.stop):
                        raise Stopped()
                    try:
                        return self._get(pool, key, url, host, gate)
                    finally:
                        gate.release()
            except RetryLater as exc:
                problem, wait = str(exc), exc.wait
            except httperrors.RequestException as exc:
                control.checkpoint()  # cut by a cancel: not a dead link
                if not is_retryable(exc):
                    return "dead", None, describe(exc)
                problem = "network: " + describe(exc)
            attempt += 1
            if attempt > settings.ocr_retries:
                if problem.startswith("network:"):
                    return "dead", None, problem
                return "dead", _status_of(problem), problem
            delay = wait if wait is not None else backoff(attempt, settings.backoff, settings.backoff_cap,
                                                          self.net.rand)
            log_retry(f"OCR-VQA image {key}", problem, delay, attempt, settings.ocr_retries, wait is not None)
            control.sleep(delay)

    def _get(self, pool: keepalive.KeepAlive, key: str, url: str, host: str, gate: HostGate) -> Result:
        # identity: keep the bytes exactly as served, and let Content-Length count them
        resp = pool.get(url, _HEADERS)
        finished = False
        try:
            status = resp.status
            answer = classify(status, resp.headers, cap=self.settings.backoff_cap * 10, now=self.net.wall)
            if answer.kind is Kind.RETRY:
                if answer.throttled:
                    gate.throttled()  # fewer connections to this host for a while ...
                    self.on_throttle(host)  # ... from the other process too
                raise RetryLater(f"HTTP {status}", answer.wait, throttled=answer.throttled)
            if status in _DEAD_STATUSES or status >= 400:
                return "dead", status, f"HTTP {status}"
            if status != 200:
                return "dead", status, f"unexpected HTTP {status}"
            tmp = f"{self.tmp_dir}{key}.{threading.get_ident()}.tmp"
            bound = _MAX_IMAGE if answer.length is None else min(_MAX_IMAGE, answer.length + MARGIN)
            # (a cancel shuts the connection: the worker's hook, KeepAlive.abort, see Crew)
            size, head, finished, body = self._receive(resp, tmp, bound)
        except BaseException:
            resp.close()
            raise
        finally:
            keepalive.done(resp, complete=finished)
        if size > bound:  # runs on: nothing past the bound was written
            return "dead", 200, f"body-too-long (over {bound:,} bytes)"
        try:
            verdict = _judge(resp, size, head)
        except httperrors.RequestException:
            if body is None:
                _discard(tmp)
            raise
        if verdict is not None:  # not kept (a body that went to disk is removed)
            if body is None:
                _discard(tmp)
            return verdict
        if body is not None:  # the usual small image: written now, in one go
            _write_new(tmp, body)
        os.replace(tmp, f"{self.target_dir}{key}.jpg")
        return "saved", 200, sniff(head) or "unknown"

    def _receive(self, resp: keepalive.Response, tmp: str, bound: int) -> tuple[int, bytes, bool, bytes | None]:
        """Read one image: (size, its first 16 bytes, whether the body was read to its end, the body
        when it is held in memory — None when it went to ``tmp``).

        Small bodies are gathered in memory (the caller writes them once it knows they are worth
        keeping: a placeholder or an error page costs no file). A body that turns out large goes to
        ``tmp`` as it comes. A body that runs past ``bound`` is cut there (size > bound, nothing kept).
        """
        limiter = self.net.limiter_for(self.settings.limit_rate)
        size, head = 0, b""
        parts: list[bytes] = []
        out: IO[bytes] | None = None
        length = resp.headers.get("Content-Length", "")
        if limiter.rate is None and length.isdigit() and int(length) <= min(_SPILL, bound):
            chunks: Iterator[bytes] = iter((keepalive.read(resp, bound + 1),))  # the usual image: one read
        else:
            chunks = keepalive.stream(resp, limiter.chunk_size(_CHUNK))
        try:
            for chunk in chunks:
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                size += len(chunk)
                if size > bound:
                    keepalive.abandon(resp)
                    if out is not None:
                        out.close()
                        out = None
                        _discard(tmp)
                    return size, head, False, None
                if out is not None:
                    out.write(chunk)
                else:
                    parts.append(chunk)
                    if size > _SPILL:
                        out = open_private_file(tmp, "wb")
                        out.writelines(parts)
                        parts = []
                limiter.consume(len(chunk), self.control.sleep)
        finally:
            if out is not None:
                out.close()
        if out is not None or size > _SPILL:
            return size, head, True, None
        return size, head, True, parts[0] if len(parts) == 1 else b"".join(parts)


class Crew:
    """Worker threads that fetch images with one :class:`Fetcher` until ``take`` has none left.

    Each worker keeps its own connections alive. Worker ``i`` works only while ``i < target``
    (:meth:`set_target`); the others wait (and leave once ``more()`` says no image is left to take).
    Each result goes to ``record``; the first error (a cancel, a full disk, a bug) goes to ``fail``
    and sets the fetcher's ``stop``. ``connections`` and ``answers`` (HTTP status -> count) add up
    what the workers' connections did, for the run log.
    """

    #: How often a worker above the target looks again without being woken (seconds).
    LOOK = 0.2

    def __init__(self, fetcher: Fetcher, take: Take, record: Record, more: Callable[[], bool],
                 fail: Callable[[BaseException], None], target: int = 1) -> None:
        self.fetcher = fetcher
        self.take = take
        self.record = record
        self.more = more
        self.fail = fail
        self.target = max(1, target)
        self.turn = threading.Condition()
        self.connections = 0
        self.answers: collections.Counter[int] = collections.Counter()

    def set_target(self, target: int) -> None:
        with self.turn:
            raised = target > self.target
            self.target = target
            if raised:
                self.turn.notify_all()

    def wake(self) -> None:
        """Let waiting workers look again (the batch stopped, or no image is left)."""
        with self.turn:
            self.turn.notify_all()

    def run(self, threads: int) -> None:
        """Work with up to ``threads`` workers; returns once every one of them has ended."""
        with ThreadPoolExecutor(max(1, threads), thread_name_prefix="ocr-vqa") as pool:
            for index in range(max(1, threads)):
                pool.submit(self._worker, index)

    def _my_turn(self, index: int) -> bool:
        """Wait while worker ``index`` is above the target; False once the batch stops."""
        stop = self.fetcher.stop
        with self.turn:  # a waiting worker also leaves once every image is taken (nothing left to do)
            while index >= self.target and not stop.is_set() and self.more():
                self.turn.wait(self.LOOK)
            return not stop.is_set()

    def _worker(self, index: int) -> None:
        settings = self.fetcher.settings
        pool = keepalive.KeepAlive(settings.connect_timeout, settings.read_timeout, tally=True)
        try:  # a cancel shuts the connection in use: a stalled image host does not hold the stop up
            with self.fetcher.control.on_cancel(pool.abort):
                while self._my_turn(index) and (item := self.take()) is not None:
                    key, url = item
                    status, http, detail = self.fetcher.one(pool, key, url)
                    self.record(key, status, http, detail)
            self.wake()  # none left: the workers waiting their turn leave now, not at their next look
        except BaseException as exc:  # Cancelled, a full disk, a bug: stop everyone
            self.fail(exc)
            self.fetcher.stop.set()
            self.wake()
        finally:
            pool.close()
            with self.turn:
                self.connections += pool.connections
                self.answers.update(pool.answers)


def _judge(resp: keepalive.Response, size: int, head: bytes) -> Result | None:
    """Why a complete body is not an image to keep (None: it is one). Raises for a short body."""
    length = resp.headers.get("Content-Length")
    encoded = resp.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
    if length is not None and length.isdigit() and int(length) != size and not encoded:
        raise httperrors.ChunkedEncodingError(f"got {size} of {length} bytes")
    if size < _PLACEHOLDER_BYTES or _one_pixel_gif(head):  # the host's "no such image" answer
        return "dead", None, PLACEHOLDER
    if sniff(head) is None:
        what = WEB_PAGE if looks_like_html(head) else ("empty" if not size else "not an image")
        return "dead", 200, what
    return None


def _write_new(path: str, data: bytes) -> None:
    """``data`` into the app's own file ``path`` with one open, write and close (created
    exclusively by :func:`~wizard.engine.safefs.open_private`; no fsync: the journal's batch commit
    is the durability point, and a file the journal does not know yet is found by ``_reconcile``)."""
    fd = open_private(path, truncate=True)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _discard(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _one_pixel_gif(head: bytes) -> bool:
    """A GIF whose logical screen is 1x1 pixels (little-endian width/height after the signature)."""
    return head[:6] in (b"GIF87a", b"GIF89a") and head[6:10] == b"\x01\x00\x01\x00"


def _status_of(problem: str) -> int | None:
    match = re.match(r"HTTP (\d+)", problem)
    return int(match.group(1)) if match else None
