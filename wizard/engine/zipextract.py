"""The zip side of an extraction (:mod:`wizard.engine.extract`): checks, plan, and the writes.

The central directory is read into plain tuples (:mod:`wizard.engine.zipdir`; zipfile reads the
zips that reader leaves to it, and zips read through a file object). Before anything is written,
it is checked (overlapping entries, what the members declare against the bounds). Then the members
are planned and written a batch of :data:`BATCH` at a time: each member's path checked and placed,
its folder made, its bytes admitted by the bounds. A small member (at most one chunk, stored or
deflated) becomes a :data:`~wizard.engine.zipmembers.Task` for a
:class:`~wizard.engine.zipmembers.MemberWriter`; a larger one goes through zipfile's reader to a
temp name renamed into place. From :data:`PARALLEL_FROM` small members on, a helper process writes
batches taken from the far end while this process writes from the near end
(:mod:`wizard.engine.zipsplit`); a member is counted and recorded in the size ledger only once it
is known to be whole on disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .bounds import RATIO_FLOOR, path_problem, unsafe
from .errors import SetupError
from .helper import allowed as helper_allowed
from .safefs import DIR_FD
from .zipdir import (
    CSIZE,
    METHOD,
    MTIME,
    NAME,
    OFFSET,
    SIZE,
    Directory,
    Entry,
    entries_from_zipfile,
    open_member,
    open_zip,
    overlaps,
    read_directory,
)
from .zipmembers import MemberWriter, Overlaps, Task, fits
from .zipsplit import Answer, MembersHelper, start_helper

if TYPE_CHECKING:
    from .extract import _Extraction

log = logging.getLogger(__name__)

BATCH = 128  # members planned at a time; the helper process is handed batches of this many
AHEAD = 3  # batches the helper holds at once (one being written, the next ones queued)
#: Small members from which a zip is written by two processes: below, the helper's start-up
#: (about 0.1 s of CPU) costs about what it gives.
PARALLEL_FROM = 5000
_IFREG = 0o100000  # stat.S_IFREG
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass
class Batch:
    """Planned members of a range of the central directory."""

    tasks: list[Task]  # small members: written by a MemberWriter, here or in the helper
    names: list[str]  # each task's member name (messages)
    big: list[tuple[int, str, str]]  # (entry index, name, final path): through zipfile's reader
    error: SetupError | None = None  # the bounds stopped the range here: raised once the rest is written


class ZipExtraction:
    """Extracts the zip of ``job`` (its archive, or its ``fileobj``) with ``job``'s checks and counters."""

    def __init__(self, job: _Extraction) -> None:
        self.job = job
        self.helped = 0  # batches the helper answered
        self.entries: list[Entry] = []
        self._zf: zipfile.ZipFile | None = None  # zipfile's reading of the zip, once a member needs it
        self._infos: list[zipfile.ZipInfo] = []
        self._stack = contextlib.ExitStack()

    def run(self) -> None:
        job = self.job
        with self._stack:
            fd: int | None = None
            directory = None
            if job.fileobj is None and hasattr(os, "pread"):
                fd = os.open(job.archive, _OPEN_FLAGS)
                self._stack.callback(os.close, fd)
                job.budget.archive_size = os.fstat(fd).st_size
                directory = read_directory(fd, job.budget.archive_size)
            if directory is None:
                zf = self._open_zipfile()
                directory = entries_from_zipfile(zf)
                if zf.fp is not None and fd is None:
                    here = zf.fp.tell()
                    job.budget.archive_size = zf.fp.seek(0, os.SEEK_END)
                    zf.fp.seek(here)
            self.entries = directory.entries
            job.total = sum(entry[SIZE] for entry in self.entries)
            rels, ends = self._checks(directory)
            self._members(fd, rels, ends)

    def _open_zipfile(self) -> zipfile.ZipFile:
        """zipfile's reading of the zip (for the members :class:`MemberWriter` does not write)."""
        if self._zf is None:
            job = self.job
            self._zf = self._stack.enter_context(open_zip(job.fileobj or job.archive))
            self._infos = self._zf.infolist()
        return self._zf

    def _info(self, index: int) -> zipfile.ZipInfo:
        """zipfile's ZipInfo of the entry ``index`` (the zip read again: it must not have changed)."""
        self._open_zipfile()
        entry = self.entries[index]
        info = self._infos[index] if len(self._infos) == len(self.entries) else None
        if info is None or (info.header_offset, info.compress_size, info.file_size) != (
                entry[OFFSET], entry[CSIZE], entry[SIZE]):
            raise zipfile.BadZipFile("the central directory changed while it was read")
        return info

    def _checks(self, directory: Directory) -> tuple[list[str | None], dict[int, int]]:
        """Refuse overlapping entries and over-budget declarations before writing anything.
        Returns where the layout (and ``only``) puts each entry (None: nowhere) and where each
        entry's bytes must end (by local header offset)."""
        job = self.job
        overlapping, ends = overlaps(directory)
        if overlapping:
            raise unsafe(job.archive.name, [f"{n} (overlaps another entry)" for n in overlapping],
                         "Nothing was extracted from it; report the source.")
        rels: list[str | None] = []
        append = rels.append
        mapped, only = job.layout.map, job.only
        declared = 0
        ratio_checked: list[tuple[str, int, int | None]] = []
        for entry in self.entries:
            name = entry[NAME]
            if name[-1:] == "/":
                append(None)
                continue
            rel = mapped(name)
            if rel is not None and only is not None and rel not in only:
                rel = None
            append(rel)
            if rel is not None:
                size = entry[SIZE]
                declared += size
                if size >= RATIO_FLOOR:
                    ratio_checked.append((name, size, size if entry[METHOD] == zipfile.ZIP_STORED else entry[CSIZE]))
        job.budget.check_declared(declared, ratio_checked)
        rels = _last_copies(rels)
        for rel in rels:
            if rel is not None:
                job.note_case(rel)
        return rels, ends

    def _members(self, fd: int | None, rels: list[str | None], ends: dict[int, int]) -> None:
        """Plan and write the members a batch at a time: from the front here and, for a zip of
        many small members, from the back in the helper process."""
        writer = MemberWriter(fd, self.job.dest) if fd is not None else None
        count = len(self.entries)
        ranges = [(start, min(start + BATCH, count)) for start in range(0, count, BATCH)]
        helper = self._start_helper(rels) if writer is not None else None
        front, back = 0, len(ranges)
        sent: dict[int, Batch] = {}  # batch (its range's index) -> what the helper was given
        later: list[Batch] = []  # written here next: the big members of the helper's ranges, a dead helper's batches

        def plan(i: int) -> Batch:
            return self._plan(rels, ends, *ranges[i], tasks=writer is not None)

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
                    self._write(writer, ends, later.pop())
                elif front < back:
                    front += 1
                    self._write(writer, ends, plan(front - 1))
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

    def _start_helper(self, rels: list[str | None]) -> MembersHelper | None:
        """The helper process for a zip of many small members, or None (one process)."""
        if len(self.entries) < PARALLEL_FROM or not DIR_FD or not helper_allowed():
            return None
        one_go = self.job.one_go
        small = sum(1 for entry, rel in zip(self.entries, rels, strict=True) if rel is not None and fits(entry, one_go))
        if small < PARALLEL_FROM:
            return None
        return start_helper(str(self.job.archive), self.job.dest)

    def _plan(self, rels: list[str | None], ends: dict[int, int], start: int, stop: int, *, tasks: bool) -> Batch:
        """Check, place and admit the members ``start`` to ``stop``; with ``tasks``, the small ones
        become tasks for a :class:`MemberWriter`. Ignored and refused members are counted here.
        Small members' bytes are reserved against the bounds together while they fit the room
        the bounds leave (:meth:`~wizard.engine.bounds.Budget.room`), one by one past it."""
        job = self.job
        budget, one_go, place, fresh = job.budget, job.one_go, job.place, job.fresh
        batch = Batch([], [], [])
        task, names, big = batch.tasks.append, batch.names.append, batch.big.append
        entries = self.entries
        room = budget.room() if tasks else 0
        reserved = skipped = 0
        for i in range(start, stop):
            entry = entries[i]
            name, raw, _flags, method, mtime, crc, csize, size, offset, ftype = entry
            if name[-1:] == "/":
                job.ignored += 1
                skipped += size
                continue
            regular = ftype == 0 or ftype == _IFREG
            placed = place(name, rels[i], path_problem(name), regular, "" if regular else "link or special file")
            if placed is None:
                skipped += size
                continue
            folder, base = placed
            if tasks and fits(entry, one_go):
                if size <= room and size < RATIO_FLOOR:
                    room -= size
                    reserved += size
                else:
                    budget.reserve(reserved)
                    reserved = 0
                    try:
                        budget.admit(name, size, csize if method != zipfile.ZIP_STORED else size, reserve=True)
                    except SetupError as exc:
                        batch.error = exc
                        break
                    room = budget.room()
                task((folder, base, fresh(folder), offset, csize, size, crc, method, raw, mtime, ends[offset]))
                names(name)
            else:
                big((i, name, os.path.join(job.dest, folder, base)))
        budget.reserve(reserved)
        job.done += skipped
        return batch

    def _write(self, writer: MemberWriter | None, ends: dict[int, int], batch: Batch) -> None:
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
            except Overlaps:
                raise self._overlap(job.member) from None
            except OSError as exc:
                self._locate(exc, batch.tasks[len(done)])
                raise
            finally:
                self._record(batch, done)
        for index, name, final in batch.big:
            checkpoint()
            job.member = name
            entry = self.entries[index]
            before, size = job.done, entry[SIZE]
            stored = entry[CSIZE] if entry[METHOD] != zipfile.ZIP_STORED else size
            job.write(final, size, entry[MTIME], stored, self._chunks(index, ends))
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
                raise self._overlap(self.job.member)
            if isinstance(error, OSError):
                self._locate(error, rest.tasks[0])
            raise error

    def _chunks(self, index: int, ends: dict[int, int]) -> Callable[[], Iterable[bytes]]:
        """What the job's ``write`` reads the entry ``index`` from: zipfile's reader, the data's
        end checked."""

        def chunks() -> Iterator[bytes]:
            info = self._info(index)
            zf = self._open_zipfile()
            with open_member(zf, info) as src:
                start = getattr(src, "_orig_compress_start", None)
                if start is not None and start + info.compress_size > ends[info.header_offset]:
                    raise self._overlap(self.job.member)
                yield from self.job.read_chunks(src)

        return chunks

    def _overlap(self, name: str) -> SetupError:
        return unsafe(self.job.archive.name, [f"{name} (overlaps another entry)"],
                      "Members before it were kept; report the source.")


def _last_copies(rels: list[str | None]) -> list[str | None]:
    """``rels`` with every copy of a path but the last one put nowhere (None): a name given twice
    is written once, from its last entry, as unzip leaves it (the earlier copy was written and then
    kept, as 'already there', when both had the same size and time)."""
    last: dict[str, int] = {}
    for i, rel in enumerate(rels):
        if rel is not None:
            last[rel] = i
    if len(last) == sum(rel is not None for rel in rels):
        return rels
    return [rel if rel is None or last[rel] == i else None for i, rel in enumerate(rels)]
