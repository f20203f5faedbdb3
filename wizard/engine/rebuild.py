"""Re-deriving the journal's facts from disk after a damaged journal was set aside.

The journal is a cache. What it says about finished work can be proven from the tree:

* an annotation JSON is done when its file is in place (with the catalog's size, when known);
* an image component is done when every image the annotation JSONs on disk reference under its
  target is present (recorded as done for those JSONs), or, with no JSON to go by, when its
  target holds at least the catalog's ``file_count`` files (recorded as a full archive); images a
  kind reported as impossible to get (OCR-VQA's dead links, ``SourceKind.known_gaps``) count as
  accounted for.

Everything else needs no journal entry to resume: ``.part`` files carry their sidecars, finished
downloads in ``downloads/`` are recognised by their size, and extraction skips members already
in place. :func:`plan_records` feeds the plan (read-only) and :func:`apply` writes the proven
facts into the fresh journal at the start of the next run.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from .annotations import check_path, iter_image_paths, normalize
from .catalog import Catalog, Component
from .errors import SetupError
from .events import Stage
from .journal import JobRecord, Journal, read_journal, state_dir
from .rootlock import RootLock
from .sources import is_known, kind_of

log = logging.getLogger(__name__)

#: The ``source`` recorded for a job whose state was proven from disk.
REBUILT_SOURCE = "(proven from the files on disk)"


def _json_in_place(root: Path, component: Component) -> Path | None:
    path = _json_path(root, component)
    if path is None:
        return None
    try:
        size = path.stat().st_size if path.is_file() else -1
    except OSError:
        return None
    if size <= 0:
        return None
    sizes = {s.size for s in component.sources if s.size is not None}
    return path if not sizes or size in sizes else None


def _count_files(folder: Path, stop: int) -> int:
    count = 0
    for _dirpath, _dirs, files in os.walk(folder):
        count += len(files)
        if count >= stop:
            break
    return count


def derive(root: Path, catalog: Catalog) -> dict[str, JobRecord]:
    """Records for every catalog component whose finished state the files on disk prove."""
    now = time.time()
    out: dict[str, JobRecord] = {}

    def done(comp: Component, **info: object) -> None:
        out[comp.id] = JobRecord(comp.id, Stage.DONE.value, "", 0, None, None, dict(info), now)

    jsons: list[tuple[str, Path]] = []
    for comp in catalog.components:
        path = _json_in_place(root, comp)
        if path is not None:
            jsons.append((comp.id, path))
            done(comp)
    images = [c for c in catalog.components if c.group != "annotations"]
    referenced = {c.id: 0 for c in images}
    missing = {c.id: 0 for c in images}
    dead = {c.id: set().union(*(kind_of(s.kind).known_gaps(root, c) for s in c.sources if is_known(s.kind)))
            for c in images}
    prefixes = [(c.target + "/", c.id) for c in images]
    readable: list[str] = []
    for json_id, path in jsons:
        try:
            for image in iter_image_paths(path):
                if not image or check_path(image) is not None:
                    continue
                rel = normalize(image)
                for prefix, cid in prefixes:
                    if rel.startswith(prefix):
                        referenced[cid] += 1
                        if not os.path.isfile(root / rel) and rel not in dead.get(cid, ()):
                            missing[cid] += 1
            readable.append(json_id)
        except (SetupError, OSError) as exc:
            log.info("rebuild: %s is not usable to prove images (%s)", path.name,
                     exc.problem.message if isinstance(exc, SetupError) else exc)
            out.pop(json_id, None)
    subset = sorted(readable)
    for comp in images:
        target = root / comp.target
        if subset and len(subset) == len(jsons) and missing[comp.id] == 0:
            if referenced[comp.id]:
                done(comp, subset=subset, nothing_referenced=False)
            continue
        if not subset and comp.file_count and target.is_dir() and \
                _count_files(target, comp.file_count) >= comp.file_count:
            done(comp, subset=None, nothing_referenced=False)
    return out


_cache: dict[tuple[object, ...], dict[str, JobRecord]] = {}


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def derive_cached(root: Path, catalog: Catalog) -> dict[str, JobRecord]:
    """:func:`derive`, remembered while the JSONs, the targets and the report are unchanged (the
    wizard recomputes its plan on every change of selection; reading 1.5 GB JSONs takes seconds)."""
    key: tuple[object, ...] = (
        str(root), id(catalog),
        tuple(_stamp(root / c.target) for c in catalog.components),
        tuple(_stamp(p) for c in catalog.components if (p := _json_path(root, c)) is not None),
        _stamp(state_dir(root) / "reports"),
    )
    if key not in _cache:
        _cache.clear()
        _cache[key] = derive(root, catalog)
    return _cache[key]


def _json_path(root: Path, component: Component) -> Path | None:
    if component.group != "annotations" or not component.sources:
        return None
    return root / component.target / component.sources[0].file_name


def plan_records(root: Path, catalog: Catalog) -> dict[str, JobRecord]:
    """The journal's records as the plan should see them: while a rebuild is pending (or the
    journal is unreadable), what the disk proves fills the gaps."""
    view = read_journal(root)
    records = {r.id: r for r in view.records or []}
    if view.unreadable or view.rebuild_pending:
        for cid, rec in derive_cached(root, catalog).items():
            records.setdefault(cid, rec)
    return records


def apply(journal: Journal, root: Path, catalog: Catalog) -> list[str]:
    """Write what the disk proves into a journal whose rebuild is pending; the ids marked done."""
    reason = journal.rebuild_pending
    if reason is None:
        return []
    known = {r.id for r in journal.all()}
    marked: list[str] = []
    for cid, rec in derive(root, catalog).items():
        if cid in known:
            continue
        journal.set_stage(cid, rec.stage, source=REBUILT_SOURCE)
        journal.update_info(cid, **rec.info)
        marked.append(cid)
    journal.rebuild_finished()
    log.info("journal rebuilt from disk (%s): %d component(s) proven in place", reason, len(marked))
    return marked


def describe(journal: Journal, proven: list[str]) -> str:
    """The one line that tells the user the journal was set aside and rebuilt."""
    where = f"; it was set aside as {journal.set_aside_as.name}" if journal.set_aside_as else ""
    return (f"The journal could not be used ({journal.healed or 'rebuild pending'}){where}. Rebuilt from "
            f"the files on disk: {len(proven)} component(s) proven in place; the rest resumes from disk.")


def heal(root: Path, catalog: Catalog) -> str | None:
    """Before a run: set a damaged journal aside and rebuild it (under the root's lock).

    Returns the one-line message, or None when the journal was fine (or absent).
    """
    view = read_journal(root)
    if not (view.unreadable or view.rebuild_pending):
        return None
    with RootLock(root):
        journal = Journal(root)
        try:
            return describe(journal, apply(journal, root, catalog))
        finally:
            journal.close()
