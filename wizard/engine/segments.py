"""Segmented downloads: one file fetched over several connections at once, journaled for resume.

The protocol-free half of a parallel download (the HTTP half is in ``sources/http.py``):

* **Plan.** :func:`connections_for` picks how many connections a file gets (1 below 64 MiB,
  2 to 8 above, by size, unless ``Settings.segments`` says otherwise) and :func:`plan_segments`
  cuts the file into about eight segments per connection, none under ``min_segment_size``.
* **Part file.** ``<name>.part`` is preallocated to the full size (:func:`preallocate`) and every
  segment writes its bytes at its own offset with ``os.pwrite``.
* **Journal.** The ``<name>.part.json`` sidecar (:class:`SegmentJournal`) holds the URL, the
  validators, the total and every segment as ``[start, end, done]`` (``end`` exclusive; bytes
  ``[start, done)`` are on disk). A journal thread rewrites it atomically about once a second
  and at every stop, always *after* the bytes it counts were written and ``fdatasync``-ed, so
  after a ``kill -9`` (or a power loss) each segment resumes from its recorded ``done``; at most
  one flush interval's bytes are fetched again.
* **Scheduling.** :class:`SegmentedDownload` runs N worker threads; each takes a slot from the
  host's :class:`~wizard.engine.ratelimit.HostGate`, claims the lowest unfinished segment and
  calls the protocol's fetch function for it. Lowest-first keeps the finished part of the file
  contiguous, so the sha256 can follow the download (reading back what is already in the page
  cache) instead of re-reading the whole file at the end. A fetch raises :class:`RetryLater` for
  what deserves another try (``throttled=True`` on 429/503 also cuts the host's connection
  limit); any other exception stops all workers and is raised by :meth:`SegmentedDownload.run`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .context import JobContext
from .errors import Cancelled, Code, SetupError
from .ratelimit import HostGate
from .safefs import open_nofollow, open_private, write_text_atomic

MIB = 1 << 20
#: Below this size a file gets one connection unless ``Settings.segments`` asks for more.
AUTO_THRESHOLD = 64 * MIB
#: Auto mode adds a connection per this many bytes (2 at least, ``AUTO_MAX`` at most).
AUTO_BYTES_PER_CONNECTION = 128 * MIB
AUTO_MAX = 8
MAX_CONNECTIONS = 16
SEGMENTS_PER_CONNECTION = 8
ALIGN = 64 * 1024
FLUSH_SECONDS = 1.0  # journal rewrite interval
_PROGRESS_SECONDS = 0.1
_HASH_SLICE = 8 * MIB
_POSITIONAL_IO = hasattr(os, "pwrite") and hasattr(os, "pread")
_HASH_BUDGET_SECONDS = 0.2  # hashing per coordinator tick, so progress and flushes keep flowing


def connections_for(total: int, wanted: int | None, min_segment_size: int) -> int:
    """How many connections a file of ``total`` bytes gets (1 = a single stream).

    Always 1 where ``os.pwrite`` is missing (Windows): segments need positional writes.
    """
    if not _POSITIONAL_IO:
        return 1
    if wanted is None:
        if total < AUTO_THRESHOLD:
            return 1
        wanted = min(AUTO_MAX, max(2, total // AUTO_BYTES_PER_CONNECTION))
    return max(1, min(wanted, MAX_CONNECTIONS, total // max(1, min_segment_size)))


@dataclass
class Segment:
    """Bytes ``[start, end)`` of the file; ``[start, done)`` are on disk."""

    start: int
    end: int
    done: int
    owner: int | None = None  # the worker fetching it now (not journaled)

    @property
    def complete(self) -> bool:
        return self.done >= self.end


def plan_segments(total: int, connections: int, min_segment_size: int) -> list[Segment]:
    """Cut ``total`` bytes into about ``SEGMENTS_PER_CONNECTION`` segments per connection."""
    size = max(min_segment_size, -(-total // max(1, connections * SEGMENTS_PER_CONNECTION)), 1)
    size = -(-size // ALIGN) * ALIGN
    return [Segment(start, min(start + size, total), start) for start in range(0, total, size)]


@dataclass
class SegmentJournal:
    """The sidecar of a segmented ``.part``: where it comes from and how far each segment got."""

    url: str
    etag: str | None
    last_modified: str | None
    total: int
    segments: list[Segment]

    def to_json(self, done: list[int] | None = None) -> dict[str, Any]:
        """The sidecar's content; ``done`` overrides the segments' offsets (a snapshot)."""
        offsets = done if done is not None else [s.done for s in self.segments]
        return {"url": self.url, "etag": self.etag, "last_modified": self.last_modified, "total": self.total,
                "segments": [[s.start, s.end, d] for s, d in zip(self.segments, offsets, strict=True)]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SegmentJournal | None:
        """The journal in ``data``, or None when it is not a consistent segment journal."""
        try:
            total = int(data["total"])
            segments = [Segment(int(a), int(b), int(c)) for a, b, c in data["segments"]]
        except (KeyError, TypeError, ValueError):
            return None
        at = 0
        for seg in segments:
            if seg.start != at or not seg.start <= seg.done <= seg.end or seg.end <= seg.start:
                return None
            at = seg.end
        if at != total or not segments:
            return None
        etag, modified = data.get("etag"), data.get("last_modified")
        return cls(str(data.get("url", "")), etag if isinstance(etag, str) else None,
                   modified if isinstance(modified, str) else None, total, segments)

    def save(self, path: Path, done: list[int] | None = None) -> None:
        """Rewrite the sidecar atomically."""
        write_text_atomic(path, json.dumps(self.to_json(done)))

    @property
    def done_bytes(self) -> int:
        return sum(s.done - s.start for s in self.segments)

    def prefix(self) -> int:
        """How many bytes from the start of the file are on disk without a gap."""
        at = 0
        for seg in self.segments:
            at = seg.done
            if not seg.complete:
                break
        return at


def preallocate(part: Path, total: int) -> None:
    """Create ``part`` at its full size (blocks reserved where the filesystem allows)."""
    fd = open_private(part, truncate=True)
    try:
        os.ftruncate(fd, total)
        if hasattr(os, "posix_fallocate") and total:
            try:
                os.posix_fallocate(fd, 0, total)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
                    raise SetupError(
                        Code.NO_SPACE,
                        f"Not enough free space for {part.name[:-5]} ({total:,} bytes).",
                        "Free some space and run again.", parked=True,
                    ) from exc
                # EOPNOTSUPP/EINVAL: a sparse file is fine.
    finally:
        os.close(fd)


def _datasync(fd: int) -> None:
    getattr(os, "fdatasync", os.fsync)(fd)


class RetryLater(Exception):
    """A fetch failed in a way worth another try, after ``wait`` seconds (None = back-off)."""

    def __init__(self, message: str, wait: float | None = None, *, throttled: bool = False) -> None:
        super().__init__(message)
        self.wait = wait
        self.throttled = throttled


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


class _Stopped(Exception):
    """Raised in a worker's write when the download is stopping."""


Fetch = Callable[[Segment, "SegmentedDownload"], None]


class SegmentedDownload:
    """Fetch every unfinished segment of a journaled ``.part`` over several connections.

    ``fetch(segment, self)`` brings bytes for one segment, handing each chunk to
    :meth:`write`, and returns when the segment is complete. ``run`` returns when all segments
    are complete (the part is synced to disk and the journal saved) and raises the first fatal error
    otherwise (the journal is saved either way). ``hasher``/``hashed`` follow the contiguous
    finished prefix while downloading.
    """

    def __init__(self, ctx: JobContext, part: Path, journal_path: Path, journal: SegmentJournal, *,
                 connections: int, gate: HostGate, hasher: Hasher | None = None) -> None:
        self.ctx = ctx
        self.part = part
        self.journal_path = journal_path
        self.journal = journal
        self.connections = max(1, min(connections, len(journal.segments)))
        self.gate = gate
        self.hasher = hasher
        self.hashed = 0
        self.name = part.name.removesuffix(".part")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._fd = -1

    # -- used by fetch functions -----------------------------------------------------------------
    def write(self, seg: Segment, data: bytes) -> bool:
        """Write a chunk at the segment's position; False once the segment is complete."""
        if self._stop.is_set():
            raise _Stopped()
        view = memoryview(data)[: seg.end - seg.done]
        while view:
            written = os.pwrite(self._fd, view, seg.done)
            seg.done += written  # after the write: the journal never counts unwritten bytes
            view = view[written:]
        return seg.done < seg.end

    # -- coordinator ---------------------------------------------------------------------------
    def run(self, fetch: Fetch, first: tuple[Segment, Fetch] | None = None) -> None:
        """Download until every segment is complete; ``first`` pre-assigns a segment to worker 0."""
        if first is not None:
            first[0].owner = 0
        self._fd = open_nofollow(self.part, os.O_RDWR)
        try:
            self._supervise(fetch, first)
        finally:
            os.close(self._fd)
            self._fd = -1

    def _supervise(self, fetch: Fetch, first: tuple[Segment, Fetch] | None) -> None:
        threads = [threading.Thread(target=self._worker, args=(n, fetch, first if n == 0 else None),
                                    name=f"sharegpt4v-segment-{n}", daemon=True)
                   for n in range(self.connections)]
        flushing = threading.Event()
        flusher = threading.Thread(target=self._flusher, args=(flushing,), name="sharegpt4v-segment-journal",
                                   daemon=True)
        last_progress = time.monotonic()
        try:
            flusher.start()
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(_PROGRESS_SECONDS)
                    if self.ctx.control.cancelled:
                        self._stop.set()
                    now = time.monotonic()
                    if now - last_progress >= _PROGRESS_SECONDS:
                        last_progress = now
                        self.ctx.progress(self.journal.done_bytes, self.journal.total)
                    self._follow_hash(_HASH_BUDGET_SECONDS)
        finally:
            self._stop.set()
            for thread in threads:
                thread.join()
            flushing.set()
            flusher.join()
            for seg in self.journal.segments:
                seg.owner = None
            self._flush()
            self.ctx.progress(self.journal.done_bytes, self.journal.total)
        if self._error is not None:
            raise self._error
        if not all(s.complete for s in self.journal.segments):
            if self.ctx.control.cancelled:
                raise Cancelled()
            raise SetupError(Code.INTERNAL, f"{self.name}: segments were left unfinished.",  # pragma: no cover
                             "This is a bug; run again to resume.")

    def _flusher(self, stop: threading.Event) -> None:
        """Journal the segments every FLUSH_SECONDS until ``stop``."""
        try:
            while not stop.wait(FLUSH_SECONDS):
                self._flush()
        except Exception as exc:  # e.g. the disk is full: stop the download, keep what is there
            self._fail(exc)

    def _flush(self) -> None:
        """Sync the part, then journal the offsets counted *before* the sync: all of them are on
        disk, even after a power loss. (Syncing every second also keeps the kernel writing back
        steadily instead of in one long burst at the end.)"""
        done = [seg.done for seg in self.journal.segments]
        with contextlib.suppress(OSError):
            _datasync(self._fd)
        self.journal.save(self.journal_path, done)

    def _follow_hash(self, budget: float | None) -> None:
        """Feed the hasher the finished prefix not hashed yet (for at most ``budget`` seconds)."""
        if self.hasher is None:
            return
        upto = self.journal.prefix()
        started = time.monotonic()
        while self.hashed < upto:
            block = os.pread(self._fd, min(_HASH_SLICE, upto - self.hashed), self.hashed)
            if not block:  # pragma: no cover - the part is preallocated
                break
            self.hasher.update(block)
            self.hashed += len(block)
            if budget is not None and time.monotonic() - started >= budget:
                break

    # -- workers -------------------------------------------------------------------------------
    def _claim(self, worker: int) -> Segment | None:
        with self._lock:
            for seg in self.journal.segments:
                if seg.owner is None and not seg.complete:
                    seg.owner = worker
                    return seg
        return None

    def _unclaim(self, seg: Segment) -> None:
        with self._lock:
            seg.owner = None

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._error is None and not isinstance(exc, _Stopped):
                self._error = exc
        self._stop.set()

    def _worker(self, index: int, fetch: Fetch, first: tuple[Segment, Fetch] | None) -> None:
        settings = self.ctx.settings
        failures = 0
        try:
            while not self._stop.is_set():
                if first is not None:
                    seg, call = first
                    first = None
                    self.gate.enter()
                else:
                    if not self.gate.acquire(self._stop):
                        return
                    claimed = self._claim(index)
                    if claimed is None:
                        self.gate.release()
                        return
                    seg, call = claimed, fetch
                before = seg.done
                retry: RetryLater | None = None
                try:
                    call(seg, self)
                    if not seg.complete:
                        retry = RetryLater(f"connection ended at byte {seg.done:,} of segment "
                                           f"{seg.start:,}-{seg.end - 1:,}")
                except RetryLater as exc:
                    retry = exc
                    if exc.throttled:  # while this request still counts as one of the host's
                        limit = self.gate.throttled()
                        self.ctx.log(f"{self.name}: {exc}; at most {limit} connection(s) to this host "
                                     "for now, more again gradually", "warning")
                finally:
                    self._unclaim(seg)
                    self.gate.release()
                if retry is None:
                    failures = 0
                    continue
                if seg.done > before:
                    failures = 0  # the budget is for attempts that get nowhere
                failures += 1
                if failures > settings.retries:
                    raise SetupError(
                        Code.RETRIES_EXHAUSTED,
                        f"Gave up on {self.name} after {failures} failed attempts: {retry}",
                        "The bytes downloaded so far are kept; run again later to resume.",
                    )
                delay = retry.wait if retry.wait is not None else min(
                    settings.backoff * (2 ** (failures - 1)), settings.backoff_cap)
                self.ctx.log(f"{self.name}: {retry}; retrying this segment in {delay:.1f} s "
                             f"(attempt {failures}/{settings.retries})", "warning")
                if self._stop.wait(delay):
                    return
        except Exception as exc:  # Cancelled, _Stopped, SetupError, _Abandon-like protocol errors, bugs
            self._fail(exc)
