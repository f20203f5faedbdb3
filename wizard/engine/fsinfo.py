"""Facts about the filesystem under a path: free space, the mount point, "disk full" errors.

The lowest layer of disk knowledge: the network layer (bounded reads) and the disk budget
(:mod:`.diskspace`) both ask it, and it imports nothing of the engine.
"""

from __future__ import annotations

import errno
import os
import re
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


def folds_case(path: Path | str) -> bool:
    """Whether the filesystem holding the existing ``path`` takes names that differ only in letter
    case for one (exFAT and FAT USB disks, macOS's default volumes, Windows): probed without
    writing, on the nearest part of ``path`` whose name has a letter and whose folder is on the
    same filesystem — its other-case name opens, yet is not in the folder's listing. False when
    nothing tells (no such part, an error)."""
    current = Path(path).absolute()
    try:
        dev = current.stat().st_dev
        while current.parent != current:
            name, parent = current.name, current.parent
            if parent.stat().st_dev != dev:
                return False
            other = name.swapcase()
            if other != name:
                try:
                    os.lstat(parent / other)
                except FileNotFoundError:
                    return False
                return other not in os.listdir(parent)
            current = parent
    except OSError:
        return False
    return False


#: Where Linux lists the mounts this process sees (tests point it at a file of their own).
MOUNTINFO = Path("/proc/self/mountinfo")
#: Filesystem types (as ``mountinfo`` names them) that hold no file of 4 GiB or more: FAT32 USB disks.
_FAT_TYPES = frozenset({"vfat", "msdos", "fat", "umsdos", "fuse.fusefat"})
FAT_FILE_LIMIT = (1 << 32) - 1


def _unescape(field: str) -> str:
    """A ``mountinfo`` path field: spaces and the like are written as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def file_system_type(path: Path) -> str | None:
    """The type of the filesystem holding ``path`` (``ext4``, ``vfat``…), None where unknown."""
    try:
        text = MOUNTINFO.read_text(encoding="utf-8", errors="replace")
        where = os.path.realpath(existing_ancestor(path))
    except OSError:
        return None
    best, kind = "", None
    for line in text.splitlines():
        fields = line.split()
        try:
            mount, fstype = _unescape(fields[4]), fields[fields.index("-", 6) + 1]
        except (IndexError, ValueError):
            continue
        inside = where == mount or where.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):  # the last of equal mounts is the one on top
            best, kind = mount, fstype
    return kind


def file_size_limit(path: Path) -> int | None:
    """The largest file the filesystem under ``path`` can hold, when it is a known small limit
    (FAT32: 4 GiB - 1); None otherwise."""
    kind = file_system_type(path)
    return FAT_FILE_LIMIT if kind in _FAT_TYPES else None
