"""The root lock: one run per data root, enforced by the OS.

Two locks are taken with ``flock``: one on the state folder itself (through a directory fd, so
deleting the lock file mid-run cannot let a second run in) and one on the ``lock`` file (opened
without following links, re-checked by inode after locking; it carries the pid shown to a
second run, and excludes older versions that lock only the file). On Windows only the file is
locked (``msvcrt``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import sys
from pathlib import Path

from ..paths import STATE_DIR_NAME
from .errors import Code, SetupError
from .safefs import open_private


class RootLock:
    """An exclusive OS lock on a data root, held for the life of a run.

    Two locks are taken, both with ``flock``: one on the state folder itself (through a directory
    fd, so deleting the lock file mid-run cannot let a second run in) and one on the ``lock``
    file (opened without following links, re-checked by inode after locking; it carries the pid
    for the message a second run shows, and excludes older versions that lock only the file).
    """

    def __init__(self, root: Path) -> None:
        self.path = root / STATE_DIR_NAME / "lock"
        self._fd = -1
        self._dir_fd = -1

    def _refuse(self, exc: BaseException | None = None) -> SetupError:
        holder = "another process"
        with contextlib.suppress(OSError, ValueError):
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    holder = os.read(fd, 64).decode("utf-8", "replace").strip() or holder
            finally:
                os.close(fd)
        error = SetupError(
            Code.ROOT_LOCKED,
            f"Another sharegpt4v-setup ({holder}) is already working on {self.path.parent.parent}.",
            "Wait for it to finish or stop it; two runs on one root would corrupt each other.",
        )
        if exc is not None:
            error.__cause__ = exc
        return error

    def _fail(self, exc: OSError) -> SetupError:
        """The error for a lock that was not taken: held by another run, or locks not supported."""
        if exc.errno in _HELD:
            return self._refuse(exc)
        error = SetupError(
            Code.IO_ERROR,
            f"Cannot lock {self.path.parent.parent}: its filesystem refuses file locks "
            f"({exc.strerror or exc}).",
            "An NFS mount whose lock service (lockd/statd) does not answer does this: have locking "
            "enabled on the mount (or mount it with local_lock=all when only this machine uses the root), "
            "or choose a data root on a local disk.",
        )
        error.__cause__ = exc
        return error

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if _HAVE_FLOCK:
            self._dir_fd = os.open(self.path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
                                   | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
            try:
                _flock(self._dir_fd)
            except OSError as exc:
                self._close()
                raise self._fail(exc) from exc
        try:
            for _ in range(5):
                fd = open_private(self.path)
                try:
                    _lock_fd(fd)
                except OSError as exc:
                    os.close(fd)
                    raise self._fail(exc) from exc
                if _same_inode(fd, self.path):
                    self._fd = fd
                    break
                os.close(fd)  # the file was replaced between open and lock: lock the new one
            else:
                raise self._refuse()
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)
            # the host too: a root on a network disk may be in use from another machine
            os.write(self._fd, f"pid {os.getpid()} on {socket.gethostname()}".encode()[:64])
        except BaseException:
            self._close()
            raise

    def _close(self) -> None:
        for fd in (self._fd, self._dir_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)  # closing releases the flock
        self._fd = self._dir_fd = -1

    def release(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                _unlock_fd(self._fd)
        self._close()

    def __enter__(self) -> RootLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


#: The errors of a lock that another process holds (anything else: the filesystem refuses locks).
_HELD = frozenset({errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, errno.EDEADLK})  # EDEADLK: msvcrt


def _same_inode(fd: int, path: Path) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows builds only
    import msvcrt

    _HAVE_FLOCK = False

    def _flock(fd: int) -> None:
        raise OSError(errno.ENOSYS, "no directory locks on Windows")

    def _lock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    _HAVE_FLOCK = True

    def _flock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


