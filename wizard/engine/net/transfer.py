"""Resumable HTTP(S) downloads with requests: the byte mover every source builds on.

A download writes ``<name>.part`` beside a ``<name>.part.json`` sidecar holding the URL and the
server's validators. A later attempt — in this process or after a crash or reboot — sends
``Range: bytes=N-`` with ``If-Range`` (:mod:`.policy` reads the answer: a 200 means the server
ignored the range or the file changed upstream, and the part is restarted, said in the log).
Sizes and sha256 are checked before the atomic ``os.replace`` to the final name; a checksum
mismatch moves the bytes to the quarantine folder (one copy per file) instead of deleting them.
No transfer accepts more than its bound (:mod:`.bounds`): a body that runs on is cut off and
reported as ``body-too-long``.

The receiving thread only writes; a :class:`~.durable.Flusher` starts write-back early and
syncs in the background, recording the synced size and the boot in the sidecar: after a power
loss (another boot) the part is cut back to what was synced; after a ``kill -9`` the part's size
is exact.

Large files go over several connections (:mod:`.segments`): when the first plain GET answers
200 with ``Accept-Ranges: bytes``, a ``Content-Length`` big enough and a strong ETag or a
Last-Modified, that response becomes the first segment's stream and other connections fetch the
other segments with ``Range: bytes=a-b`` + ``If-Range``; with the automatic count more
connections join while that makes the download faster. A 200 to a segment request means the
file changed (validators differ: start again) or the server does not really do ranges (same
validators: carry on as one stream from the contiguous prefix). 429/503 answers halve the
connections to that host for a while. Every read loop paces itself with the run's shared
:class:`~.ratelimit.RateLimiter` (``--limit-rate``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters

from ..context import JobContext
from ..errors import Code, SetupError
from ..events import Stage
from ..safefs import loads_json, open_private, open_private_file, read_state_text, write_text_atomic
from . import client
from .bounds import limit_for, quarantine, too_long
from .durable import WRITE_GRANULARITY, Flusher, WrittenLog, boot_id, marker_for, settle_later, unsettled
from .policy import (
    Attempts,
    Kind,
    RetryLater,
    Stalled,
    accepts_ranges,
    as_retry,
    classify,
    if_range,
    is_retryable,
    peek_body,
    web_page,
    web_page_error,
)
from .segments import (
    MAX_CONNECTIONS,
    Segment,
    SegmentedDownload,
    SegmentJournal,
    connections_for,
    plan_segments,
    preallocate,
    splits,
)

log = logging.getLogger(__name__)

_MAX_SEGMENT_RESTARTS = 3  # then this transfer keeps to one connection


def download(ctx: JobContext, url: str, dest: Path, *, size: int | None = None,
             sha256: str | None = None, headers: dict[str, str] | None = None,
             approx: int | None = None) -> Path:
    """Bring ``url`` to ``dest`` completely and verified, resuming whatever is on disk.

    ``size`` is the exact size the catalog knows, ``approx`` its estimate (bounds the read when
    the server declares no size either).
    """
    return _Transfer(ctx, url, dest, size, sha256, headers or {}, approx).run()


def read_size(ctx: JobContext) -> int:
    """The read size of a transfer loop: the limiter's pacing size, at most one journal step."""
    return min(WRITE_GRANULARITY, ctx.limiter.chunk_size(ctx.settings.chunk_size))


class _Transfer:
    def __init__(self, ctx: JobContext, url: str, dest: Path, size: int | None, sha256: str | None,
                 headers: dict[str, str], approx: int | None) -> None:
        self.ctx = ctx
        self.url = url
        self.dest = dest
        self.part = dest.with_name(dest.name + ".part")
        self.meta_path = dest.with_name(dest.name + ".part.json")
        self.log_path = dest.with_name(dest.name + ".part.log")
        self.expected_size = size
        self.approx = approx
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
            return dict(loads_json(read_state_text(self.meta_path)))
        except (OSError, ValueError):
            return {}

    def _write_meta(self, etag: str | None, last_modified: str | None, total: int | None,
                    synced: int | None = None) -> None:
        meta: dict[str, Any] = {"url": self.url, "etag": etag, "last_modified": last_modified, "total": total}
        if synced is not None:
            meta["synced"], meta["boot"] = synced, boot_id()
        if not self.segmentable:
            meta["no_segments"] = True
        write_text_atomic(self.meta_path, json.dumps(meta))

    def _restart(self, why: str) -> None:
        self.ctx.log(f"{self.dest.name}: {why}; starting this file again from byte 0", "warning")
        with open_private_file(self.part, "wb"):
            pass
        self.log_path.unlink(missing_ok=True)
        self.hasher = hashlib.sha256() if self.sha256 else None
        self.hashed = 0

    def _part_size(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def _after_power_loss(self) -> None:
        """On another boot, keep only what the sidecar says was synced (the rest may be lost)."""
        meta = self._meta()
        synced = meta.get("synced")
        if "segments" in meta or not isinstance(synced, int) or meta.get("boot") == boot_id():
            return
        if self._part_size() > synced:
            self.ctx.log(f"{self.dest.name}: the machine restarted since the last run; keeping the "
                         f"{synced:,} bytes known to be on disk")
            os.truncate(self.part, synced)

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
        if self.dest.exists() and unsettled(self.dest):
            ctx.log(f"{self.dest.name}: the machine restarted before it was synced to disk; downloading it "
                    "again", "warning")
            self.dest.unlink()
            marker_for(self.dest).unlink(missing_ok=True)
        if self.dest.exists() and self.expected_size in (None, self.dest.stat().st_size):
            ctx.log(f"{self.dest.name} is already downloaded and verified")
            return self.dest
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        if self._part_size() and not self._meta():
            self._restart("no record of where the partial file came from")
        self._after_power_loss()
        ctx.stage(Stage.DOWNLOADING, self.dest.name)
        st = ctx.settings
        attempts = Attempts(self.dest.name, st.retries, st.backoff, st.backoff_cap, rand=ctx.net.rand)
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
                continue
            except RetryLater as exc:
                problem: BaseException = exc
            except requests.RequestException as exc:
                if not is_retryable(exc):
                    raise
                problem = exc
            except Stalled as exc:
                problem = exc
            ctx.control.checkpoint()  # a cancel that cut the connection is not a failure to retry
            delay = attempts.failed(problem, progressed=self._part_size() > before)
            ctx.log(f"{self.dest.name}: {as_retry(problem)}; {attempts.note(delay)}", "warning")
            ctx.control.sleep(delay)
        return self._finish()

    def _request(self, headers: dict[str, str]) -> requests.Response:
        timeout = (self.ctx.settings.connect_timeout, self.ctx.settings.read_timeout)
        return client.get(self.ctx.session, self.url, headers=headers, timeout=timeout)

    def _attempt(self) -> bool:
        """One request. True when the part is complete; raises RetryLater for retryable answers."""
        ctx = self.ctx
        offset = self._part_size()
        meta = self._meta()
        headers = {"Accept-Encoding": "identity", **self.headers}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            validator = if_range(meta.get("etag"), meta.get("last_modified"))
            if validator:
                headers["If-Range"] = validator
        with self._request(headers) as resp:
            known = meta.get("total")  # the size the first answer gave: another one means another file
            answer = classify(resp.status_code, resp.headers, offset, etag=meta.get("etag"),
                              last_modified=meta.get("last_modified"),
                              total=known if isinstance(known, int) and offset else None,
                              cap=ctx.settings.backoff_cap * 10, now=ctx.net.wall)
            answer.raise_for(self.url, self.dest.name, peek_body(resp))
            if answer.kind is Kind.COMPLETE:
                self.total = offset
                return True
            if answer.body and web_page(resp.headers, self.dest.name):  # before the part is touched
                raise web_page_error(self.url, self.dest.name)
            if answer.kind is Kind.RESTART:
                self._restart(answer.reason)
                if not answer.body:
                    return False
            total = answer.total
            if answer.kind is not Kind.RESUMED:
                offset = 0
                self.hasher = hashlib.sha256() if self.sha256 else None
                self.hashed = 0
            self._check_declared(total)
            self.total = total
            if answer.kind is Kind.FRESH and (journal := self._segment_plan(resp, total)) is not None:
                return self._start_segments(journal, resp)
            self._write_meta(answer.etag, answer.last_modified, total, synced=offset)
            self._hash_existing(offset)
            self._receive(resp, offset, answer.etag, answer.last_modified)
        done = self._part_size()
        if self.total is not None and done < self.total:
            raise RetryLater(f"connection ended at {done:,} of {self.total:,} bytes")
        return True

    def _check_declared(self, total: int | None) -> None:
        """A declared size beyond the catalog's (plus the margin) is refused before any byte."""
        if total is None or self.expected_size is None or total == self.expected_size:
            return
        if total > limit_for(self.ctx, size=self.expected_size):
            raise too_long(self.dest.name, limit_for(self.ctx, size=self.expected_size), declared=total,
                           expected=self.expected_size)
        self.ctx.log(f"{self.dest.name}: the catalog says {self.expected_size:,} bytes, the server "
                     f"{total:,}; using the server's size", "warning")

    def _limit(self) -> int:
        return limit_for(self.ctx, size=self.expected_size, declared=self.total, approx=self.approx)

    def _receive(self, resp: requests.Response, offset: int, etag: str | None, modified: str | None) -> None:
        ctx = self.ctx
        done = offset
        last_report = 0.0
        limit = self._limit()
        total = self.total
        fd = open_private(self.part)  # never through a link or a FIFO planted at the name
        flusher = Flusher(fd, lambda: done, lambda synced: self._write_meta(etag, modified, total, synced))
        try:
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
            flusher.start()

            def sink(chunk: bytes) -> bool:
                nonlocal done, last_report
                if done + len(chunk) > limit:
                    raise _TooLong()
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                if self.hasher is not None:
                    self.hasher.update(chunk)
                    self.hashed += len(chunk)
                done += len(chunk)
                flusher.wrote(len(chunk))
                now = time.monotonic()
                if now - last_report >= 0.1:
                    last_report = now
                    ctx.progress(done, self.total)
                return True

            ended = False
            try:
                pump(ctx, resp, sink)
                ended = True
            except _TooLong:
                flusher.close(final_sync=False)
                os.close(fd)
                fd = -1
                self._cut_off(done, limit)
            finally:
                if fd >= 0:  # a body that ended is synced in the background after the rename
                    flusher.close(final_sync=not ended or (total is not None and done < total))
        finally:
            if fd >= 0:
                os.close(fd)
        ctx.progress(done, self.total)

    def _cut_off(self, done: int, limit: int) -> None:
        """The body runs past its bound: keep one bad copy (nothing beyond the bound), then stop."""
        self.meta_path.unlink(missing_ok=True)
        self.log_path.unlink(missing_ok=True)
        kept = quarantine(self.ctx, self.part, "too-long")
        log.warning("%s: body cut off at %d bytes (bound %d); kept at %s", self.dest.name, done, limit, kept)
        raise too_long(self.dest.name, limit)

    # -- segmented transfers -------------------------------------------------------------------
    def _segment_plan(self, resp: requests.Response, total: int | None) -> SegmentJournal | None:
        """A fresh segment journal when this 200 answer allows (and the size calls for) segments."""
        settings = self.ctx.settings
        if not self.segmentable or total is None:
            return None
        etag, modified = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
        if not accepts_ranges(resp.headers) or if_range(etag, modified) is None:
            return None
        if resp.headers.get("Content-Encoding", "identity").lower() != "identity":
            return None
        if not splits(total, settings.segments, settings.min_segment_size):
            return None
        connections = connections_for(total, settings.segments, settings.min_segment_size)
        plan = plan_segments(total, settings.segments and connections, settings.min_segment_size)
        return SegmentJournal(self.url, etag, modified, total, plan)

    def _start_segments(self, journal: SegmentJournal, first: requests.Response) -> bool:
        # No sidecar while the part is being laid out: a crash in between leaves a part without a
        # record, which is started again, never a full-size part that an old sidecar would accept.
        self.meta_path.unlink(missing_ok=True)
        self.log_path.unlink(missing_ok=True)
        preallocate(self.part, journal.total)
        journal.save(self.meta_path)
        connections = connections_for(journal.total, self.ctx.settings.segments,
                                      self.ctx.settings.min_segment_size)
        if self.ctx.settings.segments:
            how = f"over {connections} connections"
        else:
            how = f"starting with {connections} connection(s), more while that is faster,"
        self.ctx.log(f"{self.dest.name}: {journal.total:,} bytes {how} in {len(journal.segments)} segments")
        return self._run_segments(journal, first)

    def _resume_segments(self) -> bool:
        journal = SegmentJournal.from_json(self._meta())
        if journal is None or self._part_size() != journal.total:
            self._reset_segments("the record of its segments does not match the partial file")
            return False
        synced = journal.done_bytes
        extra = journal.merge_log(WrittenLog.read(self.log_path))
        self.ctx.log(f"{self.dest.name}: resuming {len(journal.segments)} segments, "
                     f"{journal.done_bytes:,} of {journal.total:,} bytes already here"
                     + (f" ({synced:,} synced, {extra:,} more written before the stop)" if extra else ""))
        return self._run_segments(journal, None)

    def _run_segments(self, journal: SegmentJournal, first: requests.Response | None) -> bool:
        """Fetch the journal's segments. True when the part is complete; False when the transfer
        went back to one stream or starts again (the sidecar says which)."""
        settings = self.ctx.settings
        wanted = settings.segments
        connections = None if wanted is None else max(
            1, connections_for(journal.total, wanted, settings.min_segment_size))
        self.total = journal.total
        _enough_connections(self.ctx.session, self.url)
        download = SegmentedDownload(self.ctx, self.part, self.meta_path, journal,
                                     connections=connections, gate=self.ctx.net.gate(urlsplit(self.url).netloc),
                                     hasher=hashlib.sha256() if self.sha256 else None)
        validator = if_range(journal.etag, journal.last_modified)

        def fetch(seg: Segment, sink: SegmentedDownload) -> None:
            self._fetch_segment(seg, sink, journal, validator)

        def fetch_first(seg: Segment, sink: SegmentedDownload) -> None:
            assert first is not None
            try:
                pump_segment(self.ctx, first, seg, sink)
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
        if download.ramp is not None:
            self.ctx.log(f"{self.dest.name}: up to {download.peak} connection(s) used")
        self.log_path.unlink(missing_ok=True)
        self.hasher, self.hashed = download.hasher, download.hashed
        return True

    def _fetch_segment(self, seg: Segment, sink: SegmentedDownload, journal: SegmentJournal,
                       validator: str | None) -> None:
        """Bring one segment's missing bytes with a Range request (runs on a segment thread)."""
        ctx = self.ctx
        headers = {"Accept-Encoding": "identity", **self.headers, "Range": f"bytes={seg.done}-{seg.end - 1}"}
        if validator:
            headers["If-Range"] = validator
        try:
            with self._request(headers) as resp:
                answer = classify(resp.status_code, resp.headers, seg.done, etag=journal.etag,
                                  last_modified=journal.last_modified, total=journal.total,
                                  cap=ctx.settings.backoff_cap * 10, now=ctx.net.wall)
                answer.raise_for(self.url, self.dest.name, peek_body(resp))
                if answer.kind is not Kind.RESUMED and answer.body and web_page(resp.headers, self.dest.name):
                    raise web_page_error(self.url, self.dest.name)  # not a reason to drop the segments
                if answer.kind is Kind.COMPLETE or (answer.kind is Kind.RESTART and not answer.body):
                    raise _Abandon(answer.reason or "the server sent a different range than asked", restart=True)
                if answer.kind is not Kind.RESUMED:  # a 200: the whole file
                    changed = "changed upstream" in answer.reason
                    raise _Abandon(answer.reason, restart=changed)
                pump_segment(ctx, resp, seg, sink)
        except requests.RequestException as exc:
            if not is_retryable(exc):
                raise
            raise as_retry(exc) from exc

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
        self.log_path.unlink(missing_ok=True)
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
                kept = quarantine(ctx, self.part, "bad")
                self.meta_path.unlink(missing_ok=True)
                self.log_path.unlink(missing_ok=True)
                raise SetupError(
                    Code.CHECKSUM_MISMATCH,
                    f"{self.dest.name} does not match its sha256 (expected {self.sha256[:12]}…, "
                    f"got {digest[:12]}…).",
                    f"The bytes were kept at {kept}. The server or a mirror sent other data; the next "
                    "run downloads it again, or choose another source.",
                )
        settle_later(self.part, self.dest)  # the last sync runs in the background
        self.meta_path.unlink(missing_ok=True)
        self.log_path.unlink(missing_ok=True)
        return self.dest


def _enough_connections(session: requests.Session, url: str) -> None:
    """Let the session keep a connection per segment worker alive (requests keeps 10 per host)."""
    adapter = session.get_adapter(url)
    if isinstance(adapter, requests.adapters.HTTPAdapter) and getattr(adapter, "_pool_maxsize", 0) < MAX_CONNECTIONS:
        parts = urlsplit(url)
        session.mount(f"{parts.scheme}://{parts.netloc}", client.tracked_adapter(pool_maxsize=MAX_CONNECTIONS))


def pump(ctx: JobContext, resp: requests.Response, sink: Callable[[bytes], bool]) -> None:
    """Read ``resp``'s body into ``sink`` until it ends or ``sink`` returns False.

    Every read loop goes through here: cancel/pause checkpoints, the run's bandwidth limit and
    stall detection (time spent waiting on the limiter does not count as stalling). Reads are at
    most 256 KiB, the journal's granularity.
    """
    settings = ctx.settings
    limiter = ctx.limiter
    window_start = time.monotonic()
    window_bytes = 0
    with ctx.control.on_cancel(lambda: client.abort_response(resp)):  # a stalled read ends at once on cancel
        for chunk in resp.iter_content(chunk_size=read_size(ctx)):
            ctx.control.checkpoint()
            if not chunk:
                continue
            more = sink(chunk)
            window_start += limiter.consume(len(chunk), ctx.control.sleep)
            window_bytes += len(chunk)
            now = time.monotonic()
            if now - window_start >= settings.stall_seconds:
                if window_bytes < settings.stall_bytes:
                    raise Stalled(f"under {settings.stall_bytes} bytes in {settings.stall_seconds:.0f} s")
                window_start, window_bytes = now, 0
            if not more:
                return


def pump_segment(ctx: JobContext, resp: requests.Response, seg: Segment, sink: SegmentedDownload) -> None:
    try:
        pump(ctx, resp, lambda chunk: sink.write(seg, chunk))
    except (requests.RequestException, Stalled) as exc:
        if not is_retryable(exc):
            raise
        raise as_retry(exc) from exc


class _TooLong(Exception):
    """The next chunk would take the file past its bound."""


class _Abandon(Exception):
    """Segments cannot go on: start the file again (``restart``) or carry on as one stream."""

    def __init__(self, reason: str, *, restart: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.restart = restart
