"""Segmented downloads: one file fetched over several connections at once, journaled for resume.

The protocol-free half of a parallel download (the HTTP half is in :mod:`.transfer`):

* **Plan.** :func:`splits` says whether a file is split at all (from ``AUTO_THRESHOLD`` up, or
  when ``Settings.segments`` asks) and :func:`connections_for` how many connections it starts
  with (``AUTO_START``, or exactly ``Settings.segments``). :func:`plan_segments` cuts the
  file into pieces (about eight per connection for a fixed count; for the automatic count pieces
  of ``piece_size`` so that more connections can join), none under ``min_segment_size``.
* **Connections.** With the automatic count a :class:`~.ramp.Ramp` adds connections while the
  total rate rises (up to ``MAX_CONNECTIONS``, never more than the host gate allows) and goes
  back when more is not faster: on a fast link without per-connection caps it stays at 1–2.
* **Part file.** ``<name>.part`` is preallocated to the full size (:func:`preallocate`) and every
  segment writes its bytes at its own offset with ``os.pwrite``.
* **Journal.** The ``<name>.part.json`` sidecar (:class:`SegmentJournal`) holds the URL, the
  validators, the total and every segment as ``[start, end, done]`` (``end`` exclusive; bytes
  ``[start, done)`` are on disk). The background :class:`~.durable.Flusher` rewrites it about
  once a second, always *after* the bytes it counts were ``fdatasync``-ed (a power loss keeps
  it honest), and the receiving threads never wait for the disk. Each write is also appended to
  ``<name>.part.log`` (:class:`~.durable.WrittenLog`), trusted on the same boot only: after a
  ``kill -9`` each segment resumes from its last chunk (at most 256 KiB per connection is fetched
  again).
* **Scheduling.** :class:`SegmentedDownload` runs worker threads; each takes a slot from the
  host's :class:`~.ratelimit.HostGate`, claims the lowest unfinished segment and
  calls the protocol's fetch function for it. Lowest-first keeps the finished part of the file
  contiguous, so the sha256 can follow the download (reading back what is already in the page
  cache) instead of re-reading the whole file at the end. A fetch raises
  :class:`~.policy.RetryLater` for what deserves another try (``throttled`` on 429/503 also cuts
  the host's connection limit); any other exception stops all workers and is raised by
  :meth:`SegmentedDownload.run`.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..context import JobContext
from ..errors import Cancelled, Code, SetupError
from ..safefs import open_nofollow, open_private, write_text_atomic
from .durable import WRITE_GRANULARITY, Flusher, WrittenLog, boot_id
from .policy import Attempts, RetryLater
from .ramp import Ramp
from .ratelimit import HostGate

log = logging.getLogger(__name__)

MIB = 1 << 20
#: Below this size a file gets one connection unless ``Settings.segments`` asks for more.
AUTO_THRESHOLD = 32 * MIB
#: How many connections the automatic count starts with (it grows while that is faster).
AUTO_START = 1
MAX_CONNECTIONS = 16
SEGMENTS_PER_CONNECTION = 8
#: The automatic plan's pieces: about this many per file, within [min_segment_size, MAX_PIECE].
AUTO_PIECES = 64
MAX_PIECE = 64 * MIB
ALIGN = 64 * 1024
_PROGRESS_SECONDS = 0.1
_HASH_SLICE = 8 * MIB
_POSITIONAL_IO = hasattr(os, "pwrite") and hasattr(os, "pread")
_HASH_BUDGET_SECONDS = 0.2  # hashing per coordinator tick, so progress and flushes keep flowing


def connections_for(total: int, wanted: int | None, min_segment_size: int) -> int:
    """How many connections a file of ``total`` bytes starts with (1 = a single stream).

    ``wanted`` None is the automatic count (it may grow during the download, see
    :class:`~.ramp.Ramp`). Always 1 where ``os.pwrite`` is missing (Windows): segments need
    positional writes.
    """
    if not _POSITIONAL_IO:
        return 1
    if wanted is None:
        if total < max(AUTO_THRESHOLD, 2 * min_segment_size):
            return 1
        wanted = AUTO_START
    return max(1, min(wanted, MAX_CONNECTIONS, total // max(1, min_segment_size)))


def splits(total: int, wanted: int | None, min_segment_size: int) -> bool:
    """Whether a file of ``total`` bytes is fetched in segments at all (else as one stream)."""
    if wanted is None:
        return _POSITIONAL_IO and total >= max(AUTO_THRESHOLD, 2 * min_segment_size)
    return connections_for(total, wanted, min_segment_size) >= 2


def piece_size(total: int, min_segment_size: int) -> int:
    """The automatic plan's piece size: about ``AUTO_PIECES`` pieces, never under the minimum."""
    return max(min_segment_size, min(MAX_PIECE, total // AUTO_PIECES))


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


def plan_segments(total: int, connections: int | None, min_segment_size: int) -> list[Segment]:
    """Cut ``total`` bytes into about ``SEGMENTS_PER_CONNECTION`` segments per connection
    (``connections`` None: the automatic plan's pieces of :func:`piece_size`)."""
    if connections is None:
        size = max(1, piece_size(total, min_segment_size))
    else:
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
                "segments": [[s.start, s.end, d] for s, d in zip(self.segments, offsets, strict=True)],
                "boot": boot_id()}

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

    def merge_log(self, written: dict[int, int]) -> int:
        """Take the furthest offsets a :class:`~.durable.WrittenLog` recorded (same boot only);
        returns how many bytes that added."""
        added = 0
        for seg in self.segments:
            done = min(seg.end, written.get(seg.start, seg.done))
            if done > seg.done:
                added += done - seg.done
                seg.done = done
        return added

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


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


class _Stopped(Exception):
    """Raised in a worker's write when the download is stopping."""


Fetch = Callable[[Segment, "SegmentedDownload"], None]


class SegmentedDownload:
    """Fetch every unfinished segment of a journaled ``.part`` over several connections.

    ``fetch(segment, self)`` brings bytes for one segment, handing each chunk to
    :meth:`write`, and returns when the segment is complete (or :meth:`write` said stop). ``run``
    returns when all segments are complete (the part is synced to disk and the journal saved)
    and raises the first fatal error otherwise (the journal is saved either way).
    ``hasher``/``hashed`` follow the contiguous finished prefix while downloading.
    ``connections`` None is the automatic count (``ramp``: a :class:`~.ramp.Ramp`, injectable).
    """

    def __init__(self, ctx: JobContext, part: Path, journal_path: Path, journal: SegmentJournal, *,
                 connections: int | None, gate: HostGate, hasher: Hasher | None = None,
                 ramp: Ramp | None = None) -> None:
        self.ctx = ctx
        self.part = part
        self.journal_path = journal_path
        self.journal = journal
        pieces = len(journal.segments)
        if connections is None:
            start = connections_for(journal.total, None, ctx.settings.min_segment_size)
            self.ramp: Ramp | None = ramp or Ramp(max(1, start), MAX_CONNECTIONS)
            connections = self.ramp.target
        else:
            self.ramp = None
        self.connections = max(1, min(connections, pieces))
        self.gate = gate
        self.hasher = hasher
        self.hashed = 0
        self.peak = self.connections
        self.name = part.name.removesuffix(".part")
        self.log_path = part.with_name(part.name + ".log")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._fd = -1
        self._written = WrittenLog(self.log_path)
        self._flusher: Flusher | None = None
        self._threads: list[threading.Thread] = []

    # -- used by fetch functions -----------------------------------------------------------------
    def write(self, seg: Segment, data: bytes) -> bool:
        """Write a chunk at the segment's position; False once the segment is complete or its
        worker should stop (fewer connections wanted)."""
        if self._stop.is_set():
            raise _Stopped()
        view = memoryview(data)[: seg.end - seg.done]
        while view:
            written = os.pwrite(self._fd, view[:WRITE_GRANULARITY], seg.done)
            seg.done += written  # after the write: the journal never counts unwritten bytes
            view = view[written:]
            self._written.record(seg.start, seg.done)
            if self._flusher is not None:
                self._flusher.wrote(written)
        return seg.done < seg.end and (seg.owner is None or seg.owner < self.connections)

    # -- coordinator ---------------------------------------------------------------------------
    def run(self, fetch: Fetch, first: tuple[Segment, Fetch] | None = None) -> None:
        """Download until every segment is complete; ``first`` pre-assigns a segment to worker 0."""
        if first is not None:
            first[0].owner = 0
        self._fd = open_nofollow(self.part, os.O_RDWR)
        try:
            self._written.open()
            self._flusher = Flusher(self._fd, self._snapshot, self._durable).start()
            self._supervise(fetch, first)
        finally:
            self._written.close()
            os.close(self._fd)
            self._fd = -1

    def _snapshot(self) -> list[int]:
        return [seg.done for seg in self.journal.segments]

    def _durable(self, done: list[int]) -> None:
        self.journal.save(self.journal_path, done)

    def _start_worker(self, index: int, fetch: Fetch, first: tuple[Segment, Fetch] | None) -> None:
        thread = threading.Thread(target=self._worker, args=(index, fetch, first),
                                  name=f"sharegpt4v-segment-{index}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _steer(self, fetch: Fetch) -> None:
        """Follow the ramp: start workers up to its target (within the gate's limit)."""
        if self.ramp is None:
            return
        gate_limit = self.gate.limit
        if gate_limit is not None:
            self.ramp.limit(gate_limit)
        target = self.ramp.update(self.journal.done_bytes)
        if target != self.connections:
            log.info("%s: %d connection(s) now (was %d)", self.name, target, self.connections)
            self.connections = target
            self.peak = max(self.peak, target)
        self._staff(fetch)

    def _staff(self, fetch: Fetch) -> bool:
        """Start a worker for each of the ``connections`` wanted that has none alive, while a
        segment waits for one; whether any did."""
        if not self._pending_work():
            return False
        started = False
        for index in range(self.connections):
            if index >= len(self._threads):
                self._start_worker(index, fetch, None)
            elif not self._threads[index].is_alive():
                self._threads[index] = threading.Thread(target=self._worker, args=(index, fetch, None),
                                                        name=f"sharegpt4v-segment-{index}", daemon=True)
                self._threads[index].start()
            else:
                continue
            started = True
        return started

    def _pending_work(self) -> bool:
        with self._lock:
            return any(s.owner is None and not s.complete for s in self.journal.segments)

    def _supervise(self, fetch: Fetch, first: tuple[Segment, Fetch] | None) -> None:
        last_progress = time.monotonic()
        assert self._flusher is not None
        try:
            for index in range(self.connections):
                self._start_worker(index, fetch, first if index == 0 else None)
            while True:
                alive = [t for t in self._threads if t.is_alive()]
                if not alive:
                    # A segment may be left: those above a lowered count leave theirs unfinished, and
                    # the others may have left already with nothing to claim. Workers within the count
                    # take it.
                    if self._stop.is_set() or self.ctx.control.cancelled or not self._staff(fetch):
                        break
                    continue
                alive[0].join(_PROGRESS_SECONDS)
                if self.ctx.control.cancelled:
                    self._stop.set()
                if self._flusher.error is not None:
                    self._fail(self._flusher.error)
                now = time.monotonic()
                if now - last_progress >= _PROGRESS_SECONDS:
                    last_progress = now
                    self.ctx.progress(self.journal.done_bytes, self.journal.total)
                if not self._stop.is_set():
                    self._steer(fetch)
                self._follow_hash(_HASH_BUDGET_SECONDS)
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join()
            for seg in self.journal.segments:
                seg.owner = None
            complete = all(s.complete for s in self.journal.segments)
            try:  # a complete part is synced in the background after its rename (durable.settle_later)
                self._flusher.close(final_sync=not complete)
            except OSError as exc:
                self._fail(exc)
            self.ctx.progress(self.journal.done_bytes, self.journal.total)
        if self._error is not None:
            raise self._error
        if not all(s.complete for s in self.journal.segments):
            if self.ctx.control.cancelled:
                raise Cancelled()
            raise SetupError(Code.INTERNAL, f"{self.name}: segments were left unfinished.",  # pragma: no cover
                             "This is a bug; run again to resume.")

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
        attempts = Attempts(f"{self.name} (a segment)", settings.retries, settings.backoff, settings.backoff_cap,
                            rand=self.ctx.net.rand)
        try:
            while not self._stop.is_set() and not self.ctx.control.cancelled:
                if first is not None:
                    seg, call = first
                    first = None
                    self.gate.enter()
                else:
                    if index >= self.connections:
                        return  # fewer connections wanted now
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
                    if not seg.complete and index < self.connections and not self._stop.is_set():
                        retry = RetryLater(f"connection ended at byte {seg.done:,} of segment "
                                           f"{seg.start:,}-{seg.end - 1:,}")
                except RetryLater as exc:
                    retry = exc
                    if exc.throttled:  # while this request still counts as one of the host's
                        limit = self.gate.throttled()
                        if self.ramp is not None and limit is not None:
                            self.ramp.limit(limit)
                        self.ctx.log(f"{self.name}: {exc}; at most {limit} connection(s) to this host "
                                     "for now, more again gradually", "warning")
                finally:
                    self._unclaim(seg)
                    self.gate.release()
                if retry is None:
                    continue
                if self.ctx.control.cancelled:  # the cancel cut the connection: no failure to retry
                    self._stop.set()
                    return
                delay = attempts.failed(retry, progressed=seg.done > before)
                self.ctx.log(f"{self.name}: {retry}; retrying this segment in {delay:.1f} s "
                             f"(attempt {attempts.failures}/{settings.retries})", "warning")
                if self._stop.wait(delay):
                    return
        except Exception as exc:  # Cancelled, _Stopped, SetupError, _Abandon-like protocol errors, bugs
            self._fail(exc)
