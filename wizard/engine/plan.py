"""The plan: data root + components → what will be fetched, from where, and the disk it needs.

A plan is computed without touching the network: sizes come from the catalog (exact where
known, estimates otherwise), progress already on disk comes from the journal and the
``.part`` files. It says whether the work fits the free space of the root's filesystem.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import demoroot
from .catalog import Catalog, Component, Source
from .context import Settings
from .errors import Code, Problem, SetupError
from .fsinfo import file_size_limit
from .journal import JobRecord, check_state_folder, state_dir
from .rebuild import plan_records
from .sources import kind_of, local_copy
from .units import human

log = logging.getLogger(__name__)

#: Free space kept in reserve on top of the plan's peak (journal, temp files, the OS).
MARGIN_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class PlanItem:
    component: Component
    source: Source | None
    status: str  # "done" | "partial" | "todo" | "failed" | "waiting"
    download_bytes: int  # still to download
    total_download_bytes: int
    extracted_bytes: int
    peak_archive_bytes: int  # archive bytes on disk at once for this component
    problem: Problem | None = None
    #: Warnings worth reading before starting (e.g. SA-1B links that expire before the finish).
    notes: tuple[str, ...] = ()

    @property
    def needs_work(self) -> bool:
        return self.status != "done"


@dataclass(frozen=True)
class Plan:
    root: Path
    items: tuple[PlanItem, ...]
    free_bytes: int
    download_bytes: int
    peak_bytes: int
    final_bytes: int
    #: Free space kept on top of the peak: the run's reserve (``Settings.min_free_bytes``), so a
    #: plan that fits never waits for space.
    margin: int = MARGIN_BYTES
    #: The largest file the root's filesystem holds when it is small (FAT32: 4 GiB), else None.
    file_limit: int | None = None

    @property
    def fits(self) -> bool:
        return self.peak_bytes + self.margin <= self.free_bytes or self.peak_bytes == 0

    @property
    def todo(self) -> list[PlanItem]:
        return [i for i in self.items if i.needs_work]

    def space_problem(self) -> Problem | None:
        if self.fits:
            return None
        return Problem(
            Code.NO_SPACE,
            f"Not enough space on {self.root}: the plan needs up to {human(self.peak_bytes + self.margin)} "
            f"at its peak, {human(self.free_bytes)} is free.",
            "Free some space, choose another root or fewer components, or use --force to start anyway "
            "(work pauses when the disk fills).",
        )

    def file_size_problem(self) -> Problem | None:
        """Archives to download that the root's filesystem cannot hold as one file (FAT32), or None."""
        if self.file_limit is None:
            return None
        big = [i for i in self.todo if i.source is not None and i.download_bytes
               and i.peak_archive_bytes > self.file_limit]
        if not big:
            return None
        names = ", ".join(f"{i.component.id} ({i.source.file_name if i.source else '?'}, "
                          f"{human(i.peak_archive_bytes)})" for i in big)
        return Problem(
            Code.NO_SPACE,
            f"The filesystem under {self.root} holds no file over {human(self.file_limit)} (FAT32), and "
            f"these downloads are larger: {names}.",
            "Choose a data root on another filesystem (ext4, XFS, NTFS, or exFAT: a USB disk reformatted "
            "as exFAT stays readable everywhere), leave these components out, or download the archive "
            "elsewhere and pass it with --local COMPONENT=PATH.",
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "free_bytes": self.free_bytes,
            "download_bytes": self.download_bytes,
            "peak_bytes": self.peak_bytes,
            "final_bytes": self.final_bytes,
            "fits": self.fits,
            # downloads the root's filesystem cannot hold as one file (FAT32): run refuses to start
            "too_large": None if (big := self.file_size_problem()) is None else {
                "code": str(big.code), "message": big.message, "hint": big.hint},
            "components": [
                {
                    "id": i.component.id,
                    "title": i.component.title,
                    "target": i.component.target,
                    "status": i.status,
                    "download_bytes": i.download_bytes,
                    "total_download_bytes": i.total_download_bytes,
                    "extracted_bytes": i.extracted_bytes,
                    "source": None if i.source is None else {
                        "kind": i.source.kind, "label": i.source.label, "community": i.source.community,
                    },
                    "problem": None if i.problem is None else {
                        "code": str(i.problem.code), "message": i.problem.message, "hint": i.problem.hint,
                    },
                    "notes": list(i.notes),
                }
                for i in self.items
            ],
        }


def existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_root(root: Path, *, create: bool = False, writable: bool = True) -> Path:
    """Validate (and optionally create) the data root; returns its absolute path.

    ``writable=False`` (``plan``): a read-only root is fine, since nothing is written.
    """
    root = root.expanduser().absolute()
    if root.exists() and not root.is_dir():
        raise SetupError(Code.ROOT_NOT_DIR, f"The data root {root} is a file, not a folder.",
                         "Choose a folder (it may be empty or not exist yet).")
    if not root.exists():
        if not root.parent.is_dir():
            raise SetupError(Code.ROOT_MISSING, f"The data root {root} does not exist, nor does its parent.",
                             f"Create {root.parent} first, or choose an existing folder.")
        if create:
            try:
                root.mkdir()
            except OSError as exc:
                raise SetupError(Code.ROOT_NOT_WRITABLE, f"Cannot create {root}: {exc.strerror}.",
                                 "Choose a folder you can write to.") from exc
    check_state_folder(root)
    probe_dir = root if root.exists() else root.parent
    if writable and not os.access(probe_dir, os.W_OK | os.X_OK):
        raise SetupError(Code.ROOT_NOT_WRITABLE, f"{probe_dir} is not writable for this user.",
                         "Choose a folder you own, or fix its permissions.")
    return root


def choose_source(component: Component, settings: Settings) -> tuple[Source | None, Problem | None]:
    """The first source this run may use: official ones first, community mirrors only if allowed."""
    if component.id in settings.local:
        return local_copy(settings.local[component.id]), None
    candidates = [s for s in component.sources if not s.community]
    if settings.allow_mirrors:
        candidates += [s for s in component.sources if s.community]
    refusals: list[Problem] = []
    for source in candidates:
        refusal = kind_of(source.kind).unusable(component, source, settings)
        if refusal is None:
            return source, None
        refusals.append(refusal)
    if refusals:
        return None, refusals[0]
    return None, Problem(Code.NO_SOURCE, f"No usable source for {component.title}.",
                         "Allow community mirrors (--allow-mirrors) or give a local copy (--local).")


def _target_populated(root: Path, component: Component) -> bool:
    target = root / component.target
    try:
        with os.scandir(target) as it:
            return any(True for _ in it)
    except OSError:
        return False


def build_plan(root: Path, catalog: Catalog, components: list[Component], settings: Settings) -> Plan:
    """Compute the plan. Touches only the local disk (journal, partial files, free space)."""
    demoroot.check(root, settings.demo)  # never real data and the demo's placeholders in one root
    records: dict[str, JobRecord] = plan_records(root, catalog) if root.is_dir() else {}
    downloads = state_dir(root) / "downloads"
    items: list[PlanItem] = []
    for comp in components:
        source, problem = choose_source(comp, settings)
        total = (source.planned_size or 0) if source else 0
        record = records.get(comp.id)
        status = "todo"
        if record is not None:
            status = {"done": "done", "failed": "failed", "waiting": "waiting"}.get(record.stage, "partial")
            if status == "done" and not record.info.get("nothing_referenced") and not _target_populated(root, comp):
                status = "todo"  # the user deleted the folder since: do it again
        if source is None:
            items.append(PlanItem(comp, None, status, 0, 0, comp.approx_extracted or 0, 0, problem))
            continue
        kind = kind_of(source.kind)
        done_items = set(record.info.get("items_done", [])) if record else set()
        remaining = 0 if status == "done" else kind.remaining_bytes(source, downloads, done_items)
        notes = () if status == "done" else kind.plan_notes(source, settings, done_items, remaining)
        extracted = comp.approx_extracted or total
        streams = kind.streams(comp, source, settings)
        archive_peak = 0 if comp.archive == "none" or streams else total // kind.pieces(source)
        items.append(PlanItem(comp, source, status, remaining, total, extracted, archive_peak, problem, notes))
    items = _annotation_driven(root, items, records, settings)
    todo = [i for i in items if i.needs_work]
    final = sum(i.extracted_bytes for i in todo)
    if settings.keep_archives:
        final += sum(i.total_download_bytes for i in todo if i.component.archive != "none")
        peak = final
    else:
        # At worst every job's last archive is still on disk while the others' images are in place:
        # all extracted bytes plus the `concurrency` biggest archives (none for streamed SA-1B tars).
        biggest = sorted((i.peak_archive_bytes for i in todo), reverse=True)[: max(1, settings.concurrency)]
        peak = final + sum(biggest)
    free = shutil.disk_usage(existing_ancestor(root)).free
    log.debug("plan for %s: %d item(s), %d to do, download %s, peak %s, free %s", root, len(items), len(todo),
              human(sum(i.download_bytes for i in items)), human(peak), human(free))
    return Plan(root, tuple(items), free, sum(i.download_bytes for i in items), peak, final,
                max(0, settings.min_free_bytes), file_size_limit(root))


def subset_key(items: list[PlanItem] | tuple[PlanItem, ...], settings: Settings) -> list[str] | None:
    """The annotation JSONs that decide which images are extracted (None: full archives)."""
    if settings.full_archives:
        return None
    names = sorted(i.component.id for i in items if i.component.group == "annotations")
    return names or None


def _annotation_driven(root: Path, items: list[PlanItem], records: dict[str, JobRecord],
                       settings: Settings) -> list[PlanItem]:
    """Shrink estimates to what the selected JSONs reference, and redo components done for fewer JSONs."""
    from .subset import counts_for, json_path

    key = subset_key(items, settings)
    comps = [i.component for i in items]
    counts: dict[str, int] = {}
    jsons: list[Path] = []
    if key is not None:
        for item in items:
            path = json_path(root, item.component)
            if path is not None and path.is_file():
                jsons.append(path)
                try:
                    for cid, n in counts_for(root, path, comps).items():
                        counts[cid] = counts.get(cid, 0) + n
                except SetupError:
                    continue
    out: list[PlanItem] = []
    for item in items:
        comp, record = item.component, records.get(item.component.id)
        if comp.group != "annotations" and item.status == "done" and record is not None:
            done_for = record.info.get("subset")  # None: full archive; else the JSON ids used
            if done_for is not None and (key is None or not set(key) <= set(done_for)):
                item = replace(item, status="todo", download_bytes=item.total_download_bytes)
        if jsons and item.source is not None:  # e.g. SA-1B tars: read until the wanted images are in place
            item = kind_of(item.source.kind).refine_for_annotations(root, item, record, jsons)
        if comp.id in counts and comp.file_count and item.needs_work and comp.archive != "none":
            share = min(1.0, counts[comp.id] / comp.file_count)
            item = replace(item, extracted_bytes=int(item.extracted_bytes * share),
                           notes=(*item.notes, f"only the {counts[comp.id]:,} images the selected "
                                  "annotations reference are extracted"))
        out.append(item)
    return out
