"""Repair: fetch only what ``verify`` found missing or unreadable, then verify again.

What is repaired: every path this repair's own verify finds missing or unreadable, plus every
path the last ``verify`` reported (its report files) whose file has not changed since — so a
truncated image found by ``verify --deep`` is replaced by a plain ``repair``.

Each bad path is given to the component that holds it, chosen on evidence before anything is
downloaded: the member index of the streamed SA-1B tars, the member list of a zip extracted
earlier (``index/<archive>.zip-members``), and for a zip on a server that honours ``Range`` its
remote central directory. A component whose archive is known not to hold the file is never
asked; one nothing is known about comes last. A zip still in the downloads folder is
re-extracted for just those members; a zip on a Range server is read remotely (central
directory and the wanted members only); SA-1B images come with one range request each (or the
one tar that holds them, for a compressed tar); only as a last resort is the owning archive
downloaded again. Paths no source can provide are listed with the reason.

A damaged file is not deleted before its replacement is fetched: it is set aside beside itself
(``.<name>.damaged``; a file of the right size could otherwise pass for the member) and, when no
source brings it back, put back at the end — a repair never loses a file it could not replace
(say, the user's own file a JSON names, or an image whose link is dead). The set-aside list is
kept in the state folder, so a repair killed half-way puts those files back the next time.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

import requests

from . import demoroot
from .annotations import check_path
from .catalog import Catalog, Component, Layout, Source
from .context import JobContext, Settings
from .control import Control
from .errors import Code, Problem, SetupError
from .events import Emit, Log, Stage, null_emit
from .extract import drop_temp_files, extract_archive
from .journal import Journal, state_dir
from .layoutprobe import check_layout, recorded_layout, remote_url, zip_members
from .net import client
from .net.durable import wait_for_syncs
from .net.rangefile import HttpRangeFile, RangeNotSupported, policy_retry
from .plan import choose_source
from .rootlock import RootLock
from .runlog import RunLog
from .safefs import problem_for_os_error, read_state_text, write_text_atomic
from .sources import kind_of
from .tarstream import Streamed
from .verify import VerifyReport, last_findings, verify
from .zipdir import UNREADABLE, open_zip

log = logging.getLogger(__name__)


@dataclass
class RepairReport:
    before: VerifyReport
    after: VerifyReport | None = None
    restored: int = 0
    #: Paths the last verify reported damaged (file unchanged since) that this repair replaced.
    reported: int = 0
    #: path -> why no source can provide it
    unrecoverable: dict[str, str] = field(default_factory=dict)
    problems: dict[str, Problem] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.after is not None and self.after.ok

    def checked(self) -> str:
        """What this repair looked at, in one line."""
        t = self.before.totals
        how = "opening every image (deep)" if self.before.deep else "file presence and size"
        line = (f"Checked {t.referenced:,} image reference(s) of {len(self.before.results)} annotation JSON(s) "
                f"by {how}")
        if self.reported:
            line += f", plus {self.reported} damaged file(s) the last verify reported"
        return line + "."

    def render_text(self) -> str:
        lines = [self.checked()]
        if self.before.ok and not self.reported:
            return "\n".join([*lines, "Nothing to repair: every referenced image is in place."])
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
            with contextlib.suppress(OSError):  # not a regular file any more: the sample below still counts
                bad.update(line for line in read_state_text(result.missing_report).splitlines() if line)
        bad.update(result.missing_sample)
        bad.update(path for path, _ in result.unreadable)
    return bad


def reported_damaged(root: Path) -> set[str]:
    """Paths the last complete verify reported unreadable (:func:`~wizard.engine.verify.last_findings`,
    e.g. truncated: found by size, or by ``--deep``) that have not changed since: damaged files
    (missing ones are found again anyway)."""
    findings = last_findings(root)
    out: set[str] = set()
    if findings is None:
        return out
    for rel, _why in findings.unreadable:
        if check_path(rel) is not None:
            continue
        try:
            st = (root / rel).stat()
        except OSError:
            continue
        if st.st_mtime <= findings.when:
            out.add(rel)
    return out


def owners(catalog: Catalog, path: str, journal: Journal) -> list[Component]:
    """Components whose target holds ``path``: those this root ran first, cheapest (zip) first."""
    found = [c for c in catalog.components if c.group != "annotations" and path.startswith(c.target + "/")]
    ran = {r.id for r in journal.all()}
    found.sort(key=lambda c: (c.id not in ran, c.archive != "zip"))
    return found


def repair(root: Path, catalog: Catalog, settings: Settings, emit: Emit = null_emit,
           control: Control | None = None,
           session_factory: Callable[[], requests.Session] = client.new_session, *,
           deep: bool = False) -> RepairReport:
    """Verify, bring back what is missing (or unreadable, with ``deep``), verify again."""
    root = root.absolute()
    demoroot.check(root, settings.demo)  # never real images into a demo root, nor placeholders into real data
    aside = _SetAside(root)
    if aside.listing.exists():  # a repair killed half-way: its damaged files go back before anything is judged
        with RootLock(root):
            aside.put_back(emit)
    damaged = reported_damaged(root)  # before verify below rewrites the reports
    before = verify(root, catalog=catalog, deep=deep)
    report = RepairReport(before, reported=len(damaged))
    if before.ok and not damaged:
        report.after = before
        return report
    bad = bad_paths(before) | damaged
    unreadable = {p for r in before.results for p, _ in r.unreadable} | damaged
    problem = client.ca_environment_problem()
    if problem is not None:
        raise SetupError.of(problem)
    control = control or Control()
    with RootLock(root), RunLog(root, emit, verbose=settings.verbose, what="repair") as runlog:
        emit = runlog.emit  # every event also goes to the run log
        journal = Journal(root)
        try:
            # a damaged file of the right size would be skipped as complete: set aside until replaced
            aside.hold(sorted(path for path in unreadable if any(
                path.startswith(c.target + "/") for c in catalog.components if c.group != "annotations")))
            groups: dict[str, set[str]] = {}
            evidence = Evidence(root, journal)
            ran = {r.id for r in journal.all()}
            for path in sorted(bad):
                comps = _first_choices(catalog, journal, evidence, ran, path, report)
                if comps:
                    groups.setdefault(comps[0].id, set()).add(path)
            tried: dict[str, list[Component]] = {}
            queue = list(groups)
            with session_factory() as session, control.on_cancel(client.abort_in_flight):
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
                    except (SetupError, OSError) as exc:  # OSError: the disk, or requests' errors
                        problem = exc.problem if isinstance(exc, SetupError) else problem_for_os_error(exc, root)
                        ctx.journal.set_stage(ctx.job, Stage.FAILED.value, problem=problem)
                        report.problems[cid] = problem
                        for path in wanted:
                            report.unrecoverable[path] = problem.message
                        continue
                    ctx.stage(Stage.DONE)
                    drop_temp_files(ctx, component.target)  # a repair killed mid-member left one?
                    for path in wanted:
                        if (root / path).is_file():
                            report.restored += 1
                        elif path not in found:
                            # e.g. not in the SAM 9K zip: the tars may have it (only components this
                            # root used: no 9 GB download on the off chance)
                            nxt = [c for c in evidence.order(owners(catalog, path, journal), path)
                                   if c.id in ran and c not in tried[path]]
                            if nxt:
                                groups.setdefault(nxt[0].id, set()).add(path)
                                if nxt[0].id not in queue:
                                    queue.append(nxt[0].id)
                            else:
                                report.unrecoverable[path] = _why_missing(journal, tried[path], path)
        finally:
            journal.close()
            for path in aside.put_back(emit):
                if path in report.unrecoverable:
                    report.unrecoverable[path] += " (the damaged file was put back)"
    wait_for_syncs()  # like a run: the files fetched are on disk (and their markers gone) before it says so
    report.after = verify(root, catalog=catalog, deep=deep)
    return report


class _SetAside:
    """Damaged files moved out of the way while repair fetches their replacements (see the module
    docstring); the list lives in ``<state>/repair-set-aside.txt`` until every file is settled."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.listing = state_dir(root) / "repair-set-aside.txt"

    @staticmethod
    def held(path: Path) -> Path:
        return path.with_name(f".{path.name}.damaged")

    def hold(self, paths: list[str]) -> None:
        if not paths:
            return
        earlier = self._listed()
        write_text_atomic(self.listing, "".join(f"{p}\n" for p in sorted(set(earlier) | set(paths))))
        for rel in paths:
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.root / rel, self.held(self.root / rel))

    def put_back(self, emit: Emit) -> list[str]:
        """Settle every listed file: dropped when a file is in its place again, else put back.
        Returns the paths put back."""
        back = []
        for rel in self._listed():
            path = self.root / rel
            held = self.held(path)
            try:
                if path.is_file():
                    held.unlink(missing_ok=True)
                elif held.is_file() and not held.is_symlink():
                    os.replace(held, path)
                    back.append(rel)
            except OSError as exc:  # settled next time (the list stays)
                log.warning("cannot settle the damaged file set aside for %s: %s", rel, exc)
                return back
        if back:
            emit(Log("warning", f"put back {len(back)} damaged file(s) no source replaced: {', '.join(back[:5])}"
                     + (" ..." if len(back) > 5 else ""), None))
        with contextlib.suppress(OSError):
            self.listing.unlink(missing_ok=True)
        return back

    def _listed(self) -> list[str]:
        try:
            text = read_state_text(self.listing, errors="surrogateescape")
        except OSError:
            return []
        return [line for line in text.splitlines() if line and check_path(line) is None]


def _first_choices(catalog: Catalog, journal: Journal, evidence: Evidence, ran: set[str], path: str,
                   report: RepairReport) -> list[Component]:
    """The components to ask for ``path``, best first: among those this root ran (when any did),
    the ones known to hold it, then the unknown ones; never one known not to. Records the reason
    in ``report`` when there is none."""
    every = owners(catalog, path, journal)
    if not every:
        report.unrecoverable[path] = f"no catalog component provides {path.split('/')[0]}/"
        return []
    used = [c for c in every if c.id in ran]
    choices = [c for c in evidence.order(every, path) if c.id in ran or not used]
    if not choices:
        report.unrecoverable[path] = _why_missing(journal, used, path)
    return choices


class Evidence:
    """Which component's archives hold a path, from what earlier runs left (see the module
    docstring): True (it does), False (it does not) or None (unknown)."""

    def __init__(self, root: Path, journal: Journal) -> None:
        self.root = root
        self.journal = journal
        self._kinds: dict[str, Callable[[str], bool | None] | None] = {}
        self._zips: dict[str, set[str] | None] = {}

    def holds(self, component: Component, path: str) -> bool | None:
        rel = path[len(component.target) + 1:]
        source = component.sources[0]
        if component.id not in self._kinds:  # the kind's own evidence (e.g. the tars' member index)
            self._kinds[component.id] = kind_of(source.kind).holds(self.root, component, source)
        verdict = self._kinds[component.id]
        if verdict is not None:
            return verdict(rel)
        if component.archive == "zip":
            if component.id not in self._zips:
                rec = self.journal.get(component.id)
                layout = recorded_layout(component, rec.info if rec else {})
                self._zips[component.id] = zip_members(self.root, component, layout)
            members = self._zips[component.id]
            return None if members is None else rel in members
        return None

    def order(self, components: list[Component], path: str) -> list[Component]:
        """Those known to hold ``path`` first, unknown ones after; known-not-to never."""
        verdicts = [(c, self.holds(c, path)) for c in components]
        return [c for c, v in verdicts if v] + [c for c, v in verdicts if v is None]


def _repair_component(ctx: JobContext, component: Component, catalog: Catalog, wanted: set[str]) -> set[str]:
    """Bring back ``wanted`` (root-relative paths) of one component; returns those its archives hold."""
    prefix = component.target + "/"
    only = {p[len(prefix):] for p in wanted}
    rec = ctx.journal.get(component.id)
    component = replace(component, layout=recorded_layout(component, rec.info if rec else {}))
    dest = ctx.root / component.target
    source, problem = choose_source(component, ctx.settings)
    if source is None:
        raise SetupError.of(problem or Problem(Code.NO_SOURCE, f"No source for {component.title}."))
    ctx.log(f"repairing {len(only)} file(s) of {component.title} from {source.label}")
    kept = ctx.downloads / source.file_name
    ctx.stage(Stage.EXTRACTING, f"{len(only)} file(s)")
    kind = kind_of(source.kind)
    own = kind.repair(ctx, component, source, catalog, only)
    log.debug("%s: %s repair: %s", ctx.job, source.kind, "generic" if own is None else
              f"{len(own[0])} restored its own way, {len(own[1])} left for the generic way")
    found: set[str] = set()
    if own is not None:  # the kind's own way (tar member index, OCR-VQA image by image)
        found, only = own
        if not only:
            return {prefix + p for p in found}
    if component.archive == "zip" and kept.is_file():
        component = replace(component, layout=_zip_layout(component, kept.name, kept))
        result = extract_archive(ctx, kept, "zip", dest, component.layout, only=only)
        return {prefix + p for p in found | result.found}
    remote_file = remote_url(ctx, source, catalog) if component.archive == "zip" else None
    if remote_file is not None:
        url, headers = remote_file
        try:
            remote = HttpRangeFile(ctx.session, url, headers=headers,
                                   timeout=(ctx.settings.connect_timeout, ctx.settings.read_timeout),
                                   retry=policy_retry(ctx, f"reading {source.file_name} remotely"))
            reader = io.BufferedReader(remote, 256 * 1024)
            layout = _zip_layout(component, source.file_name, reader)
            result = extract_archive(ctx, Path(source.file_name), "zip", dest, layout, only=only, fileobj=reader)
        except RangeNotSupported as exc:  # at the start, or mid-way (the file changed upstream)
            ctx.log(f"{source.label}: {exc}; downloading the whole archive instead", "warning")
        else:
            ctx.log(f"read {len(result.found)} member(s) remotely with {remote.requests_made} range requests")
            return {prefix + p for p in found | result.found}
    return {prefix + p for p in found} | _refetch(ctx, component, source, catalog, only, prefix)


def _zip_layout(component: Component, name: str, archive: Path | IO[bytes]) -> Layout:
    """The layout to read this zip with: the catalog's, or the single other prefix its members
    sit under (:func:`~wizard.engine.layoutprobe.check_layout`). A zip that cannot be read keeps
    the catalog's: the extraction then reports the damage as a coded problem."""
    try:
        with open_zip(archive) as zf:
            names = zf.namelist()
    except UNREADABLE:
        return component.layout
    return check_layout(names, component.layout, name).layout


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
