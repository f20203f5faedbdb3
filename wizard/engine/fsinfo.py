"""Facts about the filesystem under a path: free space, the mount point, "disk full" errors.

The lowest layer of disk knowledge: the network layer (bounded reads) and the disk budget
(:mod:`.diskspace`) both ask it, and it imports nothing of the engine.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is an OSError saying the disk or the quota is full."""
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


def existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest existing parent (the root may not exist yet)."""
    path = Path(path).absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged user may still write on ``path``'s filesystem (``f_bavail``)."""
    where = existing_ancestor(path)
    if hasattr(os, "statvfs"):
        st = os.statvfs(where)
        return st.f_bavail * st.f_frsize
    import shutil  # pragma: no cover - Windows

    return shutil.disk_usage(where).free  # pragma: no cover


def mount_point(path: Path) -> Path:
    """The mount point of the filesystem holding ``path`` (for messages)."""
    current = existing_ancestor(path)
    try:
        dev = current.stat().st_dev
        while current.parent != current and current.parent.stat().st_dev == dev:
            current = current.parent
    except OSError:
        pass
    return current
