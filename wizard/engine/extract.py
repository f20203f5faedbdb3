"""Archive extraction: unpack a zip or tar into a component's target folder, safely and resumably.

Every member goes through the component's :class:`~wizard.engine.catalog.Layout`. Nothing is ever
written outside the target: absolute paths, ``..``, drive letters, links, devices and paths that
resolve outside it (a symlinked folder already inside it) are refused, and tar members must pass
``tarfile``'s ``data`` filter. A member of at most one chunk (the many small images) is read, then
created straight at its final name, exclusively and never through a link, and written with one
``write()`` — one directory operation, as ``unzip`` does; a kill inside that call leaves it short,
and a later run replaces it (zip members: :mod:`wizard.engine.zipmembers`, for a zip of many of
them partly in a helper process, :mod:`wizard.engine.zipsplit`). A larger member is written to a
hidden temp name and renamed into place. A later run skips members already on disk at full size;
the size ledger (:mod:`wizard.engine.sizes`, appended in batches) records only whole members.
What an archive may write is bounded (:mod:`wizard.engine.bounds`): bombs, sparse tar members and
overlapping zip entries are stopped before they fill the disk.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import gzip
import hashlib
import itertools
import logging
import lzma
import os
import stat
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .bounds import Budget, data_overlaps, overlapping_zip_entries, too_large
from .catalog import Layout
from .context import JobContext
from .errors import Code, SetupError
from .fsinfo import free_bytes
from .helper import allowed as helper_allowed
from .safefs import DIR_FD, create_unless_complete, open_private
from .sizes import SizeLedger
from .zipmembers import MemberWriter, Overlaps, Task, fits
from .zipsplit import Answer, MembersHelper, start_helper

log = logging.getLogger(__name__)


class _Damaged(Exception):
    """A read from the archive failed with an OSError (bz2/lzma data errors, I/O errors)."""


#: Read-side exceptions that mean the archive's bytes are bad.
_DAMAGED: tuple[type[BaseException], ...] = (
    _Damaged, zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile,
)
_TEMP_SUFFIX = ".extracting"
_PROGRESS_INTERVAL = 0.1  # seconds between progress events
_SMALL = 1 << 20  # members up to this size are read in one go (zip: see zipmembers.fits)
_UTIME_FD = os.utime in os.supports_fd
_UTF8_FLAG = 0x800
_BATCH = 128  # zip members planned at a time; the helper process is handed batches of this many
_AHEAD = 3  # batches the helper holds at once (one being written, the next ones queued)
#: Small zip members from which a zip is written by two processes (:mod:`.zipsplit`): below, the
#: helper's start-up (about 0.1 s of CPU) costs about what it gives.
PARALLEL_FROM = 5000


@dataclass
class _Batch:
    """Planned zip members of a range of the central directory."""

    tasks: list[Task]  # small members: written by a MemberWriter, here or in the helper
    names: list[str]  # each task's member name (messages)
    big: list[tuple[zipfile.ZipInfo, str, str]]  # (info, name, final path): through zipfile's reader
    error: SetupError | None = None  # the bounds stopped the range here: raised once the rest is written


@dataclass(frozen=True)
class ExtractResult:
    """What one extraction did; ``skipped`` members were already complete on disk."""

    written: int  # members written this time
    skipped: int  # members already complete on disk (resume)
    ignored: int  # members the layout does not want (e.g. SAM .json, other folders)
    bytes_written: int
    found: frozenset[str] = frozenset()  # with ``only``: the wanted paths the archive holds


def _path_problem(path: str) -> str | None:
    """Why a member path is unsafe to join onto the target, or None."""
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


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The member name as stored: undo zipfile's cp437 decoding when the UTF-8 flag is unset."""
    name = info.filename
    if info.flag_bits & _UTF8_FLAG or name.isascii():
        return name
    raw = name.encode("cp437")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return os.fsdecode(raw)  # surrogateescape on POSIX: the disk name gets the stored bytes
    except UnicodeDecodeError:  # pragma: no cover - Windows, where names must be Unicode
        return name


@functools.lru_cache(maxsize=4096)  # the members of a zip share few timestamps
def _local_time(date_time: tuple[int, int, int, int, int, int]) -> float | None:
    try:
        return time.mktime((*date_time, 0, 0, -1))
    except (OverflowError, ValueError):
        return None


def _zip_mtime(info: zipfile.ZipInfo) -> float | None:
    return _local_time(info.date_time)


def _temp_name(base: str) -> str:
    if len(os.fsencode(base)) > 255 - len(_TEMP_SUFFIX) - 1:
        base = hashlib.sha1(os.fsencode(base), usedforsecurity=False).hexdigest()
    return f".{base}{_TEMP_SUFFIX}"


class _Extraction:
    """The state of one extract_archive call: counters, verified folders, refusals, progress."""

    def __init__(self, ctx: JobContext, archive: Path, dest: Path, layout: Layout,
                 only: Collection[str] | None = None, fileobj: IO[bytes] | None = None,
                 expected: int | None = None) -> None:
        self.ctx = ctx
        self.archive = archive
        self.layout = layout
        self.only = only
        self.seen: set[str] = set()  # mapped paths met that are in ``only``
        self.fileobj = fileobj
        new = not os.path.lexists(dest)
        dest.mkdir(parents=True, exist_ok=True)
        self.dest = os.path.realpath(dest)
        self.dirs: set[str] = {""}  # relative folders known to be real and inside dest
        #: absolute folders this extraction created: nothing older is in them, so no member there
        #: needs the completeness check before it is written (a duplicate name still meets it)
        self.new_dirs: set[str] = {self.dest} if new else set()
        self._fresh: dict[str, bool] = {}  # relative folder -> in new_dirs
        self.refused: list[str] = []
        self.written = self.skipped = self.ignored = self.bytes_written = 0
        self.done = 0  # progress position (uncompressed bytes for zip, archive bytes for tar)
        self.total = 0
        self.position: Callable[[], int] = lambda: self.done
        self.member = ""
        self._last_tick = 0.0
        self.budget = Budget(archive.name, expected, free=self._free)
        self.sizes = SizeLedger(ctx.root)  # what verify compares the files with
        self.one_go = min(_SMALL, ctx.settings.chunk_size)  # members up to this are written with one write()

    def _free(self) -> int:
        disk = self.ctx.disk
        return disk.free(fresh=True) if disk is not None else free_bytes(Path(self.dest))

    def tick(self, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self._last_tick >= _PROGRESS_INTERVAL:
            self._last_tick = now
            self.ctx.progress(self.position(), self.total)

    def target(self, name: str, problem: str | None, regular: bool, link: str = "") -> str | None:
        """The absolute path to write ``name`` to, or None (counted as ignored or refused)."""
        problem = problem or _path_problem(name)
        placed = self.place(name, None if problem else self.layout.map(name), problem, regular, link)
        return None if placed is None else os.path.join(self.dest, *placed)

    def place(self, name: str, rel: str | None, problem: str | None, regular: bool,
              link: str = "") -> tuple[str, str] | None:
        """Where member ``name`` goes, given what the layout maps it to (``rel``) and what is wrong
        with its name (``problem``): (folder, file name) relative to the target, the folder made
        and checked; or None (counted as ignored or refused)."""
        if problem:
            self.refused.append(f"{name} ({problem})")
            return None
        if rel is None or (self.only is not None and rel not in self.only):
            self.ignored += 1
            return None
        if self.only is not None:
            self.seen.add(rel)
        problem = "" if regular else (link or "not a regular file")
        problem = problem or _path_problem(rel) or ("backslash in name" if "\\" in rel else "")
        folder, _, base = rel.rpartition("/")
        if not problem and base in ("", ".", ".."):
            problem = "no file name"
        if not problem and folder not in self.dirs:
            problem = self._make_folder(folder)
        if problem:
            self.refused.append(f"{name} ({problem})")
            return None
        return folder, base

    def fresh(self, folder: str) -> bool:
        """Whether this extraction made the relative ``folder`` (nothing older is in it)."""
        known = self._fresh.get(folder)
        if known is None:
            known = self._fresh[folder] = (os.path.join(self.dest, folder) if folder else self.dest) in self.new_dirs
        return known

    def _make_folder(self, folder: str) -> str:
        real = os.path.realpath(os.path.join(self.dest, folder))
        if os.path.commonpath([real, self.dest]) != self.dest:
            return "folder resolves outside the target"
        new = not os.path.lexists(real)
        try:
            os.makedirs(real, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            return "a file is in the way of its folder"
        self.dirs.add(folder)
        if new:
            self.new_dirs.add(os.path.join(self.dest, folder))
        return ""

    def complete(self, final: str, size: int) -> bool:
        """True (and counted as skipped) when ``final`` is already a regular file of ``size``."""
        try:
            st = os.lstat(final)
        except FileNotFoundError:
            return False
        if stat.S_ISREG(st.st_mode) and st.st_size == size:
            self._skip(final, size)
            return True
        return False

    def _skip(self, final: str, size: int) -> None:
        self.skipped += 1
        self.sizes.record(final, size)

    def write(self, final: str, size: int, mtime: float | None, stored: int | None,
              chunks: Callable[[], Iterable[bytes]]) -> None:
        """Write one member (``size`` bytes declared, ``stored`` in the archive) to ``final`` from
        the chunks ``chunks()`` yields, or skip it when it is already complete on disk.

        A member of at most one chunk is read first, then created at its final name (exclusively,
        never through a link: :func:`~wizard.engine.safefs.create_unless_complete`) and written
        with one ``write()``: a kill leaves it short only within that call, and the next run
        replaces it. A larger one is written to a hidden temp name and renamed into place. Either
        way a failure removes what was written of it.
        """
        if os.path.dirname(final) not in self.new_dirs and self.complete(final, size):
            return
        self.budget.admit(self.member, size, stored)
        if size <= self.one_go:
            data = self._gather(chunks(), size)
            fd = create_unless_complete(final, size)
            if fd is None:  # pragma: no cover - written meanwhile (the root lock keeps other runs out)
                self._skip(final, size)
                return
            self._fill(fd, final, final, data, size, mtime)
        else:
            folder, base = os.path.split(final)
            temp = os.path.join(folder, _temp_name(base))
            self._fill(open_private(Path(temp), truncate=True), temp, final, chunks(), size, mtime)

    def _gather(self, chunks: Iterable[bytes], size: int) -> list[bytes]:
        """The chunks of a member of at most one chunk, read before its file exists."""
        out, left = [], size
        for chunk in chunks:
            left -= len(chunk)
            if left < 0:
                raise self._too_large(size)
            out.append(chunk)
        return out

    def _too_large(self, size: int) -> SetupError:
        return too_large(self.archive.name, f"member {self.member} gives more than the {size:,} bytes it declares")

    def _fill(self, fd: int, path: str, final: str, chunks: Iterable[bytes], size: int,
              mtime: float | None) -> None:
        """Write ``chunks`` to ``fd`` (open on ``path``), set the mtime, rename ``path`` to
        ``final`` if they differ; on any failure ``path`` is removed."""
        left = size
        try:
            try:
                for chunk in chunks:
                    left -= len(chunk)
                    if left < 0:
                        raise self._too_large(size)
                    self.budget.wrote(len(chunk))
                    written = os.write(fd, chunk)
                    if written < len(chunk):
                        view = memoryview(chunk)[written:]
                        while view:
                            view = view[os.write(fd, view):]
                    self.bytes_written += len(chunk)
                    self.done += len(chunk)
                    self.tick()
                if mtime is not None:
                    with contextlib.suppress(OSError, OverflowError, ValueError):
                        os.utime(fd if _UTIME_FD else path, (mtime, mtime))
            finally:
                os.close(fd)
            if path != final:
                os.replace(path, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        self.sizes.record(final, size - left)
        self.written += 1

    def _read(self, src: IO[bytes]) -> Iterator[bytes]:
        """``src`` in chunks, a cancel checked between them; read errors mean damage."""
        checkpoint, chunk_size = self.ctx.control.checkpoint, self.ctx.settings.chunk_size
        while True:
            checkpoint()
            try:
                chunk = src.read(chunk_size)
            except OSError as exc:
                raise _Damaged(str(exc)) from exc
            if not chunk:
                return
            yield chunk

    def tar_member(self, tf: tarfile.TarFile, ti: tarfile.TarInfo) -> None:
        """Write one tar member (or skip, ignore or refuse it), whatever reads the tar."""
        self.ctx.control.checkpoint()
        name = self.member = ti.name
        if ti.isdir():
            self.ignored += 1
            return
        problem = None
        try:
            tarfile.data_filter(ti, self.dest)
        except tarfile.FilterError as exc:
            problem = str(exc)
        link = ""
        if ti.issym():
            link = f"symlink to {ti.linkname}"
        elif ti.islnk():
            link = f"hard link to {ti.linkname}"
        final = self.target(name, problem, ti.isreg(), link)
        if final is not None:
            # a sparse member counts by its real size; it stores only its data blocks
            sparse: list[tuple[int, int]] | None = getattr(ti, "sparse", None)  # typeshed: wrong type
            stored = sum(n for _off, n in sparse) if sparse is not None else ti.size

            def chunks() -> Iterator[bytes]:
                src = tf.extractfile(ti)
                if src is None:  # pragma: no cover - isreg() members always have data
                    raise tarfile.ReadError(f"no data for {name}")
                with src:
                    yield from self._read(src)

            self.write(final, ti.size, float(ti.mtime), stored, chunks)
        self.tick()

    def _zip_checks(self, zf: zipfile.ZipFile,
                    infos: list[zipfile.ZipInfo]) -> tuple[list[str], list[str | None], dict[int, int | None]]:
        """Refuse overlapping entries and over-budget declarations before writing anything.
        Returns each entry's name, where the layout (and ``only``) puts it (None: nowhere), and
        where each entry's bytes must end (by header offset)."""
        overlapping = overlapping_zip_entries(zf)
        if overlapping:
            raise _unsafe(self.archive.name, [f"{n} (overlaps another entry)" for n in overlapping],
                          "Nothing was extracted from it; report the source.")
        fp = zf.fp
        if fp is not None:
            here = fp.tell()
            self.budget.archive_size = fp.seek(0, os.SEEK_END)
            fp.seek(here)
        names = [_zip_name(info) for info in infos]
        rels: list[str | None] = []
        wanted = []
        mapped, only = self.layout.map, self.only
        for info, name in zip(infos, names, strict=True):
            rel = None if info.is_dir() else mapped(name)
            if rel is not None and only is not None and rel not in only:
                rel = None
            rels.append(rel)
            if rel is not None:
                stored = info.file_size if info.compress_type == zipfile.ZIP_STORED else info.compress_size
                wanted.append((info.filename, info.file_size, stored))
        self.budget.check_declared(wanted)
        offsets = sorted(info.header_offset for info in infos)
        ends: dict[int, int | None] = dict(itertools.pairwise(offsets))
        ends[offsets[-1] if offsets else 0] = getattr(zf, "start_dir", None)
        return names, rels, ends

    def run_zip(self) -> None:
        with zipfile.ZipFile(self.fileobj or self.archive) as zf:
            infos = zf.infolist()
            self.total = sum(info.file_size for info in infos)
            names, rels, ends = self._zip_checks(zf, infos)
            self._zip_members(zf, infos, names, rels, ends)

    def _zip_members(self, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], names: list[str],
                     rels: list[str | None], ends: dict[int, int | None]) -> None:
        """Plan and write the members a batch at a time: from the front here and, for a zip of
        many small members, from the back in the helper process (:mod:`.zipsplit`)."""
        fd = self._pread_fd(zf)
        writer = MemberWriter(fd, self.dest) if fd is not None else None
        count = len(infos)
        ranges = [(start, min(start + _BATCH, count)) for start in range(0, count, _BATCH)]
        helper = self._start_helper(infos, rels) if writer is not None else None
        front, back = 0, len(ranges)
        self.helped = 0  # batches the helper answered
        sent: dict[int, _Batch] = {}  # batch (its range's index) -> what the helper was given
        later: list[_Batch] = []  # written here next: the big members of the helper's ranges, a dead helper's batches

        def plan(i: int) -> _Batch:
            return self._plan(infos, names, rels, ends, *ranges[i], tasks=writer is not None)

        try:
            while True:
                if helper is not None:
                    helper = self._answers(helper, sent, later)
                while helper is not None and len(sent) < _AHEAD and back - 1 > front:
                    back -= 1
                    batch = plan(back)
                    if batch.error is not None:  # written here, then raised
                        later.append(batch)
                        break
                    if batch.big:
                        later.append(_Batch([], [], batch.big))
                    if batch.tasks:
                        sent[back] = batch
                        if not helper.send(back, batch.tasks):
                            break  # gone: seen at the next _answers
                if later:
                    self._write(zf, writer, ends, later.pop())
                elif front < back:
                    front += 1
                    self._write(zf, writer, ends, plan(front - 1))
                elif helper is not None and sent:
                    self.ctx.control.checkpoint()
                    helper.wait()
                    self.tick()
                else:
                    break
        finally:
            if helper is not None:  # stopped by an error or a cancel: keep the record of what it wrote
                self._take(helper.close(stop=bool(sent)), sent, later, raise_errors=False)
                log.debug("%s: the helper process wrote %d of %d batches", self.archive.name, self.helped, len(ranges))
            if writer is not None:
                writer.close()

    def _start_helper(self, infos: list[zipfile.ZipInfo], rels: list[str | None]) -> MembersHelper | None:
        """The helper process for a zip of many small members, or None (one process)."""
        small = sum(1 for info, rel in zip(infos, rels, strict=True) if rel is not None and fits(info, self.one_go))
        if small < PARALLEL_FROM or not DIR_FD or not helper_allowed():
            return None
        wanted = [rel for rel in rels if rel is not None]
        if len(set(wanted)) != len(wanted):  # a name given twice: its last copy must win, as in one process
            return None
        return start_helper(str(self.archive), self.dest)

    def _plan(self, infos: list[zipfile.ZipInfo], names: list[str], rels: list[str | None],
              ends: dict[int, int | None], start: int, stop: int, *, tasks: bool) -> _Batch:
        """Check, place and admit the members ``start`` to ``stop``; with ``tasks``, the small ones
        become tasks for a :class:`MemberWriter`. Ignored and refused members are counted here."""
        batch = _Batch([], [], [])
        for i in range(start, stop):
            info = infos[i]
            size = info.file_size
            if info.is_dir():
                self.ignored += 1
                self.done += size
                continue
            name = names[i]
            ftype = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
            regular = ftype in (0, stat.S_IFREG)
            placed = self.place(name, rels[i], _path_problem(name), regular, "" if regular else "link or special file")
            if placed is None:
                self.done += size
                continue
            folder, base = placed
            if tasks and fits(info, self.one_go):
                stored = info.compress_size if info.compress_type != zipfile.ZIP_STORED else size
                try:
                    self.budget.admit(name, size, stored, reserve=True)
                except SetupError as exc:
                    batch.error = exc
                    break
                batch.tasks.append((folder, base, self.fresh(folder), info.header_offset, info.compress_size,
                                    size, info.CRC, info.compress_type, info.flag_bits, info.orig_filename,
                                    _zip_mtime(info), ends.get(info.header_offset)))
                batch.names.append(name)
            else:
                batch.big.append((info, name, os.path.join(self.dest, folder, base)))
        return batch

    def _write(self, zf: zipfile.ZipFile, writer: MemberWriter | None, ends: dict[int, int | None],
               batch: _Batch) -> None:
        """Write a planned batch in this process, a cancel checked before each member."""
        checkpoint = self.ctx.control.checkpoint
        if batch.tasks:
            assert writer is not None
            write = writer.write
            done = bytearray()
            try:
                for task, name in zip(batch.tasks, batch.names, strict=True):
                    checkpoint()
                    self.member = name
                    done.append(write(task))
            except Overlaps as exc:
                raise self._overlap(exc.name) from None
            except OSError as exc:
                self._locate(exc, batch.tasks[len(done)])
                raise
            finally:
                self._record(batch, done)
        for info, name, final in batch.big:
            checkpoint()
            self.member = name
            before, size = self.done, info.file_size
            stored = info.compress_size if info.compress_type != zipfile.ZIP_STORED else size
            self.write(final, size, _zip_mtime(info), stored, self._zip_chunks(zf, info, ends))
            self.done = before + size
        self.tick()
        if batch.error is not None:
            raise batch.error

    def _locate(self, exc: OSError, task: Task) -> None:
        """An error on a file made relative to its folder names the file by its full path."""
        if exc.filename == task[1]:
            exc.filename = os.path.join(self.dest, task[0], task[1])

    def _record(self, batch: _Batch, done: bytes | bytearray) -> None:
        """Count the first ``len(done)`` tasks of ``batch`` (1: written, 0: already there) and record
        their sizes in the ledger."""
        landed = unused = skipped = 0
        folders: dict[str, list[tuple[str, int]]] = {}
        for task, wrote in zip(batch.tasks, done, strict=False):
            folder, base, size = task[0], task[1], task[5]
            entries = folders.get(folder)
            if entries is None:
                entries = folders[folder] = []
            entries.append((base, size))
            landed += size
            if not wrote:
                skipped += 1
                unused += size
        for folder, entries in folders.items():
            self.sizes.record_in(os.path.join(self.dest, folder) if folder else self.dest, entries)
        self.written += len(done) - skipped
        self.skipped += skipped
        self.bytes_written += landed - unused
        self.done += landed
        self.budget.landed(landed, unused)

    def _answers(self, helper: MembersHelper, sent: dict[int, _Batch], later: list[_Batch]) -> MembersHelper | None:
        """Take the helper's answers; None once it is gone (its unanswered batches go to ``later``)."""
        self._take(helper.answers(), sent, later)
        if not helper.gone:
            return helper
        self._take(helper.close(), sent, later)
        if sent:
            log.warning("the zip-members helper ended (exit code %s) with %d batches unanswered; "
                        "writing them in this process", helper.proc.returncode, len(sent))
            later.extend(sent.values())
            sent.clear()
        return None

    def _take(self, answers: list[Answer], sent: dict[int, _Batch], later: list[_Batch], *,
              raise_errors: bool = True) -> None:
        """Record answered batches; raise the error that stopped one (a bug of the helper's: its
        batch's rest goes to ``later``)."""
        for number, done, error in answers:
            batch = sent.pop(number)
            self._record(batch, done)
            self.helped += 1
            if error is None:
                continue
            rest = _Batch(batch.tasks[len(done):], batch.names[len(done):], [])
            if isinstance(error, RuntimeError) or not raise_errors:
                if isinstance(error, RuntimeError):
                    log.error("the zip-members helper failed; writing its batch here: %s", error)
                later.append(rest)
                continue
            self.member = rest.names[0]
            if isinstance(error, Overlaps):
                raise self._overlap(error.name)
            if isinstance(error, OSError):
                self._locate(error, rest.tasks[0])
            raise error

    def _pread_fd(self, zf: zipfile.ZipFile) -> int | None:
        """The zip's fd for a :class:`MemberWriter`, or None (a remote zip, no ``pread``): zipfile reads."""
        fp = zf.fp
        if self.fileobj is not None or fp is None or not hasattr(os, "pread"):
            return None
        return fp.fileno()

    def _zip_chunks(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo,
                    ends: dict[int, int | None]) -> Callable[[], Iterable[bytes]]:
        """What :meth:`write` reads a member from: zipfile's reader, the data's end checked."""

        def chunks() -> Iterator[bytes]:
            with zf.open(info) as src:
                start = getattr(src, "_orig_compress_start", None)
                if start is not None and data_overlaps(info, start, ends.get(info.header_offset)):
                    raise self._overlap(self.member)
                yield from self._read(src)

        return chunks

    def _overlap(self, name: str) -> SetupError:
        return _unsafe(self.archive.name, [f"{name} (overlaps another entry)"],
                       "Members before it were kept; report the source.")

    def run_tar(self) -> None:
        self.total = self.archive.stat().st_size
        with open(self.archive, "rb") as raw, tarfile.open(fileobj=raw, mode="r:*") as tf:
            self.budget.archive_size, self.budget.plain = self.total, tf.fileobj is raw
            self.position = raw.tell
            try:
                self._tar_members(tf, raw)
            finally:
                self.done = raw.tell()
                self.position = lambda: self.done

    def _tar_members(self, tf: tarfile.TarFile, raw: IO[bytes]) -> None:
        for ti in tf:
            self.tar_member(tf, ti)
        self.member = ""
        if tf.fileobj is raw:  # plain tar: a cut or garbled header ends tarfile's loop quietly
            raw.seek(tf.offset)
            block = raw.read(tarfile.BLOCKSIZE)
            if block and block != tarfile.NUL * tarfile.BLOCKSIZE:
                raise tarfile.ReadError(f"bad or truncated header at byte {tf.offset}")


def extract_archive(ctx: JobContext, archive: Path, kind: str, dest: Path, layout: Layout, *,
                    only: Collection[str] | None = None, fileobj: IO[bytes] | None = None,
                    expected: int | None = None) -> ExtractResult:
    """Extract ``archive`` (``kind`` "zip" or "tar", any tar compression) into ``dest``.

    ``only``: write just these target-relative paths (annotation-driven subsets, repair); the
    paths of ``only`` found in the archive are returned in ``ExtractResult.found``. ``fileobj``:
    read a zip from this seekable file instead (e.g. a remote zip through HTTP ranges); ``archive``
    then only names it in messages. ``expected``: the catalog's expectation of what the component
    extracts to (``approx_extracted``), one of the bounds of :mod:`wizard.engine.bounds`.

    Raises SetupError ARCHIVE_CORRUPT when the archive cannot be read, ARCHIVE_UNSAFE (after all
    safe members are written) when members were refused (overlapping zip entries: before any),
    ARCHIVE_TOO_LARGE when it would write past its bounds, NO_SPACE (parked) when a member does not
    fit the free space, and Cancelled at a cancel.
    """
    if kind not in ("zip", "tar"):
        raise SetupError(Code.INTERNAL, f"Cannot extract archive kind '{kind}'.", "Report this.")
    job = _Extraction(ctx, archive, dest, layout, only, fileobj, expected)
    try:
        if kind == "zip":
            job.run_zip()
        else:
            job.run_tar()
    except _DAMAGED as exc:
        at = f" (member {job.member})" if job.member else ""
        raise SetupError(
            Code.ARCHIVE_CORRUPT,
            f"{archive.name} is damaged: {exc}{at}",
            "Delete it and download again (the next run does this automatically); if it keeps "
            "happening, the source itself is bad: try another source or report it.",
        ) from exc
    except (NotImplementedError, RuntimeError) as exc:  # zip: unsupported method, encryption
        at = f" (member {job.member})" if job.member else ""
        raise SetupError(
            Code.ARCHIVE_CORRUPT,
            f"{archive.name} cannot be extracted here: {exc}{at}",
            "Extract it with another tool into the target folder and run again, or report the source.",
        ) from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise SetupError(
                Code.NO_SPACE,
                f"The disk holding {dest} is full while extracting {archive.name}.",
                "Free some space and run again; members already extracted are kept.", parked=True,
            ) from exc
        raise
    finally:
        job.sizes.flush()
    job.done = job.total
    job.tick(final=True)
    if job.refused:
        raise _unsafe(archive.name, job.refused,
                      f"Delete it from {archive.parent} and retry, or report the source.")
    return ExtractResult(job.written, job.skipped, job.ignored, job.bytes_written, frozenset(job.seen))


def _unsafe(name: str, refused: list[str], what_next: str) -> SetupError:
    shown = "; ".join(refused[:5]) + ("; …" if len(refused) > 5 else "")
    return SetupError(
        Code.ARCHIVE_UNSAFE,
        f"{name}: refused {len(refused)} unsafe member(s): {shown}",
        f"The archive is not what the catalog expects; nothing was written outside the target. {what_next}",
    )


class StreamedTar:
    """Members of one tar read from a stream (``tarfile.open(fileobj=..., mode="r|")``), possibly
    over several connections, through the same checks and atomic writes as :func:`extract_archive`.

    The caller feeds members with :meth:`member`; read and write errors propagate unchanged
    (the caller decides what is worth a retry). ``position``/``total`` drive the progress events.
    Counters can be seeded from an earlier, interrupted pass (:meth:`restore`).
    """

    def __init__(self, ctx: JobContext, name: str, dest: Path, layout: Layout, *,
                 only: Collection[str] | None = None, position: Callable[[], int] = lambda: 0,
                 total: int = 0, expected: int | None = None) -> None:
        self.name = name
        self._job = _Extraction(ctx, Path(name), dest, layout, only, expected=expected)
        self._job.position = position
        self._job.budget.plain = True  # a streamed tar is plain: its members fit in its size
        self.total = total

    @property
    def total(self) -> int:
        return self._job.total

    @total.setter
    def total(self, value: int) -> None:
        """The tar's size (0: unknown); it bounds what the members may write (sparse ones count
        by their real size)."""
        self._job.total = value
        self._job.budget.archive_size = value

    @property
    def refused(self) -> list[str]:
        return self._job.refused

    @property
    def current(self) -> str:
        """The member being read (for messages), or ""."""
        return self._job.member

    def counts(self) -> dict[str, int]:
        j = self._job
        return {"written": j.written, "skipped": j.skipped, "ignored": j.ignored, "bytes": j.bytes_written}

    def restore(self, counts: dict[str, int], refused: list[str]) -> None:
        j = self._job
        j.written, j.skipped = int(counts.get("written", 0)), int(counts.get("skipped", 0))
        j.ignored, j.bytes_written = int(counts.get("ignored", 0)), int(counts.get("bytes", 0))
        j.refused = list(refused)
        j.budget.written = j.bytes_written  # an interrupted pass's writes count against the bounds

    def member(self, tf: tarfile.TarFile, ti: tarfile.TarInfo) -> None:
        """Write, skip (already complete on disk), ignore (layout/``only``) or refuse one member."""
        self._job.tar_member(tf, ti)
        self._job.member = ""

    def tick(self, final: bool = False) -> None:
        self._job.tick(final)

    def flush(self) -> None:
        """Record the sizes of the members written so far (see :mod:`wizard.engine.sizes`)."""
        self._job.sizes.flush()

    def finish(self) -> ExtractResult:
        """The result once the whole tar was read; ARCHIVE_UNSAFE if members were refused."""
        j = self._job
        j.sizes.flush()
        j.tick(final=True)
        if j.refused:
            raise _unsafe(self.name, j.refused, "Nothing of it was kept as finished; report the source.")
        return ExtractResult(j.written, j.skipped, j.ignored, j.bytes_written, frozenset(j.seen))
