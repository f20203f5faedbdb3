"""One component, start to finish: fetch → verify → extract → place, resumable at each step.

The source module downloads and verifies each file; this module extracts archives into the
component's target folder (or places plain files), removes archives unless they are kept, and
records each finished file in the journal so a rerun skips it. SA-1B tars are instead extracted
while they download (:mod:`wizard.engine.tarstream`, ``Settings.stream_tars``): the source yields
a :class:`~wizard.engine.tarstream.Streamed` record per tar, which is only counted here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from .catalog import Catalog, Component, Source
from .context import JobContext
from .errors import Code, SetupError
from .events import Stage
from .extract import extract_archive
from .fsinfo import is_disk_full
from .layoutprobe import adapted_note, adopt, check_local, probe, recorded_layout
from .net.bounds import quarantine
from .sources import kind_of
from .tarstream import Streamed

log = logging.getLogger(__name__)


def target_dir(ctx: JobContext, component: Component) -> Path:
    return ctx.root / component.target


def run_component(ctx: JobContext, component: Component, source: Source, catalog: Catalog, *,
                  only: set[str] | None = None, subset: list[str] | None = None) -> str:
    """Bring one component into place. Returns a one-line summary; raises SetupError/Cancelled.

    ``only``: extract just these target-relative paths (the images the run's annotation JSONs
    reference, named in ``subset``); the journal records which JSONs the subset was for.
    """
    ctx.journal.set_stage(ctx.job, Stage.DOWNLOADING.value, source=source.label)
    ctx.journal.update_info(ctx.job, subset=subset if only is not None else None,
                            nothing_referenced=only is not None and not only)
    target = target_dir(ctx, component)
    if only is not None and not only and component.archive != "none":
        ctx.log(f"the selected annotations reference no image in {component.target}: nothing to fetch")
        return "not referenced by the selected annotations"
    original = component.layout
    component = _layout_checked(ctx, component, source, catalog)
    files = 0
    written = skipped = 0
    try:
        for path in _files(ctx, component, source, catalog, only):
            ctx.control.checkpoint()
            files += 1
            log.debug("%s: %s from %s (%s)", ctx.job, path.name, source.kind,
                      "streamed" if isinstance(path, Streamed) else "on disk")
            if isinstance(path, Streamed):  # extracted while it downloaded; nothing on disk to remove
                written += path.result.written
                skipped += path.result.skipped
                if path.result.written + path.result.skipped == 0 and only is None:
                    raise _layout_problem(path.name, component, streamed=True)
                ctx.mark_item_done(path.name)
                continue
            if component.archive == "none":
                ctx.stage(Stage.PLACING, path.name)
                target.mkdir(parents=True, exist_ok=True)
                os.replace(path, target / path.name)
                written += 1
            else:
                ctx.stage(Stage.EXTRACTING, path.name)
                if component.archive == "zip":
                    component = check_local(ctx, component, path)
                try:
                    result = extract_archive(ctx, path, component.archive, target, component.layout, only=only,
                                             expected=component.approx_extracted)
                except SetupError as exc:
                    if exc.problem.code == Code.ARCHIVE_CORRUPT:
                        kept = quarantine(ctx, path, "corrupt")
                        ctx.journal.update_info(ctx.job, items_done=[
                            n for n in _items_done(ctx) if n != path.name])
                        raise SetupError(exc.problem.code, exc.problem.message,
                                         f"It was moved to {kept}; the next run downloads it again.") from exc
                    raise
                written += result.written
                skipped += result.skipped
                if result.written + result.skipped == 0 and only is None:
                    raise _layout_problem(path.name, component)
                ctx.stage(Stage.PLACING, path.name)
                if not ctx.settings.keep_archives:
                    path.unlink(missing_ok=True)
            ctx.mark_item_done(path.name)
    except OSError as exc:
        if is_disk_full(exc):
            raise SetupError(Code.NO_SPACE, f"The disk under {ctx.root} is full ({exc.strerror}).",
                             "Free some space and run again; finished files are kept and the rest "
                             "resumes.", parked=True) from exc
        raise
    if files == 0 and not _target_has_files(target):
        raise SetupError(Code.LAYOUT_INCOMPLETE, f"Nothing was placed in {component.target}.",
                         "Run again; if it persists, the source is empty or the catalog is wrong.")
    # With a subset the wanted images may come from several components (sam/images): no count check.
    count = _count_files(target) if component.file_count and only is None else None
    if count is not None and component.file_count and count < component.file_count:
        ctx.log(f"{component.target} holds {count:,} files; the catalog expects about "
                f"{component.file_count:,}", "warning")
    log.debug("%s: %d file(s) from the source, %d written, %d already in place", ctx.job, files, written, skipped)
    adapted = adapted_note(component, original)
    if files == 0:  # the source placed its files itself (OCR-VQA images, local folders)
        return f"{_count_files(target):,} files in {component.target}{adapted}"
    return f"{written} written, {skipped} already in place{adapted}"


def _layout_checked(ctx: JobContext, component: Component, source: Source, catalog: Catalog) -> Component:
    """The component with the layout adapted earlier (journal), or checked now on the server
    (:mod:`wizard.engine.layoutprobe`) for a zip not downloaded yet."""
    rec = ctx.journal.get(ctx.job)
    layout = recorded_layout(component, rec.info if rec else {})
    if layout != component.layout:
        return replace(component, layout=layout)
    if (component.archive != "zip" or kind_of(source.kind).remote_file(ctx, source, catalog) is None
            or ctx.item_done(source.file_name) or (ctx.downloads / source.file_name).exists()
            or (ctx.downloads / f"{source.file_name}.part").exists()):  # started: checked once downloaded
        return component
    verdict = probe(ctx, component, source, catalog)
    return component if verdict is None else adopt(ctx, component, verdict, source.file_name)


def _files(ctx: JobContext, component: Component, source: Source, catalog: Catalog,
           only: set[str] | None) -> Iterator[Path | Streamed]:
    """The source's files (a kind that streams, e.g. SA-1B tars, yields :class:`Streamed` records)."""
    return kind_of(source.kind).fetch(ctx, component, source, catalog, only=only)


def _layout_problem(name: str, component: Component, *, streamed: bool = False) -> SetupError:
    kept = "it was streamed, not stored" if streamed else "the archive is kept in the downloads folder"
    return SetupError(
        Code.LAYOUT_INCOMPLETE,
        f"{name} holds no files where the catalog expects them "
        f"(strip '{component.layout.strip}', include {list(component.layout.include)}).",
        f"The archive's inner layout differs from the catalog: check the catalog entry or the source; {kept}.",
    )


def _items_done(ctx: JobContext) -> list[str]:
    rec = ctx.journal.get(ctx.job)
    return list(rec.info.get("items_done", [])) if rec else []


def _target_has_files(target: Path) -> bool:
    try:
        with os.scandir(target) as it:
            return any(True for _ in it)
    except OSError:
        return False


def _count_files(target: Path) -> int:
    total = 0
    for _dirpath, _dirs, names in os.walk(target):
        total += len(names)
    return total
