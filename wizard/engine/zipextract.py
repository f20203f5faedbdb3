"""The zip side of an extraction (:mod:`wizard.engine.extract`): checks, plan, and the writes.

Before anything is written, the central directory is checked (overlapping entries, what the
members declare against the bounds). Then the members are planned and written a batch of
:data:`BATCH` at a time: each member's path checked and placed, its folder made, its bytes admitted
by the bounds. A small member (at most one chunk, stored or deflated) becomes a
:data:`~wizard.engine.zipmembers.Task` for a :class:`~wizard.engine.zipmembers.MemberWriter`; a
larger one goes through zipfile's reader to a temp name renamed into place. From
:data:`PARALLEL_FROM` small members on, a helper process writes batches taken from the far end while
this process writes from the near end (:mod:`wizard.engine.zipsplit`); a member is counted and
recorded in the size ledger only once it is known to be whole on disk.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import stat
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .bounds import data_overlaps, overlapping_zip_entries, path_problem, unsafe
from .errors import SetupError
from .helper import allowed as helper_allowed
from .safefs import DIR_FD
from .zipmembers import MemberWriter, Overlaps, Task, fits
from .zipsplit import Answer, MembersHelper, start_helper

if TYPE_CHECKING:
    from .extract import _Extraction

log = logging.getLogger(__name__)

_UTF8_FLAG = 0x800
BATCH = 128  # members planned at a time; the helper process is handed batches of this many
AHEAD = 3  # batches the helper holds at once (one being written, the next ones queued)
#: Small members from which a zip is written by two processes: below, the helper's start-up
#: (about 0.1 s of CPU) costs about what it gives.
PARALLEL_FROM = 5000


def zip_name(info: zipfile.ZipInfo) -> str:
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


def zip_mtime(info: zipfile.ZipInfo) -> float | None:
    return _local_time(info.date_time)


@dataclass
class Batch:
    """Planned members of a range of the central directory."""

    tasks: list[Task]  # small members: written by a MemberWriter, here or in the helper
    names: list[str]  # each task's member name (messages)
    big: list[tuple[zipfile.ZipInfo, str, str]]  # (info, name, final path): through zipfile's reader
    error: SetupError | None = None  # the bounds stopped the range here: raised once the rest is written


class ZipExtraction:
    """Extracts the zip of ``job`` (its archive, or its ``fileobj``) with ``job``'s checks and counters."""

    def __init__(self, job: _Extraction) -> None:
        self.job = job
        self.helped = 0  # batches the helper answered

    def run(self) -> None:
        job = self.job
        with zipfile.ZipFile(job.fileobj or job.archive) as zf:
            infos = zf.infolist()
            job.total = sum(info.file_size for info in infos)
            names, rels, ends = self._checks(zf, infos)
            self._members(zf, infos, names, rels, ends)

    def _checks(self, zf: zipfile.ZipFile,
                infos: list[zipfile.ZipInfo]) -> tuple[list[str], list[str | None], dict[int, int | None]]:
        """Refuse overlapping entries and over-budget declarations before writing anything.
        Returns each entry's name, where the layout (and ``only``) puts it (None: nowhere), and
        where each entry's bytes must end (by header offset)."""
        job = self.job
        overlapping = overlapping_zip_entries(zf)
        if overlapping:
            raise unsafe(job.archive.name, [f"{n} (overlaps another entry)" for n in overlapping],
                         "Nothing was extracted from it; report the source.")
        fp = zf.fp
        if fp is not None:
            here = fp.tell()
            job.budget.archive_size = fp.seek(0, os.SEEK_END)
            fp.seek(here)
        names = [zip_name(info) for info in infos]
        rels: list[str | None] = []
        wanted = []
        mapped, only = job.layout.map, job.only
        for info, name in zip(infos, names, strict=True):
            rel = None if info.is_dir() else mapped(name)
            if rel is not None and only is not None and rel not in only:
                rel = None
            rels.append(rel)
            if rel is not None:
                stored = info.file_size if info.compress_type == zipfile.ZIP_STORED else info.compress_size
                wanted.append((info.filename, info.file_size, stored))
        job.budget.check_declared(wanted)
        offsets = sorted(info.header_offset for info in infos)
        ends: dict[int, int | None] = dict(itertools.pairwise(offsets))
        ends[offsets[-1] if offsets else 0] = getattr(zf, "start_dir", None)
        return names, rels, ends

    def _members(self, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], names: list[str],
                 rels: list[str | None], ends: dict[int, int | None]) -> None:
        """Plan and write the members a batch at a time: from the front here and, for a zip of
        many small members, from the back in the helper process."""
        fd = self._pread_fd(zf)
        writer = MemberWriter(fd, self.job.dest) if fd is not None else None
        count = len(infos)
        ranges = [(start, min(start + BATCH, count)) for start in range(0, count, BATCH)]
        helper = self._start_helper(infos, rels) if writer is not None else None
        front, back = 0, len(ranges)
        sent: dict[int, Batch] = {}  # batch (its range's index) -> what the helper was given
        later: list[Batch] = []  # written here next: the big members of the helper's ranges, a dead helper's batches

        def plan(i: int) -> Batch:
            return self._plan(infos, names, rels, ends, *ranges[i], tasks=writer is not None)

        try:
            while True:
                if helper is not None:
                    helper = self._answers(helper, sent, later)
                while helper is not None and len(sent) < AHEAD and back - 1 > front:
                    back -= 1
                    batch = plan(back)
                    if batch.error is not None:  # written here, then raised
                        later.append(batch)
                        break
                    if batch.big:
                        later.append(Batch([], [], batch.big))
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
                    self.job.ctx.control.checkpoint()
                    helper.wait()
                    self.job.tick()
                else:
                    break
        finally:
            if helper is not None:  # stopped by an error or a cancel: keep the record of what it wrote
                self._take(helper.close(stop=bool(sent)), sent, later, raise_errors=False)
                log.debug("%s: the helper process wrote %d of %d batches", self.job.archive.name,
                          self.helped, len(ranges))
            if writer is not None:
                writer.close()

    def _start_helper(self, infos: list[zipfile.ZipInfo], rels: list[str | None]) -> MembersHelper | None:
        """The helper process for a zip of many small members, or None (one process)."""
        one_go = self.job.one_go
        small = sum(1 for info, rel in zip(infos, rels, strict=True) if rel is not None and fits(info, one_go))
        if small < PARALLEL_FROM or not DIR_FD or not helper_allowed():
            return None
        wanted = [rel for rel in rels if rel is not None]
        if len(set(wanted)) != len(wanted):  # a name given twice: its last copy must win, as in one process
            return None
        return start_helper(str(self.job.archive), self.job.dest)

    def _plan(self, infos: list[zipfile.ZipInfo], names: list[str], rels: list[str | None],
              ends: dict[int, int | None], start: int, stop: int, *, tasks: bool) -> Batch:
        """Check, place and admit the members ``start`` to ``stop``; with ``tasks``, the small ones
        become tasks for a :class:`MemberWriter`. Ignored and refused members are counted here."""
        job = self.job
        batch = Batch([], [], [])
        for i in range(start, stop):
            info = infos[i]
            size = info.file_size
            if info.is_dir():
                job.ignored += 1
                job.done += size
                continue
            name = names[i]
            ftype = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
            regular = ftype in (0, stat.S_IFREG)
            placed = job.place(name, rels[i], path_problem(name), regular, "" if regular else "link or special file")
            if placed is None:
                job.done += size
                continue
            folder, base = placed
            if tasks and fits(info, job.one_go):
                stored = info.compress_size if info.compress_type != zipfile.ZIP_STORED else size
                try:
                    job.budget.admit(name, size, stored, reserve=True)
                except SetupError as exc:
                    batch.error = exc
                    break
                batch.tasks.append((folder, base, job.fresh(folder), info.header_offset, info.compress_size,
                                    size, info.CRC, info.compress_type, info.flag_bits, info.orig_filename,
                                    zip_mtime(info), ends.get(info.header_offset)))
                batch.names.append(name)
            else:
                batch.big.append((info, name, os.path.join(job.dest, folder, base)))
        return batch

    def _write(self, zf: zipfile.ZipFile, writer: MemberWriter | None, ends: dict[int, int | None],
               batch: Batch) -> None:
        """Write a planned batch in this process, a cancel checked before each member."""
        job = self.job
        checkpoint = job.ctx.control.checkpoint
        if batch.tasks:
            assert writer is not None
            write = writer.write
            done = bytearray()
            try:
                for task, name in zip(batch.tasks, batch.names, strict=True):
                    checkpoint()
                    job.member = name
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
            job.member = name
            before, size = job.done, info.file_size
            stored = info.compress_size if info.compress_type != zipfile.ZIP_STORED else size
            job.write(final, size, zip_mtime(info), stored, self._chunks(zf, info, ends))
            job.done = before + size
        job.tick()
        if batch.error is not None:
            raise batch.error

    def _locate(self, exc: OSError, task: Task) -> None:
        """An error on a file made relative to its folder names the file by its full path."""
        if exc.filename == task[1]:
            exc.filename = os.path.join(self.job.dest, task[0], task[1])

    def _record(self, batch: Batch, done: bytes | bytearray) -> None:
        """Count the first ``len(done)`` tasks of ``batch`` (1: written, 0: already there) and record
        their sizes in the ledger."""
        job = self.job
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
            job.sizes.record_in(os.path.join(job.dest, folder) if folder else job.dest, entries)
        job.written += len(done) - skipped
        job.skipped += skipped
        job.bytes_written += landed - unused
        job.done += landed
        job.budget.landed(landed, unused)

    def _answers(self, helper: MembersHelper, sent: dict[int, Batch], later: list[Batch]) -> MembersHelper | None:
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

    def _take(self, answers: list[Answer], sent: dict[int, Batch], later: list[Batch], *,
              raise_errors: bool = True) -> None:
        """Record answered batches; raise the error that stopped one (a bug of the helper's: its
        batch's rest goes to ``later``)."""
        for number, done, error in answers:
            batch = sent.pop(number)
            self._record(batch, done)
            self.helped += 1
            if error is None:
                continue
            rest = Batch(batch.tasks[len(done):], batch.names[len(done):], [])
            if isinstance(error, RuntimeError) or not raise_errors:
                if isinstance(error, RuntimeError):
                    log.error("the zip-members helper failed; writing its batch here: %s", error)
                later.append(rest)
                continue
            self.job.member = rest.names[0]
            if isinstance(error, Overlaps):
                raise self._overlap(error.name)
            if isinstance(error, OSError):
                self._locate(error, rest.tasks[0])
            raise error

    def _pread_fd(self, zf: zipfile.ZipFile) -> int | None:
        """The zip's fd for a :class:`MemberWriter`, or None (a remote zip, no ``pread``): zipfile reads."""
        fp = zf.fp
        if self.job.fileobj is not None or fp is None or not hasattr(os, "pread"):
            return None
        return fp.fileno()

    def _chunks(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo,
                ends: dict[int, int | None]) -> Callable[[], Iterable[bytes]]:
        """What the job's ``write`` reads a member from: zipfile's reader, the data's end checked."""

        def chunks() -> Iterator[bytes]:
            with zf.open(info) as src:
                start = getattr(src, "_orig_compress_start", None)
                if start is not None and data_overlaps(info, start, ends.get(info.header_offset)):
                    raise self._overlap(self.job.member)
                yield from self.job.read_chunks(src)

        return chunks

    def _overlap(self, name: str) -> SetupError:
        return unsafe(self.job.archive.name, [f"{name} (overlaps another entry)"],
                      "Members before it were kept; report the source.")
