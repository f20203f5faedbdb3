"""Repair: fetch only what ``verify`` found missing or unreadable, then verify again.

Each bad path is mapped to the component whose target folder holds it. A zip archive still in
the downloads folder is re-extracted for just those members; otherwise a zip on a server that
honours ``Range`` is read remotely (its central directory and the wanted members only); failing
that, the owning archive is downloaded again and only the wanted members are written. Paths no
source can provide are listed with the reason, so the user knows the number is final.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from .catalog import Catalog, Component, Source
from .context import JobContext, Settings
from .control import Control
from .errors import Code, Problem, SetupError
from .events import Emit, Stage, null_emit
from .extract import StreamedTar, extract_archive
from .journal import Journal, state_dir
from .net.rangefile import HttpRangeFile, RangeNotSupported
from .plan import choose_source
from .rootlock import RootLock
from .sources import fetcher_for
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
    if source.kind == "ocrvqa":
        return _repair_ocrvqa(ctx, component, source, catalog, only, prefix)
    if source.kind == "sam-links":
        found, rest = _repair_from_tar_index(ctx, component, source, only)
        if not rest or _every_tar_indexed(ctx, source):  # the rest is in no tar: nothing to download
            return {prefix + p for p in found}
        return {prefix + p for p in found} | _refetch(ctx, component, source, catalog, rest, prefix)
    if component.archive == "zip" and kept.is_file():
        result = extract_archive(ctx, kept, "zip", dest, component.layout, only=only)
        return {prefix + p for p in result.found}
    if component.archive == "zip" and source.kind in ("http", "hub"):
        url, headers = _remote(ctx, source, catalog)
        try:
            remote = HttpRangeFile(ctx.session, url, headers=headers)
        except RangeNotSupported as exc:
            ctx.log(f"{source.label}: {exc}; downloading the whole archive instead", "warning")
        else:
            result = extract_archive(ctx, Path(source.file_name), "zip", dest, component.layout, only=only,
                                     fileobj=io.BufferedReader(remote, 256 * 1024))
            ctx.log(f"read {len(result.found)} member(s) remotely with {remote.requests_made} range requests")
            return {prefix + p for p in result.found}
    return _refetch(ctx, component, source, catalog, only, prefix)


def _refetch(ctx: JobContext, component: Component, source: Source, catalog: Catalog, only: set[str],
             prefix: str) -> set[str]:
    """Download the owning archive(s) again and write only the wanted members.

    The context's journal id is ``repair:<component>``, so the component's own record of
    finished archives stays as it was and an interrupted repair resumes where it stopped.
    """
    found: set[str] = set()
    remaining = set(only)
    for path in fetcher_for(source.kind)(ctx, component, source, catalog):
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


def _tar_index(ctx: JobContext, component: Component) -> dict[str, tuple[str, int, int]]:
    """Target-relative path -> (tar name, first byte, end byte) from the streamed tars' indexes."""
    index: dict[str, tuple[str, int, int]] = {}
    folder = state_dir(ctx.root) / "index"
    for path in sorted(folder.glob("*.members.tsv")) if folder.is_dir() else []:
        tar = path.name.removesuffix(".members.tsv")
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) != 3:
                continue
            rel = component.layout.map(parts[0])
            if rel is not None:
                index[rel] = (tar, int(parts[1]), int(parts[2]))
    return index


def _every_tar_indexed(ctx: JobContext, source: Source) -> bool:
    from .sources.samlinks import tar_names

    folder = state_dir(ctx.root) / "index"
    return all((folder / f"{name}.members.tsv").is_file() for name in tar_names(source))


def _repair_from_tar_index(ctx: JobContext, component: Component, source: Source,
                           only: set[str]) -> tuple[set[str], set[str]]:
    """SA-1B images whose place in a tar is indexed: one range request each, no whole tar.

    Returns (found, still wanted). Needs a links file whose links have not expired.
    """
    index = _tar_index(ctx, component)
    wanted = {rel: index[rel] for rel in only if rel in index}
    if not wanted or ctx.settings.sam_links is None:
        return set(), set(only)
    from .sources.samlinks import parse_links_file

    links = parse_links_file(ctx.settings.sam_links).links
    found: set[str] = set()
    dest = ctx.root / component.target
    for rel, (tar, start, end) in sorted(wanted.items(), key=lambda kv: kv[1]):
        link = links.get(tar)
        if link is None:
            continue
        headers = {"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}
        timeout = (ctx.settings.connect_timeout, ctx.settings.read_timeout)
        with ctx.session.get(link.url, headers=headers, stream=True, timeout=timeout) as resp:
            if resp.status_code in (401, 403, 410):
                raise SetupError(Code.SAM_LINKS_EXPIRED, "The SA-1B links have expired.",
                                 "Get a fresh links file from Meta's SA-1B page and pass --sam-links.",
                                 parked=True)
            if resp.status_code != 206:
                break  # no ranges here: the caller downloads the tars instead
            streamed = StreamedTar(ctx, tar, dest, component.layout, only={rel})
            with tarfile.open(fileobj=resp.raw, mode="r|") as tf:
                for ti in tf:
                    streamed.member(tf, ti)
            found |= streamed.finish().found
    ctx.log(f"restored {len(found)} SA-1B image(s) with one range request each (member index)")
    return found, set(only) - found


def _repair_ocrvqa(ctx: JobContext, component: Component, source: Source, catalog: Catalog, only: set[str],
                   prefix: str) -> set[str]:
    """OCR-VQA images come one by one: mark the wanted ones (dead ones too) to do, run the batch."""
    octx = ctx.for_job(component.id)  # the component's own per-image table
    rows = {key for key, *_ in ctx.journal.items(component.id)}
    keys = [p.rsplit(".", 1)[0] for p in only]
    ctx.journal.items_set_many(component.id, [(k, "todo", None, None) for k in keys if k in rows])
    try:
        for _ in fetcher_for(source.kind)(octx, component, source, catalog):
            pass
    finally:
        stage = ctx.journal.get(component.id)
        ctx.journal.set_stage(component.id, Stage.DONE.value, problem=stage.problem if stage else None)
    dest = ctx.root / component.target
    return {prefix + p for p in only if (dest / p).is_file()}


def _why_missing(journal: Journal, components: list[Component], path: str) -> str:
    """Why no source could provide ``path``, in words the user can act on."""
    kinds = {s.kind for c in components for s in c.sources}
    component = components[-1]
    if "ocrvqa" in kinds:
        key = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        for k, url, status, http, detail in journal.items(component.id):
            if k == key and status == "dead":
                why = f"HTTP {http}" if http else (detail or "no answer")
                return f"dead image URL ({why}): {url}"
        return "not in OCR-VQA's dataset.json"
    if "sam-links" in kinds:
        return "not in any of the SA-1B tars sa_000000–sa_000050"
    return f"not in any archive of {component.title}"


def _remote(ctx: JobContext, source: Source, catalog: Catalog) -> tuple[str, dict[str, str]]:
    if source.kind == "http":
        return source.url, {}
    import huggingface_hub
    from huggingface_hub.utils import build_hf_headers

    from .sources.hub import endpoint_for_settings

    url = huggingface_hub.hf_hub_url(source.repo, source.path, repo_type=source.repo_type,
                                     revision=source.revision, endpoint=endpoint_for_settings(ctx.settings, catalog))
    token = ctx.settings.hf_token or False
    return url, build_hf_headers(token=token)
