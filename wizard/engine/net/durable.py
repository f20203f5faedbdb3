"""Durable writes that never stall the download: a background flusher and a fine-grained log.

Receiving threads only *write* (``os.write``/``os.pwrite`` into the page cache). A
:class:`Flusher` thread per open ``.part`` starts the kernel's write-back early
(``sync_file_range(..., SYNC_FILE_RANGE_WRITE)`` from the C library on Linux — CPython's ``os``
has no such function — so the write-back runs while the download goes on) and every
``sync_seconds`` takes a snapshot of what was written, ``fdatasync``-s the file and only then
hands the snapshot to ``on_durable`` — the sidecar journal therefore records a range as done
only once it is on disk, even across a power loss. The closing sync finds little left to do.

A finished file is not waited for either: :func:`settle_later` leaves a ``<name>.unsynced``
marker (with the boot id), renames the part to its final name and hands the file to one
background syncer thread, which ``fdatasync``-s it (and its folder) and removes the marker. A
run waits for the syncer at its end (:func:`wait_for_syncs`). A file found later with a marker
from another boot may have lost its last bytes in a power cut: :func:`unsettled` says so and
the fetcher downloads it again; with this boot's marker the page cache holds it and it stands.

Between two syncs a ``kill -9`` loses nothing the process wrote (the page cache belongs to the
kernel), so a second, cheap record — an append-only :class:`WrittenLog` of ``start done`` lines,
one per chunk written (≤ 256 KiB) — says how far each range got. It is trusted only when the
machine has not rebooted since (:func:`boot_id`): after a power loss only the synced sidecar
counts. A kill therefore loses at most one chunk per connection; a power loss at most what was
written since the last sync.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from ..safefs import open_nofollow, open_private, read_state_text, write_text_atomic

log = logging.getLogger(__name__)

#: The most a receiving thread writes between two records of its progress.
WRITE_GRANULARITY = 256 * 1024
#: How often the flusher makes what was written durable (and the sidecar says so).
SYNC_SECONDS = 1.0
#: Start write-back once this much was written since the last start.
WRITEBACK_BYTES = 8 << 20
_TICK = 0.05
#: ``SYNC_FILE_RANGE_WRITE`` (linux/fs.h): start write-out of the range's dirty pages, do not wait.
_SYNC_FILE_RANGE_WRITE = 2
_SyncFileRange = Callable[[int, int, int, int], int]


def boot_id() -> str | None:
    """This boot's identity (Linux), or None where it cannot be known."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def datasync(fd: int) -> None:
    """``fdatasync`` where it exists (``fsync`` elsewhere)."""
    getattr(os, "fdatasync", os.fsync)(fd)


@functools.cache
def libc_sync_file_range() -> _SyncFileRange | None:
    """The C library's ``sync_file_range`` (Linux), looked up once; None elsewhere. Called through
    ctypes, which lets go of the interpreter lock for the call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        log.debug("no sync_file_range in the C library: write-back starts at each sync")
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return cast(_SyncFileRange, function)


def start_writeback(fd: int) -> bool:
    """Ask the kernel to start writing the file's dirty pages now, without waiting for them.
    False where it cannot (no ``sync_file_range``, or the kernel refused: the next sync does it)."""
    function = libc_sync_file_range()
    if function is None:
        return False
    if function(fd, 0, 0, _SYNC_FILE_RANGE_WRITE) != 0:
        log.debug("sync_file_range: %s", os.strerror(ctypes.get_errno()))
        return False
    return True


class Flusher:
    """Background write-back and periodic ``fdatasync`` of one open file.

    ``snapshot()`` is called just *before* each sync and its result handed to ``on_durable``
    just after it: whatever the snapshot counts was written before the sync, so it is on disk.
    ``wrote(n)`` is the receiving threads' only duty (a counter, no system call).

    The flusher works on its own duplicate of the descriptor. ``close(final_sync=False)`` (a
    complete file: :func:`settle_later` syncs it after the rename) does not wait for a sync under
    way — on a disk slower than the link that sync can take seconds, and the download would wait
    for it at its very end; the thread finishes it alone, records nothing more and closes its
    descriptor.
    """

    def __init__(self, fd: int, snapshot: Callable[[], Any], on_durable: Callable[[Any], None], *,
                 sync_seconds: float = SYNC_SECONDS, writeback_bytes: int = WRITEBACK_BYTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fd = os.dup(fd)  # its own: the owner may close its descriptor before a sync under way ends
        self.snapshot = snapshot
        self.on_durable = on_durable
        self.sync_seconds = sync_seconds
        self.writeback_bytes = writeback_bytes
        self.clock = clock
        self.syncs = 0
        self.writebacks = 0  # write-backs started early (sync_file_range calls that succeeded)
        self.error: BaseException | None = None
        self._unstarted = 0
        self._dirty = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # ``on_durable`` against ``close``, and who closes ``fd``
        self._closed = False  # closed: nothing more is recorded
        self._ended = True  # no thread at work (not started yet, or ended)

    def wrote(self, n: int) -> None:
        self._dirty = True
        self._unstarted += n
        if self._unstarted >= self.writeback_bytes:
            self._wake.set()

    def start(self) -> Flusher:
        self._ended = False
        self._thread = threading.Thread(target=self._run, name="sharegpt4v-flusher", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        last_sync = self.clock()
        try:
            while not self._stop.is_set():
                self._wake.wait(_TICK)
                self._wake.clear()
                if self._unstarted:
                    self._unstarted = 0
                    self.writebacks += start_writeback(self.fd)
                if self._dirty and self.clock() - last_sync >= self.sync_seconds:
                    last_sync = self.clock()
                    self.sync()
        except Exception as exc:  # e.g. the disk is full: the owner sees it in close()
            log.warning("background sync failed: %s", exc)
            self.error = exc
        finally:
            with self._lock:
                self._ended = True
                if self._closed:  # closed without waiting for this thread: its descriptor is its to close
                    os.close(self.fd)

    def sync(self) -> None:
        """Snapshot, fdatasync, then record the snapshot as durable (not once closed)."""
        self._dirty = False
        state = self.snapshot()
        datasync(self.fd)
        self.syncs += 1
        with self._lock:
            if not self._closed:
                self.on_durable(state)

    def close(self, *, final_sync: bool = True) -> None:
        """Stop the thread; with ``final_sync`` wait for it, make everything durable and record
        it; without, return at once (see the class docstring). A second close does nothing."""
        if self._closed:
            return
        self._stop.set()
        self._wake.set()
        try:
            if final_sync:
                if self._thread is not None:
                    self._thread.join()
                self.sync()
        finally:  # (a failed final sync still closes)
            with self._lock:
                self._closed = True
                if self._ended:
                    os.close(self.fd)
        if self.error is not None:
            raise self.error


class WrittenLog:
    """``<part>.log``: append-only ``start done`` lines — bytes ``[start, done)`` are written.

    Valid after a kill (not after a power loss): :meth:`read` returns nothing when the boot id
    recorded in the first line is not this boot's.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._lock = threading.Lock()

    def open(self) -> WrittenLog:
        header = f"boot {boot_id() or '-'}\n"
        try:
            rfd = open_nofollow(self.path, os.O_RDONLY)
            try:
                same_boot = os.read(rfd, len(header)).decode("ascii", "replace") == header and boot_id() is not None
            finally:
                os.close(rfd)
        except OSError:
            same_boot = False
        if not same_boot:  # records from another boot are not to be trusted: start the log again
            self.path.unlink(missing_ok=True)
        self._fd = open_private(self.path, append=True)
        if not same_boot:
            os.write(self._fd, header.encode())
        return self

    def record(self, start: int, done: int) -> None:
        if self._fd >= 0:
            os.write(self._fd, f"{start} {done}\n".encode())

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    @staticmethod
    def read(path: Path) -> dict[int, int]:
        """start -> the furthest ``done`` recorded for it (empty: no log, or another boot)."""
        try:
            lines = read_state_text(path, encoding="ascii", errors="replace").splitlines()
        except OSError:
            return {}
        if not lines or lines[0] != f"boot {boot_id()}" or boot_id() is None:
            return {}
        out: dict[int, int] = {}
        for line in lines[1:]:
            parts = line.split()
            if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isdigit():
                continue  # a line cut short by the kill
            start, done = int(parts[0]), int(parts[1])
            if done > out.get(start, -1):
                out[start] = done
        return out


# -- finished files: renamed now, synced in the background ------------------------------------------
MARKER_SUFFIX = ".unsynced"


def marker_for(dest: Path) -> Path:
    return dest.with_name(dest.name + MARKER_SUFFIX)


def unsettled(dest: Path) -> bool | None:
    """None: ``dest`` is settled (no marker); False: its last sync is pending in this boot (the page
    cache holds it); True: the marker is from another boot — a power cut may have lost its tail."""
    try:
        recorded = read_state_text(marker_for(dest), encoding="ascii").strip()
    except OSError:
        return None
    return not recorded or recorded != (boot_id() or "")


class _Syncer:
    """One thread that makes finished files durable, in the order they were finished."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[int, Path]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, fd: int, path: Path) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sharegpt4v-syncer", daemon=True)
                self._thread.start()
        self._queue.put((fd, path))

    def _run(self) -> None:
        while True:
            fd, path = self._queue.get()
            try:
                datasync(fd)  # by inode: wherever the file was moved to since
                sync_folder(path.parent)
                marker_for(path).unlink(missing_ok=True)
            except OSError as exc:  # the disk failed: the marker stays, the next run downloads it again
                log.warning("could not sync %s: %s", path.name, exc)
            finally:
                os.close(fd)
                self._queue.task_done()

    def wait(self) -> None:
        self._queue.join()


_SYNCER = _Syncer()


def sync_folder(folder: Path) -> None:
    """``fsync`` a folder (the renames in it), where the system allows it."""
    if hasattr(os, "O_DIRECTORY"):
        with contextlib.suppress(OSError):
            dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


def settle_later(part: Path, dest: Path) -> None:
    """Rename a finished ``part`` to ``dest`` now and make it durable in the background."""
    fd = os.open(part, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        write_text_atomic(marker_for(dest), boot_id() or "")
        os.replace(part, dest)
    except BaseException:
        os.close(fd)
        raise
    _SYNCER.submit(fd, dest)


def wait_for_syncs() -> None:
    """Return once every finished file handed to the syncer is on disk."""
    _SYNCER.wait()


atexit.register(wait_for_syncs)
