"""Opening the app's own files safely: never through a symlink, never a FIFO or a device.

Everything the engine writes under ``<root>/.sharegpt4v-setup/`` and beside its targets (``.part``
files, sidecars, temporary files, the lock) is opened here. A symlink planted at one of those names
(by another user, or left by a bug) is refused — ``O_NOFOLLOW`` — and removed, never followed, so a
victim file outside the root is never truncated or overwritten. New files are created exclusively
(``O_CREAT | O_EXCL``); an existing one is reopened only when it is a regular file.

:func:`problem_for_os_error` turns an ``OSError`` that reaches the runner or a front end into a
coded :class:`~wizard.engine.errors.Problem` with a hint (a full disk parks the job).
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import Code, Problem

if TYPE_CHECKING:
    pass

_BINARY = getattr(os, "O_BINARY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_CREATE_NEW = os.O_CREAT | os.O_EXCL
_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


class NotRegularFile(OSError):
    """The path exists but is not a regular file (a FIFO, a device, a folder)."""


def _check_regular(fd: int, path: os.PathLike[str] | str) -> None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFile(errno.EINVAL, "not a regular file", str(path))
    if _NONBLOCK and hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)


def open_nofollow(path: os.PathLike[str] | str, flags: int, mode: int = 0o666, *, dir_fd: int | None = None) -> int:
    """``os.open`` that refuses symlinks, FIFOs and devices; returns a blocking fd on a regular file.

    ``flags`` may contain ``O_CREAT``/``O_EXCL``/``O_TRUNC``; ``O_NOFOLLOW`` and ``O_NONBLOCK`` (so a
    FIFO never hangs the open) are added here. A file created with ``O_CREAT | O_EXCL`` is new and
    regular by definition (the open fails on any existing name, a link included): no check, no
    ``O_NONBLOCK`` — the cheap path for the many small files of an image batch. ``dir_fd``: ``path``
    is a name in that open folder (``openat``: no path walk, see :data:`DIR_FD`).
    """
    if flags & _CREATE_NEW == _CREATE_NEW:
        return os.open(path, flags | _NOFOLLOW | _BINARY | _CLOEXEC, mode, dir_fd=dir_fd)
    fd = os.open(path, flags | _NOFOLLOW | _NONBLOCK | _BINARY | _CLOEXEC, mode, dir_fd=dir_fd)
    _check_regular(fd, path)
    return fd


def _remove_odd(path: Path | str) -> bool:
    """Remove a symlink, FIFO, device or socket found at one of the app's own names."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return True
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return False
    os.unlink(path)  # inside the app's folders: removing the odd entry harms nothing
    return True


def open_private(path: Path | str, *, truncate: bool = False, append: bool = False) -> int:
    """A read-write fd on the app's own file ``path`` (a ``.part``, a sidecar, a temp file).

    A missing file is created exclusively; a symlink, FIFO or device at the name is removed first
    (it is inside the app's folders, so removing it harms nothing, and it is never followed); an
    existing regular file is opened as it is, or emptied with ``truncate``; ``append`` opens it
    with ``O_APPEND``.
    """
    extra = os.O_APPEND if append else 0
    for _ in range(3):
        try:
            return open_nofollow(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | extra, 0o666)
        except FileExistsError:
            pass
        try:
            return open_nofollow(path, os.O_RDWR | extra | (os.O_TRUNC if truncate else 0))
        except FileNotFoundError:
            continue  # removed between the two opens: create it again
        except OSError:
            if not _remove_odd(path):
                raise
    raise OSError(errno.ELOOP, "cannot open safely (a link or special file keeps reappearing)", str(path))


#: Seconds a file's mtime may differ from its member's and still be the member written (zip
#: times have 2 s steps; FAT rounds to 2 s).
MTIME_SLACK = 2.0


def is_whole(st: os.stat_result, size: int, mtime: float | None) -> bool:
    """Whether ``st`` is a member an extraction wrote whole: a regular file of ``size`` bytes whose
    mtime is the member's ``mtime`` (when known; extractions set it) — rsync's quick check, so a
    file of the same size with other content (the user's own, another version) is not taken for
    the member."""
    return (stat.S_ISREG(st.st_mode) and st.st_size == size
            and (mtime is None or abs(st.st_mtime - mtime) < MTIME_SLACK))


def is_complete(path: str, size: int, mtime: float | None = None, *, dir_fd: int | None = None) -> bool:
    """Whether the member of ``size`` bytes and ``mtime`` is whole at ``path`` (:func:`is_whole`;
    a link there is not followed)."""
    try:
        st = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return is_whole(st, size, mtime)


def create_unless_complete(path: str, size: int, mtime: float | None = None, *,
                           dir_fd: int | None = None) -> int | None:
    """A write fd on a new file at ``path`` (a member's final name), or None when the member of
    ``size`` bytes and ``mtime`` is already there whole (:func:`is_whole`: a finished or
    interrupted run wrote it).

    The file is created exclusively (``O_CREAT | O_EXCL``: never through a link, never opening a
    FIFO; nothing more to check on the fd). Anything else at the name — a shorter file a kill left,
    a file of other content, a symlink, FIFO or device planted there — is unlinked (never followed)
    and the file created in its place; a folder there raises ``IsADirectoryError``. One syscall on
    a fresh name.
    ``dir_fd``: ``path`` is a name in that open folder.
    """
    for _ in range(3):
        try:  # open_nofollow's cheap path: new, so regular
            return open_nofollow(path, os.O_WRONLY | _CREATE_NEW, dir_fd=dir_fd)
        except FileExistsError:
            pass
        try:
            st = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if is_whole(st, size, mtime):
            return None
        os.unlink(path, dir_fd=dir_fd)  # a folder: IsADirectoryError (EISDIR, or EPERM on macOS)
    raise OSError(errno.ELOOP, "cannot create safely (something keeps reappearing at the name)", path)


#: Whether files can be opened, checked and removed relative to an open folder (POSIX, not Windows).
DIR_FD = {os.open, os.stat, os.unlink} <= os.supports_dir_fd


def open_folder(parent: str, rel: str) -> int:
    """An fd on the folder ``rel`` (``/``-separated) under the folder ``parent``, walked one name at
    a time without following a link: a link planted inside ``parent`` raises ``OSError`` (ELOOP or
    ENOTDIR) instead of leading elsewhere. Needs :data:`DIR_FD`."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC
    fd = os.open(parent, flags)
    path = parent
    try:
        for name in rel.split("/") if rel else ():
            path = os.path.join(path, name)
            try:
                inner = os.open(name, flags | _NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                exc.filename = path  # the folder by its full path in messages
                raise
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private_file(path: Path | str, mode: str = "wb", *, encoding: str | None = None,
                      errors: str | None = None, newline: str | None = None) -> IO[Any]:
    """``open()`` for the app's own files: ``mode`` "wb"/"w" (emptied) or "ab"/"a" (appended)."""
    if mode[0] not in "wa":
        raise ValueError(f"open_private_file writes; mode {mode!r} is not 'w…' or 'a…'")
    fd = open_private(path, truncate=mode.startswith("w"))
    return os.fdopen(fd, mode, encoding=encoding, errors=errors, newline=newline)


def open_state(path: Path | str, *, encoding: str | None = "utf-8", errors: str | None = None,
               newline: str | None = None) -> IO[Any]:
    """``open()`` for reading one of the app's own files (a ledger, a cache, a sidecar, a report):
    a symlink, FIFO or device at its name is an ``OSError`` (:class:`NotRegularFile`), never
    followed nor waited on (a FIFO would hang the read). ``encoding`` None: binary."""
    fd = open_nofollow(path, os.O_RDONLY)
    if encoding is None:
        return os.fdopen(fd, "rb")
    return os.fdopen(fd, "r", encoding=encoding, errors=errors, newline=newline)


def read_state_text(path: Path | str, *, encoding: str = "utf-8", errors: str | None = None) -> str:
    """The text of one of the app's own files, read as :func:`open_state` opens it."""
    with open_state(path, encoding=encoding, errors=errors) as fh:
        return str(fh.read())


def loads_json(text: str | bytes) -> Any:
    """``json.loads`` for the app's saved state (its own files, the journal's values, preferences):
    a document nested deeper than the parser can go (a damaged or planted file) is a ``ValueError``
    like any other bad JSON, which the readers already treat as "no usable state", instead of a
    ``RecursionError`` that ends the program."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a private temp file and ``os.replace`` (never via a link)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = open_private(tmp, truncate=True)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
        out.write(text)
    os.replace(tmp, path)


def read_regular(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a user-given file, refusing non-files (FIFO, device) and files over ``limit``.

    Raises :class:`NotRegularFile` or ``ValueError`` (too large) for the caller to word.
    """
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | _BINARY | _CLOEXEC)
    _check_regular(fd, path)
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise ValueError(f"{what} {path} is {size:,} bytes; at most {limit:,} are expected")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{what} {path} grew past {limit:,} bytes while being read")
    return data


def file_kind(path: Path) -> str:
    """"file", "folder", "missing" or what else ``path`` is (FIFO, device, socket), without opening it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _network_problem(exc: OSError, requests: Any) -> Problem:
    from .net.policy import TLS_HINT, describe, untrusted_tls  # requests is imported already: one of its errors came

    request = getattr(exc, "request", None)
    url = getattr(request, "url", None) if request is not None else None
    host = urlsplit(str(url)).netloc if url else "the server"  # never the query (signed links)
    why = describe(exc)
    bad = requests.exceptions
    if isinstance(exc, bad.InvalidHeader | bad.ContentDecodingError | bad.TooManyRedirects | bad.InvalidSchema):
        return Problem(Code.NETWORK, f"The answer from {host} could not be used: {why}.",
                       "The server (or a proxy in between) sent something the app cannot read; run the same "
                       "command again later, or point the catalog at a mirror (--catalog). Nothing downloaded "
                       "so far is lost.")
    if untrusted_tls(exc):
        return Problem(Code.NETWORK, f"Cannot reach {host}: {why}.", TLS_HINT)
    return Problem(Code.NETWORK, f"Cannot reach {host}: {why}.",
                   "Check the network connection (and proxy settings); the source may be down. Run the "
                   "same command again later: nothing downloaded so far is lost.")


def file_kind_nofollow(path: Path) -> str:
    """"file" for a regular file; "link", "missing" or another kind otherwise (links not followed)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "missing"
    return "link" if stat.S_ISLNK(mode) else file_kind(path)


def problem_for_os_error(exc: OSError, root: Path | None = None) -> Problem:
    """The coded problem for an ``OSError`` no lower layer turned into one (``requests``' errors
    are ``OSError`` too: they become ``network``)."""
    requests = sys.modules.get("requests")  # not imported here: the catalog stays light
    if requests is not None and isinstance(exc, requests.RequestException):
        return _network_problem(exc, requests)
    # a rename names its destination second: that is what stands in the way
    named = exc.filename2 if exc.filename2 is not None else exc.filename
    where = named if named is not None else (root or "the data root")
    reason = exc.strerror or str(exc)
    if exc.errno in _FULL:
        return Problem(Code.NO_SPACE, f"The disk under {root or where} is full ({reason}).",
                       "Free some space and run again; finished files are kept and the rest resumes.",
                       parked=True)
    if exc.errno == errno.EFBIG:  # FAT32 (a USB disk): no file of 4 GiB or more
        what = f"Cannot write {named}: it is" if named is not None else "A file being written is"
        return Problem(Code.IO_ERROR, f"{what} larger than the filesystem under {root or 'the data root'} "
                       f"allows for one file ({reason}).",
                       "FAT32 disks hold files up to 4 GiB: choose a data root on another filesystem "
                       "(ext4, XFS, NTFS or exFAT), or download the archive elsewhere and pass it with "
                       "--local COMPONENT=PATH.")
    if exc.errno == errno.EROFS:
        return Problem(Code.ROOT_NOT_WRITABLE, f"Cannot write {where}: the filesystem is read-only.",
                       "Choose a data root on a writable disk (status, plan and verify work read-only).")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return Problem(Code.ROOT_NOT_WRITABLE, f"Permission denied for {where}.",
                       "Fix the permissions of that file or folder, or choose a data root you own.")
    if exc.errno == errno.ENAMETOOLONG:
        name = os.path.basename(str(where))
        short = name if len(name) <= 60 else name[:60] + "…"
        return Problem(Code.NAME_TOO_LONG,
                       f"The name {short} ({len(os.fsencode(name))} bytes) is too long for the "
                       f"filesystem under {root or 'the data root'}.",
                       "Most filesystems allow 255 bytes per name: the archive or catalog holds a name "
                       "no training code could open; report it to whoever publishes the data.")
    if exc.errno in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ELOOP) or isinstance(exc, NotRegularFile):
        return Problem(Code.PATH_BLOCKED, f"Something is in the way at {where}: {reason}.",
                       "A file stands where a folder is needed (or the other way round). Move it "
                       "aside and run again; nothing else was changed.")
    return Problem(Code.IO_ERROR, f"Reading or writing {where} failed: {reason}.",
                   "Check the disk (dmesg, fsck) and run again; the work so far is kept.")
