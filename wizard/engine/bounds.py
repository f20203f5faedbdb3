"""Bounds on what one archive may write: a bomb stops early instead of filling the disk.

Python 3.11's ``zipfile``/``tarfile`` have no defence against decompression bombs, overlapping zip
entries (CVE-2024-0450) or sparse tar members that expand to gigabytes, so every extraction
(:mod:`wizard.engine.extract`, and through it the streamed SA-1B tars and repair) asks a
:class:`Budget` before each member and counts what it writes. An archive may write at most:

* ``EXPANSION_FACTOR`` × the larger of the catalog's expectation for the component
  (``approx_extracted``) and the archive's own size — when the catalog gives an expectation, or
  the archive is a plain tar (whose members, counted by their real size, fit in the tar unless
  they are sparse);
* ``MAX_RATIO`` × the archive's size in total, and ``MAX_RATIO`` × its stored bytes for any member
  of at least ``RATIO_FLOOR`` bytes (zip: compressed size; tar: the data a sparse member really
  stores). Photos compress about 1:1; zlib's best is about 1000:1;
* the free space of the target's filesystem.

Past the first two the archive is refused with ``archive-too-large`` and the numbers; past free
space the job parks with ``no-space``. Either way before the member is written (a member already
being written that produces more than its declared size is stopped and its partial file removed).
Overlapping zip entries (two central-directory entries sharing bytes, the trick of
non-recursive zip bombs: :func:`wizard.engine.zipdir.overlaps`) are refused with ``archive-unsafe``
before anything is written, and so are members whose path would leave the target
(:func:`path_problem`; :func:`unsafe` words it).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .errors import Code, SetupError
from .units import human

#: An archive may write this many times the catalog's expectation (or a plain tar its own size).
EXPANSION_FACTOR = 2.0
#: Largest accepted expansion of a member (real size / stored bytes) and of a whole archive.
MAX_RATIO = 100
#: Members smaller than this are not ratio-checked one by one (the whole-archive bound still holds).
RATIO_FLOOR = 1 << 20


def _human(n: int) -> str:
    return human(n)


@dataclass
class Budget:
    """What one archive may still write; ask :meth:`admit` before each member, :meth:`wrote` after."""

    archive: str
    expected: int | None = None  # the catalog's expectation (bytes extracted), if any
    archive_size: int = 0  # bytes of the archive (compressed), 0 when unknown
    plain: bool = False  # a plain (uncompressed) tar: real sizes fit in archive_size
    free: Callable[[], int] | None = None  # free bytes on the target's filesystem
    written: int = 0
    pending: int = 0  # reserved bytes (admit(reserve=True)) not yet on disk
    _free_left: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def limit(self) -> int | None:
        """The most this archive may write in total, or None when nothing bounds it but free space."""
        bounds = []
        if self.expected is not None or (self.plain and self.archive_size):
            bounds.append(int(EXPANSION_FACTOR * max(self.expected or 0, self.archive_size, RATIO_FLOOR)))
        if self.archive_size:
            bounds.append(MAX_RATIO * max(self.archive_size, RATIO_FLOOR))
        return min(bounds) if bounds else None

    def _why(self) -> str:
        parts = []
        if self.expected is not None:
            parts.append(f"the catalog expects about {_human(self.expected)}")
        if self.archive_size:
            parts.append(f"the archive is {_human(self.archive_size)}")
        return f"; {', '.join(parts)}" if parts else ""

    def admit(self, member: str, size: int, stored: int | None = None, *, reserve: bool = False) -> None:
        """Before writing ``member`` of real ``size`` bytes (``stored`` bytes in the archive).

        ``reserve``: the member is written later (planned ahead with others): its bytes count as
        written at once and are kept off the free space until :meth:`landed`."""
        with self._lock:
            self._admit(member, size, stored)
            if reserve:
                self._reserve(size)

    def room(self) -> int:
        """Bytes that members under :data:`RATIO_FLOOR` may :meth:`reserve` without an
        :meth:`admit` each: what admitting them one by one would let through without a check of the
        free space. 0 until the free space was asked once."""
        with self._lock:
            room = 1 << 62
            limit = self.limit
            if limit is not None:
                room = limit - self.written
            if self.free is not None:
                room = min(room, self._free_left or 0)
            return max(room, 0)

    def reserve(self, n: int) -> None:
        """Reserve ``n`` bytes of members admitted through :meth:`room` (as ``admit(reserve=True)``)."""
        with self._lock:
            self._reserve(n)

    def _reserve(self, n: int) -> None:
        self.written += n
        self.pending += n
        if self._free_left is not None:
            self._free_left -= n

    def landed(self, n: int, unused: int = 0) -> None:
        """``n`` reserved bytes are settled: on disk, but for ``unused`` of them that were not
        written after all (the member was already there)."""
        with self._lock:
            self.pending -= n
            self.written -= unused
            if self._free_left is not None:
                self._free_left += unused

    def _admit(self, member: str, size: int, stored: int | None) -> None:
        if stored is not None and size >= RATIO_FLOOR and size > MAX_RATIO * max(stored, 1):
            raise too_large(self.archive, f"member {member} expands {_human(stored)} to {_human(size)} "
                            f"(over {MAX_RATIO}:1)")
        limit = self.limit
        if limit is not None and self.written + size > limit:
            raise too_large(self.archive, f"it would write {_human(self.written + size)} (at member {member}), "
                            f"over its bound of {_human(limit)}{self._why()}")
        if self.free is None:
            return
        if self._free_left is None or size > self._free_left:
            self._free_left = self.free() - self.pending
            if size > self._free_left:
                raise SetupError(
                    Code.NO_SPACE,
                    f"{self.archive}: member {member} needs {_human(size)}, only {_human(self._free_left)} free "
                    f"({_human(self.written)} written from this archive so far); it was not started, so no "
                    "partial file is left behind.",
                    "Free some space and run again; members already extracted are kept.", parked=True)

    def wrote(self, n: int) -> None:
        with self._lock:
            self.written += n
            if self._free_left is not None:
                self._free_left -= n

    def check_declared(self, total: int, large: Iterable[tuple[str, int, int | None]] = ()) -> None:
        """Before extracting anything: the ``total`` size the members to write declare, and the
        (name, size, stored) of those of at least :data:`RATIO_FLOOR` bytes."""
        for name, size, stored in large:
            if stored is not None and size >= RATIO_FLOOR and size > MAX_RATIO * max(stored, 1):
                self._admit(name, size, stored)
        limit = self.limit
        if limit is not None and total > limit:
            raise too_large(self.archive, f"its members declare {_human(total)}, over its bound of "
                            f"{_human(limit)}{self._why()}")


def path_problem(path: str) -> str | None:
    """Why a member path is unsafe to join onto the target (absolute, ``..``, NUL), or None."""
    if (".." not in path and "\x00" not in path and "\\" not in path and ":" not in path
            and not path.startswith("/")):
        return None  # the common case, cheaply
    if "\x00" in path:
        return "NUL in name"
    norm = path.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":" and norm[0].isalpha()):
        return "absolute path"
    if ".." in norm.split("/"):
        return "'..' in path"
    if os.name == "nt" and ":" in norm:
        return "':' in name"
    return None


def unsafe(name: str, refused: list[str], what_next: str) -> SetupError:
    """``archive-unsafe`` for the archive ``name`` and the members it ``refused``."""
    shown = "; ".join(refused[:5]) + ("; …" if len(refused) > 5 else "")
    return SetupError(
        Code.ARCHIVE_UNSAFE,
        f"{name}: refused {len(refused)} unsafe member(s): {shown}",
        f"The archive is not what the catalog expects; nothing was written outside the target. {what_next}",
    )


def too_large(archive: str, detail: str) -> SetupError:
    return SetupError(
        Code.ARCHIVE_TOO_LARGE,
        f"{archive} was stopped: {detail}.",
        "The archive is not what the catalog expects (a damaged or hostile file): nothing more of it "
        "is written and a partial member was removed. Use another source or report this one.",
    )
