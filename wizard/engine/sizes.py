"""What each extracted file measured when it was written: ``verify`` compares sizes (a stat, no
decoding), so a file cut short later — or left short by a crash of another tool — is found by
default, not only by ``verify --deep``.

One ledger file per image folder, ``<root>/.sharegpt4v-setup/index/sizes/<hash>.tsv``, whose
first line is ``#`` and the folder (relative to the root, ``/``-separated) and whose other lines
are ``name<TAB>size``; names escape ``\\``, tab and newline with a backslash. Lines are only ever
appended (a re-extracted member adds a line; the last one counts), so a kill leaves at most a cut
last line, which is ignored. The ledger is a cache: losing it only loses the size check.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

from ..paths import STATE_DIR_NAME
from . import helper
from .safefs import open_private_file, open_state

log = logging.getLogger(__name__)
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"))
_BLOCK = 1 << 20  # characters of a ledger read at a time


def _ledger(root: Path | str, folder: str) -> Path:
    return Path(root) / STATE_DIR_NAME / "index" / "sizes" / ledger_name(folder)


def _escape(name: str) -> str:
    if "\\" in name or "\t" in name or "\n" in name:
        for raw, escaped in _ESCAPES:
            name = name.replace(raw, escaped)
    return name


def _unescape(name: str) -> str:
    if "\\" not in name:
        return name
    out, i = [], 0
    while i < len(name):
        ch = name[i]
        if ch == "\\" and i + 1 < len(name):
            out.append({"\\": "\\", "t": "\t", "n": "\n"}.get(name[i + 1], name[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class SizeLedger:
    """Collects (file, size) facts of one extraction and appends them to the ledgers every
    ``FLUSH_EVERY`` facts and at :meth:`flush` (no file stays open between flushes)."""

    FLUSH_EVERY = 2048

    def __init__(self, root: Path, *, alias: tuple[str, str] | None = None) -> None:
        """``alias``: (a folder's real path, its path through the root): a target folder the user
        linked to another disk is recorded under the name verify looks it up by."""
        self.root = os.path.realpath(root)
        self._alias = alias
        self._pending: dict[str, list[str]] = {}
        self._count = 0
        self._broken = False
        self._lock = threading.Lock()  # any worker thread may record

    def record(self, path: str, size: int) -> None:
        """Note that the file at absolute ``path`` (under the root) has ``size`` bytes."""
        folder_abs, name = os.path.split(path)
        with self._lock:
            self._pending.setdefault(folder_abs, []).append(f"{_escape(name)}\t{size}\n")
            self._count += 1
            full = self._count >= self.FLUSH_EVERY
        if full:
            self.flush()

    def record_in(self, folder: str, entries: Iterable[tuple[str, int]]) -> None:
        """Like :meth:`record` for the (name, size) ``entries`` of the absolute ``folder``."""
        lines = [f"{_escape(name)}\t{size}\n" for name, size in entries]
        with self._lock:
            self._pending.setdefault(folder, []).extend(lines)
            self._count += len(lines)
            full = self._count >= self.FLUSH_EVERY
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending, self._count = self._pending, {}, 0
        if self._broken:
            return
        for folder_abs, lines in pending.items():
            if self._alias is not None:
                real, named = self._alias
                if folder_abs == real or folder_abs.startswith(real + os.sep):
                    folder_abs = named + folder_abs[len(real):]
            rel = os.path.relpath(folder_abs, self.root)
            if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
                continue
            folder = "" if rel == "." else rel.replace(os.sep, "/")
            target = _ledger(self.root, folder)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with open_private_file(target, "a", encoding="utf-8", errors="surrogateescape",
                                       newline="\n") as out:
                    if out.tell() == 0:
                        out.write(f"#{_escape(folder)}\n")
                    out.writelines(lines)
            except OSError as exc:  # a read-only or full state folder: no size check later, nothing worse
                log.warning("cannot record member sizes for %s: %s", folder, exc)
                self._broken = True
                return


def recorded_sizes(root: Path, folder: str, wanted: Collection[str]) -> dict[str, str]:
    """The last recorded size (decimal text) of each name of ``wanted`` in ``folder`` (relative,
    ``/``-separated). A last line without its newline (a kill mid-write) is ignored."""
    found = _read(_ledger(root, folder))
    if found is None or found[0] != folder:
        return {}  # no ledger, or a hash collision / a foreign file: no facts
    recorded = found[1]
    return {name: recorded[name] for name in recorded.keys() & wanted}


def _blocks(ledger: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """(folder, names, sizes) for each block of about a MiB of ``ledger``'s lines, in file order (a
    name may come again later: the last line counts); nothing when the ledger cannot be read or
    has no folder line."""
    try:
        with open_state(ledger, errors="surrogateescape", newline="\n") as f:
            head = f.readline()
            if not head.startswith("#") or not head.endswith("\n"):
                return
            folder = _unescape(head[1:-1])
            rest = ""
            while text := f.read(_BLOCK):
                body, _, rest = (rest + text).rpartition("\n")  # rest: a line the next block ends
                if body:
                    yield folder, *_pairs(body)
    except OSError:
        return  # (an unterminated last line, a kill mid-write, is left out above)


def _read(ledger: Path) -> tuple[str, dict[str, str]] | None:
    found: tuple[str, dict[str, str]] | None = None
    for folder, names, sizes in _blocks(ledger):
        if found is None:
            found = folder, {}
        found[1].update(zip(names, sizes, strict=True))
    return found


def _pairs(body: str) -> tuple[list[str], list[str]]:
    """The names and sizes of ``body``'s lines, in order."""
    parts = body.replace("\n", "\t").split("\t")
    names, sizes = parts[0::2], parts[1::2]
    # C-level loops: exactly one tab a line (joining the pairs back gives the text) and digits only
    if len(names) != len(sizes) or not all(map(str.isdigit, sizes)) or \
            "\n".join(map("\t".join, zip(names, sizes, strict=True))) != body:
        names, sizes = [], []  # a damaged line (no tab, not a number): line by line, leaving it out
        for line in body.split("\n"):
            name, tab, size = line.rpartition("\t")
            if tab and size.isdigit():
                names.append(name)
                sizes.append(size)
    if "\\" in body:
        names = [_unescape(name) for name in names]
    return names, sizes


def size_problem(path: str, recorded: str) -> str:
    """Why the file at ``path`` does not have its recorded size, or "" when it does."""
    try:
        actual = os.stat(path).st_size
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    return _differs(actual, int(recorded))


def _differs(actual: int, size: int) -> str:
    if actual == size:
        return ""
    return f"{actual:,} bytes, {size:,} when extracted (" + ("cut short" if actual < size else "changed") + ")"


def check_folder(folder: str, names: list[str], sizes: list[str], bad: dict[str, str]) -> None:
    """Update ``bad`` (name -> why) with the files of ``folder`` (absolute) whose size is not the
    recorded one, line by line in order (a later line of a name replaces its earlier verdict)."""
    if os.stat in os.supports_dir_fd:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            actual = _stat_sizes(names, fd)
        finally:
            os.close(fd)
    else:  # pragma: no cover - Windows
        actual = _stat_sizes([os.path.join(folder, name) for name in names], None)
    recorded = list(map(int, sizes))
    if actual == recorded:  # every size as recorded (the usual case: no Python per line)
        if bad:
            for name in names:
                bad.pop(name, None)  # an earlier line said otherwise; these count
        return
    for name, got, size in zip(names, actual, recorded, strict=True):
        if isinstance(got, str):
            bad[name] = got
        elif got != size:
            bad[name] = _differs(got, size)
        elif bad:
            bad.pop(name, None)


def _stat_sizes(names: list[str], fd: int | None) -> list[int | str]:
    """The size of each of ``names`` (relative to ``fd``, if given), or why it could not be had
    ("cannot read: ..."): one ``stat`` a file and nothing else in the loop."""
    out: list[int | str] = []
    append, stat = out.append, os.stat
    for name in names:
        try:
            append(stat(name, dir_fd=fd).st_size)
        except (OSError, ValueError) as exc:  # ValueError: a NUL in a foreign line
            append(f"cannot read: {getattr(exc, 'strerror', None) or exc}")
    return out


def ledger_order(root: Path) -> list[str]:
    """The file names of the root's ledgers, the largest first (verify's helper checks them from the
    front, its own process from the back, so the two meet at small ones)."""
    try:
        with os.scandir(_ledger(root, "").parent) as entries:
            found = [(entry.stat().st_size, entry.name) for entry in entries if entry.name.endswith(".tsv")]
    except OSError:
        return []
    return [name for _size, name in sorted(found, key=lambda item: (-item[0], item[1]))]


def ledger_name(folder: str) -> str:
    """The file name of ``folder``'s ledger (see :func:`ledger_order`)."""
    digest = hashlib.sha1(folder.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()[:20]
    return f"{digest}.tsv"


def check_ledger(root: Path, name: str) -> tuple[str, dict[str, str]] | None:
    """(folder, {name: why}) for the ledger file ``name`` (see :func:`ledger_order`): the files of its
    folder whose size is not the last recorded one; None when the ledger cannot be read, is not
    ours (a hash collision or a foreign file) or its folder cannot be opened (the folder listing
    reports that). Reads the ledger a block at a time: the memory stays small however many files
    a folder holds."""
    ledger = _ledger(root, "").parent / os.path.basename(name)
    bad: dict[str, str] = {}
    folder = None
    try:
        for folder, names, sizes in _blocks(ledger):
            if _ledger(root, folder) != ledger:
                return None
            check_folder(os.path.join(root, folder), names, sizes, bad)
    except OSError:
        return None
    return None if folder is None else (folder, bad)


def check_all(root: Path) -> dict[str, dict[str, str]]:
    """folder -> {name: why} over every ledger of the root (see :func:`check_ledger`)."""
    out: dict[str, dict[str, str]] = {}
    for name in ledger_order(root):
        found = check_ledger(root, name)
        if found is not None and found[1]:
            out[found[0]] = found[1]
    return out


def child_main(args: list[str]) -> int:
    """Child role ``sizes ROOT`` (verify's helper process): the ledger order, then ``(position,
    check_ledger(...))`` for each ledger from the front, one frame each (flushed: the parent takes
    ledgers from the back meanwhile and stops this process once the two meet)."""
    root = Path(args[0])
    out = sys.stdout.buffer
    order = ledger_order(root)
    helper.send(out, order)
    out.flush()
    for position, name in enumerate(order):
        helper.send(out, (position, check_ledger(root, name)))
        out.flush()
    return 0
