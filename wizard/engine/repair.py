"""Repair: fetch only what ``verify`` found missing or unreadable, then verify again.

Each bad path is mapped to the component whose target folder holds it. A zip archive still in
the downloads folder is re-extracted for just those members; otherwise a zip on a server that
honours ``Range`` is read remotely (its central directory and the wanted members only); failing
that, the owning archive is downloaded again and only the wanted members are written. Paths no
source can provide are listed with the reason, so the user knows the number is final.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from .catalog import Catalog, Component, Source
from .context import JobContext, Settings
from .control import Control
from .errors import Code, Problem, SetupError
from .events import Emit, Stage, null_emit
from .extract import extract_archive
from .journal import Journal, RootLock
from .net.rangefile import HttpRangeFile, RangeNotSupported
from .plan import choose_source
from .sources import kind_of
from .tarstream import Streamed
from .verify import VerifyReport, verify


@dataclass
class RepairReport:
    before: VerifyReport
    after: VerifyReport | None = None
    restored: int = 0
    #: path -> why no source can provide it
    unrecoverable: dict[str, str] = field(default_factory=dict)
    problems: dict[str, Problem] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.after is not None and self.after.ok

    def render_text(self) -> str:
        lines = []
        if self.before.ok:
            return "Nothing to repair: every referenced image is in place."
        lines.append(f"Restored {self.restored} file(s).")
        for cid, problem in self.problems.items():
            lines.append(f"{cid}: {problem.render()}")
        if self.unrecoverable:
            lines.append(f"{len(self.unrecoverable)} image(s) no source can provide:")
            for path, why in sorted(self.unrecoverable.items())[:30]:
                lines.append(f"  {path}: {why}")
            if len(self.unrecoverable) > 30:
                lines.append(f"  ... and {len(self.unrecoverable) - 30} more")
        if self.after is not None:
            lines.append("After repair: " + ("everything referenced is in place." if self.after.ok else
                                             f"{self.after.totals.missing} still missing, "
                                             f"{self.after.totals.unreadable} unreadable."))
        return "\n".join(lines)


def bad_paths(report: VerifyReport) -> set[str]:
    """Every missing or unreadable path of a verify report (from its full report files)."""
    bad: set[str] = set()
    for result in report.results:
        if result.missing_report is not None and result.missing_report.exists():
            bad.update(line for line in result.missing_report.read_text(encoding="utf-8").splitlines() if line)
        bad.update(result.missing_sample)
        bad.update(path for path, _ in result.unreadable)
    return bad


def owners(catalog: Catalog, path: str, journal: Journal) -> list[Component]:
    """Components whose target holds ``path``: those this root ran first, cheapest (zip) first."""
    found = [c for c in catalog.components if c.group != "annotations" and path.startswith(c.target + "/")]
    ran = {r.id for r in journal.all()}
    found.sort(key=lambda c: (c.id not in ran, c.archive != "zip"))
    return found


def repair(root: Path, catalog: Catalog, settings: Settings, emit: Emit = null_emit,
           control: Control | None = None,
           session_factory: Callable[[], requests.Session] = requests.Session, *,
           deep: bool = False) -> RepairReport:
    """Verify, bring back what is missing (or unreadable, with ``deep``), verify again."""
    root = root.absolute()
    before = verify(root, catalog=catalog, deep=deep)
    report = RepairReport(before)
    if before.ok:
        report.after = before
        return report
    bad = bad_paths(before)
    unreadable = {p for r in before.results for p, _ in r.unreadable}
    control = control or Control()
    with RootLock(root):
        journal = Journal(root)
        try:
            for path in unreadable:  # a damaged file of the right size would be skipped as complete
                (root / path).unlink(missing_ok=True)
            groups: dict[str, set[str]] = {}
            for path in sorted(bad):
                comps = owners(catalog, path, journal)
                if not comps:
                    report.unrecoverable[path] = f"no catalog component provides {path.split('/')[0]}/"
                    continue
                groups.setdefault(comps[0].id, set()).add(path)
            ran = {r.id for r in journal.all()}
            tried: dict[str, list[Component]] = {}
            queue = list(groups)
            with session_factory() as session:
                while queue:
                    cid = queue.pop(0)
                    component = catalog.component(cid)
                    wanted = groups.pop(cid, set())
                    for path in wanted:
                        tried.setdefault(path, []).append(component)
                    # Its own journal id: the component's record (done, finished archives) stays as is.
                    ctx = JobContext(f"repair:{cid}", root, settings, journal, control, emit, session)
                    try:
                        found = _repair_component(ctx, component, catalog, wanted)
                    except SetupError as exc:
                        ctx.journal.set_stage(ctx.job, Stage.FAILED.value, problem=exc.problem)
                        report.problems[cid] = exc.problem
                        for path in wanted:
                            report.unrecoverable[path] = exc.problem.message
                        continue
                    ctx.stage(Stage.DONE)
                    for path in wanted:
                        if (root / path).is_file():
                            report.restored += 1
                        elif path not in found:
                            # e.g. not in the SAM 9K zip: the tars may have it (only components this
                            # root used: no 9 GB download on the off chance)
                            nxt = [c for c in owners(catalog, path, journal)
                                   if c.id in ran and c not in tried[path]]
                            if nxt:
                                groups.setdefault(nxt[0].id, set()).add(path)
                                if nxt[0].id not in queue:
                                    queue.append(nxt[0].id)
                            else:
                                report.unrecoverable[path] = _why_missing(journal, tried[path], path)
        finally:
            journal.close()
    report.after = verify(root, catalog=catalog, deep=deep)
    return report


def _repair_component(ctx: JobContext, component: Component, catalog: Catalog, wanted: set[str]) -> set[str]:
    """Bring back ``wanted`` (root-relative paths) of one component; returns those its archives hold."""
    prefix = component.target + "/"
    only = {p[len(prefix):] for p in wanted}
    dest = ctx.root / component.target
    source, problem = choose_source(component, ctx.settings)
    if source is None:
        raise SetupError.of(problem or Problem(Code.NO_SOURCE, f"No source for {component.title}."))
    ctx.log(f"repairing {len(only)} file(s) of {component.title} from {source.label}")
    kept = ctx.downloads / source.file_name
    ctx.stage(Stage.EXTRACTING, f"{len(only)} file(s)")
    kind = kind_of(source.kind)
    own = kind.repair(ctx, component, source, catalog, only)
    found: set[str] = set()
    if own is not None:  # the kind's own way (tar member index, OCR-VQA image by image)
        found, only = own
        if not only:
            return {prefix + p for p in found}
    if component.archive == "zip" and kept.is_file():
        result = extract_archive(ctx, kept, "zip", dest, component.layout, only=only)
        return {prefix + p for p in found | result.found}
    remote_file = kind.remote_file(ctx, source, catalog) if component.archive == "zip" else None
    if remote_file is not None:
        url, headers = remote_file
        try:
            remote = HttpRangeFile(ctx.session, url, headers=headers)
        except RangeNotSupported as exc:
            ctx.log(f"{source.label}: {exc}; downloading the whole archive instead", "warning")
        else:
            result = extract_archive(ctx, Path(source.file_name), "zip", dest, component.layout, only=only,
                                     fileobj=io.BufferedReader(remote, 256 * 1024))
            ctx.log(f"read {len(result.found)} member(s) remotely with {remote.requests_made} range requests")
            return {prefix + p for p in found | result.found}
    return {prefix + p for p in found} | _refetch(ctx, component, source, catalog, only, prefix)


def _refetch(ctx: JobContext, component: Component, source: Source, catalog: Catalog, only: set[str],
             prefix: str) -> set[str]:
    """Download the owning archive(s) again and write only the wanted members.

    The context's journal id is ``repair:<component>``, so the component's own record of
    finished archives stays as it was and an interrupted repair resumes where it stopped.
    """
    found: set[str] = set()
    remaining = set(only)
    for path in kind_of(source.kind).fetch(ctx, component, source, catalog, only=remaining):
        if isinstance(path, Streamed):  # extracted (just the wanted members) while it downloaded
            found |= path.result.found
            remaining -= path.result.found
            ctx.mark_item_done(path.name)
            if not remaining:
                break
            continue
        result = extract_archive(ctx, path, component.archive, ctx.root / component.target, component.layout,
                                 only=remaining)
        found |= result.found
        remaining -= result.found
        if not ctx.settings.keep_archives:
            path.unlink(missing_ok=True)
        ctx.mark_item_done(path.name)
        if not remaining:
            break
    return {prefix + p for p in found}


def _why_missing(journal: Journal, components: list[Component], path: str) -> str:
    """Why no source could provide ``path``, in words the user can act on."""
    component = components[-1]
    for source in component.sources:
        why = kind_of(source.kind).why_missing(journal, component, path)
        if why is not None:
            return why
    return f"not in any archive of {component.title}"
