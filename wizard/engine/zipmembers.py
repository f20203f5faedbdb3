"""Small zip members written the short way, by the extraction and by its helper process.

A member the extraction has planned — its path checked, its folder made inside the target, its
bytes admitted by the bounds (:mod:`wizard.engine.extract`) — is a :data:`Task`. Writing one takes
one ``pread`` (local header, name and data), an inflate bounded by the declared size, the checks
``zipfile`` would make (local header, name, size, CRC-32), then ``openat`` exclusively at its final
name in the folder's open fd (never through a link: :func:`~wizard.engine.safefs.create_unless_complete`),
one ``write``, ``futimens`` and ``close`` — the syscalls ``bsdtar`` makes. A kill inside the
``write`` leaves the member short, and a later run replaces it.

:func:`child_main` is the ``zip-members`` role of :mod:`wizard.engine.child`: the same writes in a
second process, on batches of tasks the extraction sends it (see :mod:`wizard.engine.zipsplit`).
It answers each batch once its members are on disk, stops between two members at SIGTERM, and
exits as soon as it sees its parent gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import traceback
import zipfile
import zlib
from types import FrameType
from typing import Any

from . import child
from .safefs import DIR_FD, create_unless_complete, is_complete, open_folder
from .zipdir import CSIZE, ENCRYPTED, FLAGS, METHOD, SIZE, Entry

#: (folder relative to the target, "" for the target itself, ``/``-separated; file name; whether the
#: extraction created the folder (nothing older is in it: no completeness check first); local
#: header offset; compressed size; size; CRC-32; method; the name's bytes in the central
#: directory; mtime or None; offset the member's bytes must end by, or None)
Task = tuple[str, str, bool, int, int, int, int, int, bytes, float | None, int | None]

HEADER_SLACK = 256  # bytes read past a local header for its name and extra field (more: a 2nd pread)
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what is inflated here
_LENGTHS = struct.Struct("<HH")  # a local header's name and extra field lengths
_UTIME_FD = os.utime in os.supports_fd
_MAX_FOLDERS = 64  # open folder fds kept


class Overlaps(Exception):
    """The member's data runs into the next entry (overlapping entries: a zip bomb's trick)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def fits(entry: Entry, one_go: int) -> bool:
    """Whether ``entry`` is written as a task: stored or deflated, unencrypted, at most ``one_go``
    bytes and as many stored."""
    return (entry[SIZE] <= one_go and entry[CSIZE] <= one_go and entry[METHOD] in _METHODS
            and not entry[FLAGS] & ENCRYPTED)


def _shown(raw: bytes) -> str:
    """A member's name in a message."""
    return repr(raw.decode("utf-8", "replace"))


def read(fd: int, task: Task) -> bytes:
    """The bytes of the member ``task`` from the zip open on ``fd``, checked as zipfile would."""
    _folder, _base, _fresh, offset, csize, size, crc, method, raw, _mtime, end = task
    buf = os.pread(fd, 30 + HEADER_SLACK + csize, offset)
    if len(buf) < 30 or buf[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"Bad magic number for file header of {_shown(raw)}")
    name_len, extra_len = _LENGTHS.unpack_from(buf, 26)
    start = 30 + name_len + extra_len
    if end is not None and offset + start + csize > end:
        raise Overlaps(raw.decode("utf-8", "replace"))
    if len(buf) < start + csize:  # a long name or extra field: read the rest
        buf += os.pread(fd, start + csize - len(buf), offset + len(buf))
        if len(buf) < start + csize:
            raise zipfile.BadZipFile(f"{_shown(raw)} is cut short")
    if buf[30:30 + name_len] != raw:
        raise zipfile.BadZipFile(f"File name in directory {_shown(raw)} and header {buf[30:30 + name_len]!r} differ.")
    if method == zipfile.ZIP_DEFLATED:  # never more than one byte past the declared size
        inflate = zlib.decompressobj(-15)
        try:
            data = inflate.decompress(memoryview(buf)[start:start + csize], size + 1)
        except zlib.error as exc:
            raise zipfile.BadZipFile(f"{_shown(raw)}: {exc}") from exc
        if not inflate.eof and len(data) <= size:
            raise zipfile.BadZipFile(f"{_shown(raw)}: incomplete or truncated deflate stream")
    else:
        data = buf[start:start + csize]
    if len(data) != size:
        raise zipfile.BadZipFile(f"{_shown(raw)} has {len(data):,} bytes, not {size:,}")
    if zlib.crc32(data) != crc:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {_shown(raw)}")
    return data


class MemberWriter:
    """Writes tasks from the zip open on ``archive_fd`` into the folder ``dest`` (a real path).

    Folders are opened below ``dest`` one name at a time, never through a link
    (:func:`~wizard.engine.safefs.open_folder`), and files made relative to them; where the OS
    cannot (Windows), by path.
    """

    def __init__(self, archive_fd: int, dest: str) -> None:
        self.fd = archive_fd
        self.dest = dest
        self._folders: dict[str, int | None] = {}

    def close(self) -> None:
        for fd in self._folders.values():
            if fd is not None:
                os.close(fd)
        self._folders.clear()

    def _folder(self, rel: str) -> int | None:
        if len(self._folders) >= _MAX_FOLDERS:
            self.close()
        fd = open_folder(self.dest, rel) if DIR_FD else None
        self._folders[rel] = fd
        return fd

    def write(self, task: Task) -> bool:
        """Write ``task``'s member; False (nothing written) when it is already there whole (its
        size and mtime: :func:`~wizard.engine.safefs.is_whole`). A failure removes what was written of it."""
        folder, base, fresh, _off, _csize, size, _crc, _method, _raw, mtime, _end = task
        dir_fd = self._folders.get(folder, -1)
        if dir_fd == -1:
            dir_fd = self._folder(folder)
        path = base if dir_fd is not None else os.path.join(self.dest, folder, base)
        if not fresh and is_complete(path, size, mtime, dir_fd=dir_fd):
            return False
        data = read(self.fd, task)
        fd = create_unless_complete(path, size, mtime, dir_fd=dir_fd)
        if fd is None:  # a name given twice (or an interrupted run's whole file)
            return False
        try:
            try:
                written = os.write(fd, data)
                if written < size:
                    view = memoryview(data)[written:]
                    while view:
                        view = view[os.write(fd, view):]
                if mtime is not None:
                    try:
                        if _UTIME_FD:
                            os.utime(fd, (mtime, mtime))
                        else:  # pragma: no cover - Windows
                            os.utime(os.path.join(self.dest, folder, base), (mtime, mtime))
                    except (OSError, OverflowError, ValueError):
                        pass  # a time the filesystem cannot hold: the file is still whole
            finally:
                os.close(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path, dir_fd=dir_fd)
            raise
        return True


_stopping = False


def _stop(_signum: int, _frame: FrameType | None) -> None:
    global _stopping
    _stopping = True


def child_main(args: list[str]) -> int:
    """Child role ``zip-members ARCHIVE DEST``: write the batches of tasks read from stdin.

    Each frame in is ``(batch, tasks)``; each frame out ``(batch, written, error)``: ``written``
    has one byte per member done in order (1 written, 0 already there), ``error`` is None or the
    exception that stopped the batch at the next member (the child then exits). A failure of its
    own becomes ``RuntimeError`` with the traceback. End of stdin: exit 0.
    """
    archive, dest = args
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the parent's to handle
    parent = os.getppid()
    # the pipes by descriptor (a windowed frozen build may have no sys.stdout object)
    stdin, stdout = os.fdopen(os.dup(0), "rb"), os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print goes where stderr goes, not into the frames
    fd = os.open(archive, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    writer = MemberWriter(fd, dest)
    write, getppid = writer.write, os.getppid
    while not _stopping:
        try:
            batch, tasks = child.read_frame(stdin)
        except child.ChildGone:
            return 0
        done = bytearray()
        error: Any = None
        try:
            for task in tasks:
                if _stopping:
                    break
                if getppid() != parent:  # the parent was killed: nobody records what we write
                    os._exit(1)
                done.append(write(task))
        except (zipfile.BadZipFile, Overlaps, OSError) as exc:
            error = exc
        except Exception:  # a bug of ours: the parent logs it and writes the rest itself
            error = RuntimeError(traceback.format_exc())
        try:
            child.write_frame(stdout, (batch, bytes(done), error))
        except OSError:
            return 1
        if error is not None:
            return 1
    return 0
