"""Archive extraction: unpack a zip or tar into a component's target folder, safely and resumably.

Every member goes through the component's :class:`~wizard.engine.catalog.Layout`. Nothing is ever
written outside the target: absolute paths, ``..``, drive letters, links, devices and paths that
resolve outside it (a symlinked folder already inside it) are refused, and tar members must pass
``tarfile``'s ``data`` filter. A member of at most one chunk (the many small images) is read, then
created straight at its final name, exclusively and never through a link, and written with one
``write()`` — one directory operation, as ``unzip`` does; a kill inside that call leaves it short,
and a later run replaces it (zip members: :mod:`wizard.engine.zipmembers`, for a zip of many of
them partly in a helper process: :mod:`wizard.engine.zipextract`). A larger member is written to a
hidden temp name and renamed into place. A later run skips members already on disk at full size;
the size ledger (:mod:`wizard.engine.sizes`, appended in batches) records only whole members.
What an archive may write is bounded (:mod:`wizard.engine.bounds`): bombs, sparse tar members and
overlapping zip entries are stopped before they fill the disk.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
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
from typing import IO, Self, cast

from .bounds import Budget, path_problem, too_large, unsafe
from .catalog import Layout
from .context import JobContext
from .errors import Code, Problem, SetupError
from .fsinfo import folds_case, free_bytes
from .safefs import create_unless_complete, is_whole, open_nofollow, open_private
from .sizes import SizeLedger
from .zipextract import ZipExtraction


class _Damaged(Exception):
    """A read from the archive failed with an OSError (bz2/lzma data errors, I/O errors)."""


#: Read-side exceptions that mean the archive's bytes are bad.
_DAMAGED: tuple[type[BaseException], ...] = (
    _Damaged, zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile,
)
_TEMP_SUFFIX = ".extracting"
_PROGRESS_INTERVAL = 0.1  # seconds between progress events
_SMALL = 1 << 20  # members up to this size are read in one go
_UTIME_FD = os.utime in os.supports_fd
_MAX_DEPTH = 64  # folder levels of a member's path (the real archives have 0 to 2)


#: Compressions of tars that tarfile (Python 3.11) cannot read, by their magic bytes.
UNREADABLE_TARS = {b"\x28\xb5\x2f\xfd": "zstd", b"\x04\x22\x4d\x18": "lz4"}
#: Why tarfile stopped reading headers (private classes, stable since Python 3.2).
END_BLOCK: type[Exception] = tarfile.EOFHeaderError  # type: ignore[attr-defined]  # an all-zero block
NO_BLOCK: type[Exception] = tarfile.EmptyHeaderError  # type: ignore[attr-defined]  # EOF at a header


class TarMember(tarfile.TarInfo):
    """TarInfo that notes why the member list ended (tarfile ends it quietly on header errors):
    read it back with :func:`tar_end`."""

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> Self:
        try:
            return super().fromtarfile(tarfile_)
        except tarfile.HeaderError as exc:
            setattr(tarfile_, "_stream_end", exc)  # noqa: B010 - read back in tar_end
            raise


def tar_end(tf: tarfile.TarFile) -> Exception | None:
    """Why the member list of ``tf`` (opened with ``tarinfo=TarMember``) ended: an all-zero block
    (``END_BLOCK``), the end of the data at a header (``NO_BLOCK``), a bad or cut header."""
    end: Exception | None = getattr(tf, "_stream_end", None)
    return end


@dataclass(frozen=True)
class ExtractResult:
    """What one extraction did; ``skipped`` members were already complete on disk."""

    written: int  # members written this time
    skipped: int  # members already complete on disk (resume)
    ignored: int  # members the layout does not want (e.g. SAM .json, other folders)
    bytes_written: int
    found: frozenset[str] = frozenset()  # with ``only``: the wanted paths the archive holds


def _temp_name(base: str) -> str:
    if len(os.fsencode(base)) > 255 - len(_TEMP_SUFFIX) - 1:
        base = hashlib.sha1(os.fsencode(base), usedforsecurity=False).hexdigest()
    return f".{base}{_TEMP_SUFFIX}"


def _is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(_TEMP_SUFFIX) and len(name) > len(_TEMP_SUFFIX) + 1


def drop_temp_files(ctx: JobContext, target: str) -> int:
    """Delete the temp files (``.NAME.extracting``) that extractions killed mid-member left under
    the root's folder ``target`` (a kill -9 or a power loss skips the cleanup; no later extraction
    of that member may come to replace it), each logged: regular files only, links never followed,
    the state folder not entered. Run it only while nothing extracts there. Returns how many."""
    folder = ctx.root / target
    dropped = 0
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(os.path.join(folder, rel) if rel else folder) as entries:
                found = list(entries)
        except OSError:
            continue
        for entry in found:
            path = f"{rel}/{entry.name}" if rel else entry.name
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != ".sharegpt4v-setup":
                        stack.append(path)
                elif _is_temp_name(entry.name) and entry.is_file(follow_symlinks=False):
                    size = entry.stat(follow_symlinks=False).st_size
                    os.unlink(entry.path)
                    dropped += 1
                    ctx.log(f"deleted {target}/{path} ({size:,} bytes): a temp file of a member an "
                            "interrupted extraction left")
    return dropped


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
        self._inside: dict[str, bool] = {}  # a stored path's folder -> resolves inside dest (tar)
        self.dirs: set[str] = {""}  # relative folders known to be real and inside dest
        #: absolute folders this extraction created: nothing older is in them, so no member there
        #: needs the completeness check before it is written (a duplicate name still meets it)
        self.new_dirs: set[str] = {self.dest} if new else set()
        self._fresh: dict[str, bool] = {}  # relative folder -> in new_dirs
        self.refused: list[str] = []
        #: final paths of the tar members met so far: a name met again is a later copy, which
        #: wins (as with GNU tar and unzip) even at the size and mtime of the one before it
        self.met: set[str] = set()
        self._folds: bool | None = None  # the target's filesystem folds case (probed once, when needed)
        self._folded: dict[str, str] = {}  # casefolded path -> the first path met (folding targets only)
        self._case_said = False
        self.written = self.skipped = self.ignored = self.bytes_written = 0
        self.done = 0  # progress position (uncompressed bytes for zip, archive bytes for tar)
        self.total = 0
        self.position: Callable[[], int] = lambda: self.done
        self.member = ""
        self._last_tick = 0.0
        self.budget = Budget(archive.name, expected, free=self._free)
        # what verify compares the files with, under the target's name in the root (it may be a link)
        try:
            named = os.path.normpath(os.path.join(os.path.realpath(ctx.root), os.path.relpath(
                os.path.abspath(dest), os.path.abspath(ctx.root))))
        except ValueError:  # pragma: no cover - Windows: another drive than the root's
            named = self.dest
        self.sizes = SizeLedger(ctx.root, alias=(self.dest, named) if named != self.dest else None)
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
        problem = problem or path_problem(name)
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
        problem = problem or path_problem(rel) or ("backslash in name" if "\\" in rel else "")
        folder, _, base = rel.rpartition("/")
        if not problem and base in ("", ".", ".."):
            problem = "no file name"
        if not problem and folder.count("/") >= _MAX_DEPTH:
            problem = f"more than {_MAX_DEPTH} folders deep"
        if not problem and folder not in self.dirs:
            problem = self._make_folder(folder)
        if not problem and rel in self.dirs:  # the archive's own members made a folder at this name
            problem = "a folder of this archive is in the way"
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

    def _resolved_inside(self, folder: str) -> str | None:
        """The real path of the relative ``folder`` when it resolves inside the target, else None."""
        real = os.path.realpath(os.path.join(self.dest, folder)) if folder else self.dest
        return real if os.path.commonpath([real, self.dest]) == self.dest else None

    def _make_folder(self, folder: str) -> str:
        real = self._resolved_inside(folder)
        if real is None:
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

    def complete(self, final: str, size: int, mtime: float | None) -> bool:
        """True (and counted as skipped) when the member of ``size`` bytes and ``mtime`` is already
        whole at ``final`` (:func:`~wizard.engine.safefs.is_whole`)."""
        try:
            st = os.lstat(final)
        except FileNotFoundError:
            return False
        if is_whole(st, size, mtime):
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
        self.note_case(final)
        again = final in self.met  # a later copy of a member met already: it replaces the file
        self.met.add(final)
        if not again and os.path.dirname(final) not in self.new_dirs and self.complete(final, size, mtime):
            return
        self.budget.admit(self.member, size, stored)
        if size <= self.one_go:
            data = self._gather(chunks(), size)
            if again:  # whatever its size and mtime, unless it holds these bytes (a rerun writes nothing)
                if _holds(final, data, size):
                    self._skip(final, size)
                    return
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(final)
            fd = create_unless_complete(final, size, mtime)
            if fd is None:  # pragma: no cover - written meanwhile (the root lock keeps other runs out)
                self._skip(final, size)
                return
            self._fill(fd, final, final, data, size, mtime)
        else:
            folder, base = os.path.split(final)
            temp = os.path.join(folder, _temp_name(base))
            self._fill(open_private(Path(temp), truncate=True), temp, final, chunks(), size, mtime)

    def note_case(self, path: str) -> None:
        """Say once (a ``case-collision`` warning) when ``path`` and an earlier path of this
        archive differ only in letter case and the target's filesystem takes them for one name
        (exFAT, FAT, macOS): one file stays where the training data needs two, and verify would
        call the other missing on every run."""
        if self._case_said:
            return
        if self._folds is None:
            self._folds = folds_case(self.dest)
        if not self._folds:
            return
        first = self._folded.setdefault(path.casefold(), path)
        if first == path:
            return
        self._case_said = True
        self._folded.clear()
        one, two = (os.path.relpath(p, self.dest) if os.path.isabs(p) else p for p in (first, path))
        self.ctx.log(Problem(
            Code.CASE_COLLISION,
            f"{self.archive.name} holds names that differ only in letter case ({one} and {two}, maybe more); "
            f"{self.dest} is on a filesystem that takes them for one name (exFAT, FAT, macOS), so only one "
            "file of each such pair is kept and verify counts the other as missing.",
            "Choose a data root on a case-sensitive filesystem (ext4, XFS, Btrfs, a case-sensitive APFS "
            "volume) to keep both.").render(), "warning")

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

    def read_chunks(self, src: IO[bytes]) -> Iterator[bytes]:
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
        problem = self._filter_problem(ti)
        if ti.islnk() and not problem:
            self._hard_link(tf, ti)
            self.tick()
            return
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
                    yield from self.read_chunks(src)

            self.write(final, ti.size, float(ti.mtime), stored, chunks)
        self.tick()

    def _hard_link(self, tf: tarfile.TarFile, ti: tarfile.TarInfo) -> None:
        """A tar's hard link to an earlier member (``data_filter`` passed it: it stays inside the
        target), as GNU tar extracts it: a second name for the file that member placed, a hard link
        where the file system has them, else a copy. When that member was not placed (the layout or
        ``only`` left it out), a tar read from a file gives its data again; a streamed one cannot,
        and such a link, like one to nothing, is refused."""
        final = self.target(ti.name, None, True)
        if final is None:  # ignored (layout, ``only``) or refused
            return
        source = None if path_problem(ti.linkname) else self.layout.map(ti.linkname)
        src = self._placed(source) if source is not None else None
        if src is None:
            linked = _linked_member(tf, ti)
            if linked is None:
                self.refused.append(f"{ti.name} (hard link to {ti.linkname}, which is no file extracted here)")
                return

            def data() -> Iterator[bytes]:
                reader = tf.extractfile(linked)
                if reader is None:  # pragma: no cover - _linked_member gives regular members only
                    raise tarfile.ReadError(f"no data for {linked.name}")
                with reader:
                    yield from self.read_chunks(reader)

            self.write(final, linked.size, float(ti.mtime), linked.size, data)
            return
        st = os.lstat(src)
        with contextlib.suppress(OSError):
            if os.path.samestat(st, os.lstat(final)):  # linked by an earlier run (or a link to itself)
                self._skip(final, st.st_size)
                return
        if os.path.dirname(final) not in self.new_dirs and self.complete(final, st.st_size, st.st_mtime):
            return
        folder, base = os.path.split(final)
        temp = os.path.join(folder, _temp_name(base))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        try:
            os.link(src, temp, follow_symlinks=False)
        except OSError:  # no hard links here (exFAT, FAT, some network shares): a copy

            def chunks() -> Iterator[bytes]:
                with open(src, "rb") as fh:
                    yield from self.read_chunks(fh)

            self.write(final, st.st_size, st.st_mtime, st.st_size, chunks)
            return
        try:
            os.replace(temp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self.sizes.record(final, st.st_size)
        self.written += 1

    def _placed(self, rel: str) -> str | None:
        """The regular file (not a link) at the target-relative ``rel`` inside the target, or None."""
        folder = rel.rpartition("/")[0]
        if path_problem(rel) or self._resolved_inside(folder) is None:
            return None
        path = os.path.join(self.dest, rel)
        try:
            return path if stat.S_ISREG(os.lstat(path).st_mode) else None
        except OSError:
            return None

    def _filter_problem(self, ti: tarfile.TarInfo) -> str | None:
        """tarfile's ``data_filter`` verdict on ``ti`` (links, devices, a stored path that leaves
        the target, also through a link already in it). A regular file with a plain name gets the
        same verdict from its folder, resolved once per folder, and one ``lstat`` of the path —
        ``data_filter`` itself walks two ``realpath``s per member, a third of the extraction time
        of a streamed SA-1B tar."""
        name = ti.name
        if ti.isreg() and not path_problem(name):
            parent = name.rpartition("/")[0]
            inside = self._inside.get(parent)
            if inside is None:
                inside = self._inside[parent] = self._resolved_inside(parent) is not None
            if inside and not os.path.islink(os.path.join(self.dest, name)):
                return None
        try:
            tarfile.data_filter(ti, self.dest)
        except tarfile.FilterError as exc:
            return str(exc)
        except ValueError:  # a NUL in the name or link name (a pax header may hold one): realpath refuses it
            return path_problem(name) or f"NUL in the link name {ti.linkname!r}"
        return None

    def run_zip(self) -> None:
        ZipExtraction(self).run()

    def run_tar(self) -> None:
        self.total = self.archive.stat().st_size
        with open(self.archive, "rb") as raw, _open_tar(raw) as tf:
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
        end = tar_end(tf)  # a cut or garbled header ends tarfile's loop quietly
        if not isinstance(end, END_BLOCK | NO_BLOCK):
            at = "byte" if tf.fileobj is raw else "uncompressed byte"
            raise tarfile.ReadError(f"bad or truncated header at {at} {tf.offset:,}" + (f" ({end})" if end else ""))
        if isinstance(end, END_BLOCK) and tf.fileobj is not None and _data_after_end(cast(IO[bytes], tf.fileobj)):
            at = "byte" if tf.fileobj is raw else "uncompressed byte"
            self.ctx.log(f"{self.archive.name}: data after the end-of-archive marker at {at} {tf.offset:,} is "
                         "ignored, as tar does", "warning")


def _data_after_end(stream: IO[bytes]) -> bool:
    """Whether something other than zero padding follows a tar's end-of-archive block on
    ``stream`` (read at most 1 MiB; data that a compression reader refuses counts)."""
    left = 1 << 20
    try:
        while left > 0 and (block := stream.read(min(left, 64 * 1024))):
            if block.count(0) != len(block):
                return True
            left -= len(block)
    except _DAMAGED:
        return True
    return False


def _holds(path: str, data: list[bytes], size: int) -> bool:
    """Whether the regular file at ``path`` (never followed) holds exactly the ``size`` bytes ``data``."""
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "rb") as f:
            return f.read(size + 1) == b"".join(data)
    except OSError:
        return False


def _linked_member(tf: tarfile.TarFile, ti: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """The earlier regular member the hard link ``ti`` names, when ``tf`` can read it again (not
    in stream mode); else None. Reads the rest of the tar's headers once (tarfile's own lookup)."""
    if isinstance(tf.fileobj, tarfile._Stream):  # type: ignore[attr-defined]  # mode "r|": no going back
        return None
    try:
        member: tarfile.TarInfo = tf._find_link_target(ti)  # type: ignore[attr-defined]  # private, stable since 3.2
    except KeyError:
        return None
    return member if member.isreg() else None


def _open_tar(raw: IO[bytes]) -> tarfile.TarFile:
    """tarfile's reading of the tar on ``raw`` (plain, gzip, bzip2 or xz); a compression tarfile
    does not read is NotImplementedError (the tar is not damaged)."""
    try:
        return tarfile.open(fileobj=raw, mode="r:*", tarinfo=TarMember)
    except tarfile.ReadError:
        raw.seek(0)
        magic = raw.read(8)
        for signature, kind in UNREADABLE_TARS.items():
            if magic.startswith(signature):
                raise NotImplementedError(f"it is a {kind}-compressed tar, which this app cannot read") from None
        raise


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
    except NotImplementedError as exc:  # zip: unsupported method, encryption (zipdir.open_member); zstd tar
        at = f" (member {job.member})" if job.member else ""
        raise SetupError(  # not damaged: downloading it again would not help
            Code.ARCHIVE_UNSUPPORTED,
            f"{archive.name} cannot be extracted here: {exc}{at}",
            f"Extract it with another tool (7-Zip, bsdtar) and give the extracted folder as a local copy "
            f"(--local COMPONENT=FOLDER), or report the source. It is kept in {archive.parent}.",
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
        raise unsafe(archive.name, job.refused,
                      f"Delete it from {archive.parent} and retry, or report the source.")
    return ExtractResult(job.written, job.skipped, job.ignored, job.bytes_written, frozenset(job.seen))


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

    def new_pass(self) -> None:
        """A new read of the tar begins (a retry from the resume point, or from byte 0 for a gzip
        tar): members met before are met again as themselves, not as later copies of a name, and
        the folders the earlier passes made hold files now (each member is checked before it is written)."""
        if not self._job.met and not self._job.written:  # the first pass (nothing met yet)
            return
        job = self._job
        job.met.clear()
        job.new_dirs.clear()
        job._fresh.clear()

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
            raise unsafe(self.name, j.refused, "Nothing of it was kept as finished; report the source.")
        return ExtractResult(j.written, j.skipped, j.ignored, j.bytes_written, frozenset(j.seen))
