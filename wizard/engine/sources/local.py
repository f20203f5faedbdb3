"""Copies the user already has (``--local COMPONENT=PATH``): an archive, a folder of archives, or a
folder of files.

An archive is first checked against what the component's sources say (size, sha256 where known,
zip/tar signature); a wrong file is refused before anything is placed. A good one is hard-linked
(or copied) into the downloads folder and yielded, so the pipeline extracts it and deletes only
that link — never the user's file, unless ``local_mode`` is ``move``. A folder of files is placed
into the component's target by hard link (default; a copy across filesystems), copy or move,
resumably: files already there with the same size are skipped. Nothing is written outside the
data root and the user's copy is never modified except in move mode.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from collections.abc import Collection, Iterator
from fnmatch import fnmatchcase
from pathlib import Path

from ..catalog import Catalog, Component, Source
from ..context import JobContext, Settings
from ..errors import Code, SetupError
from ..events import Stage
from ..safefs import file_kind, file_kind_nofollow, open_private_file
from .drive import hash_file
from .registry import SourceKind

log = logging.getLogger(__name__)

MODES = ("hardlink", "copy", "move")
_ARCHIVE_SUFFIXES = {"zip": (".zip",), "tar": (".tar",)}
_LINK_ERRORS = {errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}
_HINT = ("Check the path given with --local: it must be the file the catalog names (same size and sha256) "
         "or a folder of the extracted files. Drop --local to download it instead.")


def fetch(ctx: JobContext, component: Component, source: Source, catalog: Catalog) -> Iterator[Path]:
    """Source module entry point for ``kind = "local"`` (``source.url`` is the user's path)."""
    mode = ctx.settings.local_mode
    if mode not in MODES:
        raise SetupError(Code.LOCAL_INVALID, f"Unknown local mode '{mode}'.", "Use hardlink, copy or move.")
    path = Path(source.url).expanduser()
    if not path.exists():
        name = _official_name(component) or path.name
        if mode == "move" and (ctx.item_done(name) or (ctx.downloads / name).is_file()):
            if not ctx.item_done(name):  # moved in by an earlier, interrupted run
                yield ctx.downloads / name
            return
        raise SetupError(Code.LOCAL_INVALID, f"The local copy {path} for {component.id} does not exist.", _HINT)
    kind = file_kind(path)
    if kind not in ("file", "folder"):  # a FIFO would hang, a device never ends
        raise SetupError(Code.LOCAL_INVALID, f"The local copy {path} for {component.id} is a {kind}, "
                         "not a regular file or a folder.", _HINT)
    if kind == "file":
        yield from _archive(ctx, component, path, _official_name(component) or path.name, several=False)
    elif _is_archive_folder(component, path):
        for archive in sorted(p for p in path.iterdir() if p.is_file()):
            yield from _archive(ctx, component, archive, archive.name, several=True)
    else:
        _place_folder(ctx, component, path)


def _official_name(component: Component) -> str | None:
    """The name the component's file has in the catalog (None for sources of many files)."""
    return next((s.file_name for s in component.sources if s.kind in ("http", "hub", "drive")), None)


# ------------------------------------------------------------------------------------------
# An archive (or a single file such as an annotation JSON)
# ------------------------------------------------------------------------------------------
def _archive(ctx: JobContext, component: Component, path: Path, name: str, *,
             several: bool) -> Iterator[Path]:
    if ctx.item_done(name):
        return
    if component.archive == "none" and (component.file_count or 1) > 1:
        raise SetupError(Code.LOCAL_INVALID,
                         f"{path} is a file, but {component.title} is a folder of {component.file_count:,} files.",
                         "Give the folder that holds the files with --local.")
    _verify(ctx, component, path, several=several)
    dest = ctx.downloads / name
    if dest.exists() and _same_file(dest, path):
        yield dest
        return
    dest.unlink(missing_ok=True)
    done = _Mover(ctx).bring(path, dest)
    ctx.log(f"using the local copy {path} ({done})")
    yield dest


def _verify(ctx: JobContext, component: Component, path: Path, *, several: bool) -> None:
    """Refuse a file that is not what the component's sources describe (size, sha256, signature)."""
    size = path.stat().st_size
    known = [s for s in component.sources if s.kind != "local" and (s.size is not None or s.sha256)]
    if not several and known:
        sizes = {s.size for s in known if s.size is not None}
        if sizes and size not in sizes:
            want = " or ".join(f"{n:,}" for n in sorted(sizes))
            raise SetupError(Code.LOCAL_INVALID,
                             f"{path} is not the expected file for {component.id} (size {size:,} bytes, "
                             f"expected {want}).", _HINT)
        hashes = {s.sha256.lower() for s in known if s.sha256 and s.size in (None, size)}
        if hashes:
            stamp = [str(path.resolve()), size, path.stat().st_mtime_ns]
            rec = ctx.journal.get(ctx.job)
            if not (rec and rec.info.get("local_verified") == stamp):
                digest = hash_file(ctx, path)
                if digest not in hashes:
                    raise SetupError(Code.LOCAL_INVALID,
                                     f"{path} is not the expected file for {component.id} (sha256 "
                                     f"{digest[:12]}…, expected {sorted(hashes)[0][:12]}…).", _HINT)
                ctx.journal.update_info(ctx.job, local_verified=stamp)
    elif not known:
        ctx.log(f"{path}: the catalog knows no size or checksum for {component.id}; using it unchecked")
    with open(path, "rb") as fh:
        head = fh.read(512)
    if component.archive == "zip" and not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise SetupError(Code.LOCAL_INVALID, f"{path} is not a zip archive.", _HINT)
    compressed = head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"))  # gzip/bzip2/xz: extraction reads them
    if component.archive == "tar" and head[257:262] != b"ustar" and not compressed:
        raise SetupError(Code.LOCAL_INVALID, f"{path} is not a tar archive.", _HINT)


def _same_file(a: Path, b: Path) -> bool:
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino) or sa.st_size == sb.st_size


def _is_archive_folder(component: Component, path: Path) -> bool:
    """A folder holding only archives of the component's kind (e.g. the SA-1B tars)."""
    suffixes = _ARCHIVE_SUFFIXES.get(component.archive)
    if not suffixes:
        return False
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    return bool(entries) and all(p.is_file() and p.name.lower().endswith(suffixes) for p in entries)


# ------------------------------------------------------------------------------------------
# Moving bytes
# ------------------------------------------------------------------------------------------
class _Mover:
    """Puts files in place by the run's mode (hardlink falls back to copy, once said in the log)."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.mode = ctx.settings.local_mode
        self.link_failed = False

    def bring(self, src: Path, dest: Path) -> str:
        """Put ``src`` at ``dest`` (inside the root); returns what was done."""
        ctx = self.ctx
        if self.mode == "move":
            try:
                os.replace(src, dest)
                return "moved"
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
            _copy(ctx, src, dest)
            src.unlink()
            return "moved (copied across filesystems)"
        if self.mode == "hardlink" and not self.link_failed:
            try:
                os.link(src, dest)
                return "hard-linked"
            except OSError as exc:
                if exc.errno not in _LINK_ERRORS:
                    raise
                self.link_failed = True
                ctx.log(f"cannot hard-link from {src.parent} into the data root ({exc.strerror}); "
                        "copying instead", "warning")
        _copy(ctx, src, dest)
        return "copied"


def _copy(ctx: JobContext, src: Path, dest: Path) -> None:
    """Copy through a temporary name in the downloads folder, then rename into place."""
    tmp = ctx.downloads / f".local-{os.getpid()}-{time.monotonic_ns()}.tmp"
    try:
        with open(src, "rb") as fin, open_private_file(tmp, "wb") as fout:
            while block := fin.read(4 << 20):
                ctx.control.checkpoint()
                fout.write(block)
        shutil.copystat(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------
# A folder of files
# ------------------------------------------------------------------------------------------
def _folder_files(component: Component, folder: Path) -> list[tuple[Path, str]]:
    """(source file, path relative to the target) for every file the component keeps."""
    layout = component.layout
    found: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if layout.include and not any(fnmatchcase(name, pat) for pat in layout.include):
                continue
            full = Path(dirpath) / name
            if file_kind_nofollow(full) != "file":  # a link, FIFO or device is never placed or read
                log.info("--local: skipping %s (not a regular file)", full)
                continue
            rel = full.relative_to(folder).as_posix()
            found.append((full, name if layout.flatten else rel))
    return found


def _place_folder(ctx: JobContext, component: Component, folder: Path) -> None:
    target = (ctx.root / component.target).resolve()
    folder = folder.resolve()
    if folder == target or target in folder.parents:
        ctx.log(f"{folder} is already inside the target {component.target}; nothing to place")
        return
    inner = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(inner) == 1 and inner[0].is_dir() and inner[0].name == target.name:
        ctx.log(f"using {inner[0]} (the folder inside {folder})")
        folder = inner[0]
    files = _folder_files(component, folder)
    expected = component.file_count
    count = len(files)
    if ctx.settings.local_mode == "move" and target.is_dir():  # files moved by an interrupted run
        count = len({rel for _src, rel in files} | {p.relative_to(target).as_posix()
                                                     for p in target.rglob("*") if p.is_file()})
    if expected and (count < expected // 2 or count > expected * 2 + 10):
        raise SetupError(Code.LOCAL_INVALID,
                         f"{folder} holds {count:,} usable files; {component.title} has about {expected:,}.",
                         "Give the folder that directly holds the images (or the archive itself) with --local.")
    if expected and count != expected:
        ctx.log(f"{folder} holds {count:,} files; the catalog expects about {expected:,}", "warning")
    mover = _Mover(ctx)
    ctx.stage(Stage.PLACING, f"{len(files):,} files from {folder}")
    placed = skipped = 0
    how: dict[str, int] = {}  # what bring did, counted: a hardlink run may have copied
    last = 0.0
    for index, (src, rel) in enumerate(files, start=1):
        ctx.control.checkpoint()
        dest = target / rel
        if target not in dest.resolve().parents:
            raise SetupError(Code.LOCAL_INVALID, f"{src} would land outside {component.target}.", _HINT)
        try:
            if dest.stat().st_size == src.stat().st_size:
                skipped += 1
                continue
        except FileNotFoundError:
            pass
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            dest.unlink()
        done = mover.bring(src, dest)
        how[done] = how.get(done, 0) + 1
        placed += 1
        if time.monotonic() - last >= 0.1 or index == len(files):
            last = time.monotonic()
            ctx.progress(index, len(files))
    done = ", ".join(f"{count:,} {what}" for what, count in how.items()) or ctx.settings.local_mode
    ctx.log(f"{component.id}: {placed:,} files placed from {folder} ({done}), {skipped:,} already there")


def copy_source(path: Path) -> Source:
    """The source standing for the user's copy at ``path`` (``--local COMPONENT=PATH``)."""
    return Source(kind=KIND.name, label=f"local copy at {path}", url=str(path))


class LocalKind(SourceKind):
    """``kind = "local"``: a copy the user already has (an archive, a folder of archives, or a
    folder of extracted files), put in place by hardlink, copy or move."""

    name = "local"
    is_local = True

    def fetch(self, ctx: JobContext, component: Component, source: Source, catalog: Catalog, *,
              only: Collection[str] | None = None) -> Iterator[Path]:
        return fetch(ctx, component, source, catalog)

    def host(self, source: Source, settings: Settings, catalog: Catalog) -> str:
        return self.name  # the local disk: never counted against a server

    def host_label(self, source: Source, hub_endpoint: str, catalog: Catalog) -> str:
        return "local copy"


KIND = LocalKind()
