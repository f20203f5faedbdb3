"""Resumable HTTP(S) downloads with requests: the byte mover every other source builds on.

A download writes ``<name>.part`` beside a ``<name>.part.json`` sidecar holding the URL and the
server's validators. A later attempt — in this process or after a crash or reboot — sends
``Range: bytes=N-`` with ``If-Range``; a 200 answer means the server ignored the range or the
file changed upstream, and the part is restarted (said in the log). Sizes and sha256 are checked
before the atomic ``os.replace`` to the final name; a checksum mismatch moves the bytes to the
quarantine folder instead of deleting them.

Large files go over several connections (:mod:`wizard.engine.segments`): when the first plain
GET answers 200 with ``Accept-Ranges: bytes``, a ``Content-Length`` big enough for
``Settings.segments``/the size policy and a strong ETag or a Last-Modified, that response becomes
the first segment's stream and other connections fetch the other segments with
``Range: bytes=a-b`` + ``If-Range``. The sidecar then journals every segment. A 200 to a segment
request means the file changed (validators differ: start again) or the server does not really
do ranges (same validators: carry on as one stream from the contiguous prefix). 429/503 answers
halve the connections to that host for a while. Every read loop paces itself with the run's
shared :class:`~wizard.engine.ratelimit.RateLimiter` (``--limit-rate``).
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from ..catalog import Catalog, Component, Source
from ..context import JobContext
from ..errors import Code, SetupError
from ..events import Stage
from ..ratelimit import gate_for
from ..segments import (
    RetryLater,
    Segment,
    SegmentedDownload,
    SegmentJournal,
    connections_for,
    plan_segments,
    preallocate,
)
from .registry import SourceKind

_RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
_THROTTLE_STATUSES = {429, 503}  # "too many connections": fewer segments for that host
_MAX_SEGMENT_RESTARTS = 3  # then this transfer keeps to one connection
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_UNSATISFIABLE = re.compile(r"bytes \*/(\d+)")


class HttpStatusError(SetupError):
    """A final (non-retryable) HTTP status; sources map some of them to their own codes."""

    def __init__(self, status: int, url: str, name: str) -> None:
        super().__init__(
            Code.HTTP_STATUS,
            f"The server answered {status} for {name}.",
            _status_hint(status),
        )
        self.status = status
        self.url = url


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return "Access was refused: the link may have expired or need a token; get a fresh link."
    if status == 404:
        return "The file is not there any more: point the catalog at a mirror (--catalog)."
    return "Try again later; the run can be resumed at any time."


def fetch(ctx: JobContext, component: Component, source: Source, catalog: Catalog) -> Iterator[Path]:
    """Source module entry point for ``kind = "http"``: one URL, one file."""
    name = source.file_name
    if ctx.item_done(name):
        return
    yield download(ctx, source.url, ctx.downloads / name, size=source.size, sha256=source.sha256)


def download(ctx: JobContext, url: str, dest: Path, *, size: int | None = None,
             sha256: str | None = None, headers: dict[str, str] | None = None) -> Path:
    """Bring ``url`` to ``dest`` completely and verified, resuming whatever is on disk."""
    return _Transfer(ctx, url, dest, size, sha256, headers or {}).run()


class _Transfer:
    def __init__(self, ctx: JobContext, url: str, dest: Path, size: int | None, sha256: str | None,
                 headers: dict[str, str]) -> None:
        self.ctx = ctx
        self.url = url
        self.dest = dest
        self.part = dest.with_name(dest.name + ".part")
        self.meta_path = dest.with_name(dest.name + ".part.json")
        self.expected_size = size
        self.sha256 = sha256.lower() if sha256 else None
        self.headers = headers
        self.total: int | None = size
        self.hasher: Any = None
        self.hashed = 0  # bytes of the part already fed to the hasher
        self.segmentable = not self._meta().get("no_segments", False)
        self.segment_restarts = 0

    # -- bookkeeping ---------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.meta_path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return {}

    def _save_meta(self, response: requests.Response, total: int | None) -> None:
        self._write_meta(response.headers.get("ETag"), response.headers.get("Last-Modified"), total)

    def _write_meta(self, etag: str | None, last_modified: str | None, total: int | None) -> None:
        meta: dict[str, Any] = {"url": self.url, "etag": etag, "last_modified": last_modified, "total": total}
        if not self.segmentable:
            meta["no_segments"] = True
        tmp = self.meta_path.with_name(self.meta_path.name + ".tmp")
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, self.meta_path)

    def _restart(self, why: str) -> None:
        self.ctx.log(f"{self.dest.name}: {why}; starting this file again from byte 0", "warning")
        with open(self.part, "wb"):
            pass
        self.hasher = hashlib.sha256() if self.sha256 else None
        self.hashed = 0

    def _part_size(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def _hash_existing(self, upto: int, then: Stage | None = Stage.DOWNLOADING) -> None:
        """Feed the bytes already on disk to the hasher (after a restart or a segmented download)."""
        if not self.sha256 or self.hashed >= upto:
            return
        if self.hasher is None:
            self.hasher = hashlib.sha256()
        self.ctx.stage(Stage.VERIFYING, "checking the bytes already downloaded")
        with open(self.part, "rb") as fh:
            fh.seek(self.hashed)
            while self.hashed < upto:
                self.ctx.control.checkpoint()
                block = fh.read(min(self.ctx.settings.chunk_size * 4, upto - self.hashed))
                if not block:
                    break
                self.hasher.update(block)
                self.hashed += len(block)
                self.ctx.progress(self.hashed, upto)
        if then is not None:
            self.ctx.stage(then)

    # -- main loop -----------------------------------------------------------------------------
    def run(self) -> Path:
        ctx = self.ctx
        if self.dest.exists() and self.expected_size in (None, self.dest.stat().st_size):
            ctx.log(f"{self.dest.name} is already downloaded and verified")
            return self.dest
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        if self._part_size() and not self._meta():
            self._restart("no record of where the partial file came from")
        ctx.stage(Stage.DOWNLOADING, self.dest.name)
        failures = 0
        last_problem = ""
        while True:
            ctx.control.checkpoint()
            if "segments" in self._meta():
                if self._resume_segments():
                    break
                continue
            before = self._part_size()
            try:
                if self._attempt():
                    break
                failures = 0
                continue
            except _Retry as exc:
                last_problem = str(exc)
                wait = exc.wait
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    _Stalled) as exc:
                last_problem = _describe(exc)
                wait = None
            ctx.control.checkpoint()  # a cancel that cut the connection is not a failure to retry
            if self._part_size() > before:
                failures = 0  # progress was made: the budget is for attempts that get nowhere
            failures += 1
            if failures > ctx.settings.retries:
                raise SetupError(
                    Code.RETRIES_EXHAUSTED,
                    f"Gave up on {self.dest.name} after {failures} failed attempts: {last_problem}",
                    "The bytes downloaded so far are kept; run again later to resume.",
                )
            delay = wait if wait is not None else min(
                ctx.settings.backoff * (2 ** (failures - 1)), ctx.settings.backoff_cap)
            ctx.log(f"{self.dest.name}: {last_problem}; retrying in {delay:.1f} s "
                    f"(attempt {failures}/{ctx.settings.retries})", "warning")
            ctx.control.sleep(delay)
        return self._finish()

    def _attempt(self) -> bool:
        """One request. True when the part is complete; raises _Retry for retryable answers."""
        ctx = self.ctx
        offset = self._part_size()
        meta = self._meta()
        headers = {"Accept-Encoding": "identity", **self.headers}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            validator = _validator(meta.get("etag"), meta.get("last_modified"))
            if validator:
                headers["If-Range"] = validator
        timeout = (ctx.settings.connect_timeout, ctx.settings.read_timeout)
        fresh = not offset
        with ctx.session.get(self.url, headers=headers, stream=True, timeout=timeout) as resp:
            status = resp.status_code
            if status in _RETRY_STATUSES:
                raise _Retry(f"server answered {status}", _retry_after(resp, ctx.settings.backoff_cap * 10))
            if status == 416 and offset:
                match = _UNSATISFIABLE.match(resp.headers.get("Content-Range", ""))
                if match and int(match.group(1)) == offset:
                    self.total = offset
                    return True
                self._restart("the server no longer has the range we were resuming from")
                return False
            if status >= 400:
                raise HttpStatusError(status, self.url, self.dest.name)
            if status == 206:
                match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != offset:
                    self._restart("the server sent a different range than asked")
                    return False
                total = None if match.group(3) == "*" else int(match.group(3))
                mode = "ab"
            else:  # 200: full body
                if offset:
                    old = meta.get("etag") or meta.get("last_modified")
                    new = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
                    why = ("the file changed upstream (validator " f"{old} -> {new})"
                           if old and new and old != new else "the server ignored the Range request")
                    self._restart(why)
                length = resp.headers.get("Content-Length")
                total = int(length) if length is not None else None
                offset = 0
                mode = "wb"
                self.hasher = hashlib.sha256() if self.sha256 else None
                self.hashed = 0
            if total is not None and self.expected_size is not None and total != self.expected_size:
                ctx.log(f"{self.dest.name}: the catalog says {self.expected_size:,} bytes, the server "
                        f"{total:,}; using the server's size", "warning")
            self.total = total
            if fresh and status == 200 and (journal := self._segment_plan(resp, total)) is not None:
                return self._start_segments(journal, resp)
            self._save_meta(resp, total)
            self._hash_existing(offset)
            self._receive(resp, mode, offset)
        done = self._part_size()
        if self.total is not None and done < self.total:
            raise _Retry(f"connection ended at {done:,} of {self.total:,} bytes", None)
        return True

    def _receive(self, resp: requests.Response, mode: str, offset: int) -> None:
        ctx = self.ctx
        done = offset
        last_report = 0.0
        with open(self.part, mode) as out:

            def sink(chunk: bytes) -> bool:
                nonlocal done, last_report
                out.write(chunk)
                if self.hasher is not None:
                    self.hasher.update(chunk)
                    self.hashed += len(chunk)
                done += len(chunk)
                now = time.monotonic()
                if now - last_report >= 0.1:
                    last_report = now
                    ctx.progress(done, self.total)
                return True

            _pump(ctx, resp, sink)
            out.flush()
            with contextlib.suppress(OSError):
                os.fsync(out.fileno())
        ctx.progress(done, self.total)

    # -- segmented transfers -------------------------------------------------------------------
    def _segment_plan(self, resp: requests.Response, total: int | None) -> SegmentJournal | None:
        """A fresh segment journal when this 200 answer allows (and the size calls for) segments."""
        settings = self.ctx.settings
        if not self.segmentable or total is None:
            return None
        accept = [v.strip().lower() for v in resp.headers.get("Accept-Ranges", "").split(",")]
        etag, modified = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
        if "bytes" not in accept or _validator(etag, modified) is None:
            return None
        if resp.headers.get("Content-Encoding", "identity").lower() != "identity":
            return None
        connections = connections_for(total, settings.segments, settings.min_segment_size)
        if connections < 2:
            return None
        return SegmentJournal(self.url, etag, modified, total,
                              plan_segments(total, connections, settings.min_segment_size))

    def _start_segments(self, journal: SegmentJournal, first: requests.Response) -> bool:
        # No sidecar while the part is being laid out: a crash in between leaves a part without a
        # record, which is started again, never a full-size part that an old sidecar would accept.
        self.meta_path.unlink(missing_ok=True)
        preallocate(self.part, journal.total)
        journal.save(self.meta_path)
        connections = connections_for(journal.total, self.ctx.settings.segments,
                                      self.ctx.settings.min_segment_size)
        self.ctx.log(f"{self.dest.name}: {journal.total:,} bytes over {connections} connections "
                     f"in {len(journal.segments)} segments")
        return self._run_segments(journal, first)

    def _resume_segments(self) -> bool:
        journal = SegmentJournal.from_json(self._meta())
        if journal is None or self._part_size() != journal.total:
            self._reset_segments("the record of its segments does not match the partial file")
            return False
        self.ctx.log(f"{self.dest.name}: resuming {len(journal.segments)} segments, "
                     f"{journal.done_bytes:,} of {journal.total:,} bytes already here")
        return self._run_segments(journal, None)

    def _run_segments(self, journal: SegmentJournal, first: requests.Response | None) -> bool:
        """Fetch the journal's segments. True when the part is complete; False when the transfer
        went back to one stream or starts again (the sidecar says which)."""
        settings = self.ctx.settings
        connections = max(1, connections_for(journal.total, settings.segments, settings.min_segment_size))
        self.total = journal.total
        download = SegmentedDownload(self.ctx, self.part, self.meta_path, journal,
                                     connections=connections, gate=gate_for(urlsplit(self.url).netloc),
                                     hasher=hashlib.sha256() if self.sha256 else None)
        validator = _validator(journal.etag, journal.last_modified)

        def fetch(seg: Segment, sink: SegmentedDownload) -> None:
            self._fetch_segment(seg, sink, journal, validator)

        def fetch_first(seg: Segment, sink: SegmentedDownload) -> None:
            assert first is not None
            try:
                _pump_segment(self.ctx, first, seg, sink)
            finally:
                first.close()

        try:
            download.run(fetch, (journal.segments[0], fetch_first) if first is not None else None)
        except _Abandon as exc:
            self.segment_restarts += 1
            if self.segment_restarts >= _MAX_SEGMENT_RESTARTS:
                self.segmentable = False
            if exc.restart:
                self._reset_segments(exc.reason)
            else:
                self._to_single_stream(journal, download, exc.reason)
            return False
        self.hasher, self.hashed = download.hasher, download.hashed
        return True

    def _fetch_segment(self, seg: Segment, sink: SegmentedDownload, journal: SegmentJournal,
                       validator: str | None) -> None:
        """Bring one segment's missing bytes with a Range request (runs on a segment thread)."""
        ctx = self.ctx
        headers = {"Accept-Encoding": "identity", **self.headers, "Range": f"bytes={seg.done}-{seg.end - 1}"}
        if validator:
            headers["If-Range"] = validator
        timeout = (ctx.settings.connect_timeout, ctx.settings.read_timeout)
        try:
            with ctx.session.get(self.url, headers=headers, stream=True, timeout=timeout) as resp:
                status = resp.status_code
                if status in _RETRY_STATUSES:
                    raise RetryLater(f"server answered {status}", _retry_after(resp, ctx.settings.backoff_cap * 10),
                                     throttled=status in _THROTTLE_STATUSES)
                if status == 416:
                    raise _Abandon("the server no longer has the ranges we were fetching", restart=True)
                if status >= 400:
                    raise HttpStatusError(status, self.url, self.dest.name)
                if status == 200:
                    old = journal.etag or journal.last_modified
                    new = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
                    length = resp.headers.get("Content-Length")
                    if (old and new and old != new) or (length is not None and int(length) != journal.total):
                        raise _Abandon(f"the file changed upstream (validator {old} -> {new})", restart=True)
                    raise _Abandon("the server ignored the Range request", restart=False)
                match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                if status != 206 or not match or int(match.group(1)) != seg.done:
                    raise _Abandon("the server sent a different range than asked", restart=True)
                if match.group(3) != "*" and int(match.group(3)) != journal.total:
                    raise _Abandon(f"the file changed upstream (size {journal.total:,} -> "
                                   f"{int(match.group(3)):,})", restart=True)
                _pump_segment(ctx, resp, seg, sink)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                _Stalled) as exc:
            raise RetryLater(_describe(exc)) from exc

    def _reset_segments(self, why: str) -> None:
        self.meta_path.unlink(missing_ok=True)
        self._restart(why)

    def _to_single_stream(self, journal: SegmentJournal, download: SegmentedDownload, why: str) -> None:
        """Carry on with one connection from the contiguous prefix of the segmented part."""
        prefix = journal.prefix()
        self.ctx.log(f"{self.dest.name}: {why}; continuing with one connection from byte {prefix:,}",
                     "warning")
        self.segmentable = False
        os.truncate(self.part, prefix)
        self._write_meta(journal.etag, journal.last_modified, journal.total)
        self.hasher, self.hashed = download.hasher, download.hashed  # the hasher never passes the prefix

    def _finish(self) -> Path:
        ctx = self.ctx
        size = self._part_size()
        if self.expected_size is not None and size != self.expected_size and self.sha256 is None:
            ctx.log(f"{self.dest.name}: {size:,} bytes, the catalog expected {self.expected_size:,}",
                    "warning")
        if self.sha256:
            self._hash_existing(size, then=None)
            ctx.stage(Stage.VERIFYING, "sha256")
            digest = self.hasher.hexdigest() if self.hasher is not None else ""
            if digest != self.sha256:
                kept = ctx.quarantine / f"{self.dest.name}.{int(time.time())}.bad"
                os.replace(self.part, kept)
                self.meta_path.unlink(missing_ok=True)
                raise SetupError(
                    Code.CHECKSUM_MISMATCH,
                    f"{self.dest.name} does not match its sha256 (expected {self.sha256[:12]}…, "
                    f"got {digest[:12]}…).",
                    f"The bytes were kept at {kept}. The server or a mirror sent other data; the next "
                    "run downloads it again, or choose another source.",
                )
        os.replace(self.part, self.dest)
        self.meta_path.unlink(missing_ok=True)
        return self.dest


def _pump(ctx: JobContext, resp: requests.Response, sink: Callable[[bytes], bool]) -> None:
    """Read ``resp``'s body into ``sink`` until it ends or ``sink`` returns False.

    Every read loop goes through here: cancel/pause checkpoints, the run's bandwidth limit and
    stall detection (time spent waiting on the limiter does not count as stalling).
    """
    settings = ctx.settings
    limiter = ctx.limiter
    window_start = time.monotonic()
    window_bytes = 0
    with ctx.control.on_cancel(lambda: abort_response(resp)):  # a stalled read ends at once on cancel
        for chunk in resp.iter_content(chunk_size=limiter.chunk_size(settings.chunk_size)):
            ctx.control.checkpoint()
            if not chunk:
                continue
            more = sink(chunk)
            window_start += limiter.consume(len(chunk), ctx.control.sleep)
            window_bytes += len(chunk)
            now = time.monotonic()
            if now - window_start >= settings.stall_seconds:
                if window_bytes < settings.stall_bytes:
                    raise _Stalled(f"under {settings.stall_bytes} bytes in {settings.stall_seconds:.0f} s")
                window_start, window_bytes = now, 0
            if not more:
                return


def abort_response(resp: requests.Response) -> None:
    """Shut the connection under ``resp`` from another thread: a read blocked on it returns at once
    with a clean "connection ended" error. (Closing the socket or the response instead does not
    wake a blocked ``recv`` on Linux, and races with the reading thread.)"""
    raw = resp.raw
    conn = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _pump_segment(ctx: JobContext, resp: requests.Response, seg: Segment, sink: SegmentedDownload) -> None:
    try:
        _pump(ctx, resp, lambda chunk: sink.write(seg, chunk))
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
            _Stalled) as exc:
        raise RetryLater(_describe(exc)) from exc


class _Abandon(Exception):
    """Segments cannot go on: start the file again (``restart``) or carry on as one stream."""

    def __init__(self, reason: str, *, restart: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.restart = restart


class _Retry(Exception):
    def __init__(self, message: str, wait: float | None) -> None:
        super().__init__(message)
        self.wait = wait


class _Stalled(Exception):
    pass


def _strong(etag: str | None) -> bool:
    return bool(etag) and not str(etag).startswith("W/")


def _validator(etag: str | None, last_modified: str | None) -> str | None:
    """What to send in If-Range: a strong ETag, else the Last-Modified date, else nothing."""
    return etag if etag and _strong(etag) else last_modified or None


def _retry_after(resp: requests.Response, cap: float) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
        seconds = when - time.time()
    return max(0.0, min(seconds, cap))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, requests.Timeout):
        return "the server stopped answering (timeout)"
    if isinstance(exc, _Stalled):
        return f"the transfer stalled ({exc})"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection dropped mid-file"
    return f"connection problem ({type(exc).__name__})"


class HttpKind(SourceKind):
    """``kind = "http"``: one URL, one file; a zip on a server that honours Range is read remotely."""

    name = "http"

    def fetch(self, ctx: JobContext, component: Component, source: Source, catalog: Catalog, *,
              only: Collection[str] | None = None) -> Iterator[Path]:
        return fetch(ctx, component, source, catalog)

    def remote_file(self, ctx: JobContext, source: Source, catalog: Catalog) -> tuple[str, dict[str, str]] | None:
        return source.url, {}


KIND = HttpKind()
