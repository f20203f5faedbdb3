"""The runner: executes a plan's jobs on a thread pool with per-host limits, reporting events.

Annotation JSONs go first (they are small and everything else can be checked against them).
A job that fails or is parked does not stop the others. Pause and cancel are cooperative through
one :class:`Control`; everything stays resumable. The runner holds the root's lock for the run.
Disk space (:mod:`wizard.engine.diskspace`): a job waits before it starts (and while it runs) when
the root's filesystem has less than ``Settings.min_free_bytes`` free; a job the disk filled under
anyway (``no-space``) is retried up to 3 times in the same run once it has room, else it stays
waiting for the next run.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from . import demoroot, rebuild
from .catalog import Catalog, Component
from .context import JobContext, Settings
from .control import Control
from .diskspace import DiskMonitor, job_need
from .errors import Cancelled, Code, Problem, SetupError
from .events import Emit, JobDone, JobFailed, JobQueued, Log, RunFinished, Stage, StageChanged, null_emit
from .extract import drop_temp_files
from .journal import Journal
from .net import client
from .net.durable import wait_for_syncs
from .net.ratelimit import NetShared
from .pipeline import run_component
from .plan import Plan, PlanItem, human, subset_key
from .rootlock import RootLock
from .runlog import RunLog
from .safefs import problem_for_os_error
from .sources import is_known, kind_of


@dataclass
class RunResult:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, Problem] = field(default_factory=dict)
    waiting: dict[str, Problem] = field(default_factory=dict)
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.waiting and not self.cancelled


class Runner:
    """Run the jobs of a plan. ``run()`` blocks; call it from a worker thread in a GUI."""

    def __init__(self, plan: Plan, catalog: Catalog, settings: Settings, emit: Emit = null_emit,
                 control: Control | None = None,
                 session_factory: Callable[[], requests.Session] = client.new_session,
                 net: NetShared | None = None) -> None:
        self.plan = plan
        self.catalog = catalog
        self.settings = settings
        self.emit = emit
        self.control = control or Control()
        self.session_factory = session_factory
        self._cond = threading.Condition()
        self._host_busy: dict[str, int] = {}
        self._annotations_left = 0  # annotation jobs pending or running: image jobs wait for them
        #: Target folder -> jobs taken and not released (SA-1B tars wait for their siblings, below).
        self._busy_targets: dict[str, int] = {}
        self._subset: dict[str, set[str]] | None = None
        self._subset_ready = False
        self.result = RunResult()
        self.disk = DiskMonitor.for_settings(plan.root, settings)
        #: The run's bandwidth limiter and per-host connection gates, shared by every job.
        self.net = net or NetShared(settings.limit_rate)
        self._running = 0  # jobs taken and not yet released
        #: Jobs parked by a full disk, retried in this run once job_need() bytes are free.
        self._space_parked: list[tuple[PlanItem, JobContext, Problem]] = []
        self._space_tries: dict[str, int] = {}

    @property
    def root(self) -> Path:
        return self.plan.root

    def run(self) -> RunResult:
        problem = client.ca_environment_problem()
        if problem is not None:
            raise SetupError.of(problem)
        lock = RootLock(self.root)
        lock.acquire()
        try:
            demoroot.check(self.root, self.settings.demo)  # the plan checked too; the root may have changed since
            if self.settings.demo:
                demoroot.mark(self.root)
            journal = Journal(self.root)
        except BaseException:
            lock.release()
            raise
        observer = self.emit
        try:
            with RunLog(self.root, observer, verbose=self.settings.verbose) as runlog:
                self.emit = runlog.emit  # every event also goes to <root>/.sharegpt4v-setup/logs/
                if journal.healed or journal.rebuild_pending:
                    proven = rebuild.apply(journal, self.root, self.catalog)
                    self.emit(Log("warning", rebuild.describe(journal, proven), None))
                with self.control.on_cancel(client.abort_in_flight):  # a request stalled before its answer too
                    return self._run(journal)
        finally:
            self.emit = observer
            journal.close()
            lock.release()

    def _run(self, journal: Journal) -> RunResult:
        items = sorted(self.plan.items, key=lambda i: (i.component.group != "annotations",))
        pending: list[PlanItem] = []
        for item in items:
            self.emit(JobQueued(item.component.id, item.component.title, item.total_download_bytes))
            if not item.needs_work:
                self.result.skipped.append(item.component.id)
                self.emit(JobDone(item.component.id, skipped=True, detail="already in place"))
            else:
                pending.append(item)
        self._annotations_left = sum(1 for i in pending if i.component.group == "annotations")
        st = self.settings
        run_id = journal.record_run({  # what a later "resume" needs (never the token)
            "components": [i.component.id for i in items],
            "catalog": str(self.catalog.path) if self.catalog.path else None,
            "options": {"hf_endpoint": st.hf_endpoint, "allow_mirrors": st.allow_mirrors,
                        "keep_archives": st.keep_archives, "full_archives": st.full_archives,
                        "sam_links": str(st.sam_links) if st.sam_links else None,
                        "drive_cookies": str(st.drive_cookies) if st.drive_cookies else None,
                        "local": {k: str(v) for k, v in st.local.items()}, "local_mode": st.local_mode,
                        "concurrency": st.concurrency, "per_host": st.per_host},
        })
        workers = [threading.Thread(target=self._worker, args=(pending, journal), daemon=True,
                                    name=f"sharegpt4v-job-{n}")
                   for n in range(max(1, min(self.settings.concurrency, len(pending))))]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wait_for_syncs()  # the files finished last are on disk before the run says so
        try:
            journal.finish_run(run_id)
        except sqlite3.Error as exc:  # e.g. the disk is full: the run's outcome is still reported
            self.emit(Log("warning", f"cannot record the end of the run in the journal: {exc}", None))
        r = self.result
        self.emit(RunFinished(tuple(r.done + r.skipped), tuple(r.failed), tuple(r.waiting), r.cancelled))
        return r

    def _host(self, item: PlanItem) -> str:
        if item.source is None:
            return "none"
        return kind_of(item.source.kind).host(item.source, self.settings, self.catalog)

    def _take(self, pending: list[PlanItem]) -> PlanItem | None:
        with self._cond:
            while pending or self._space_parked:
                if self.control.cancelled:
                    self._space_give_up()
                    return None
                for index, item in enumerate(pending):
                    if item.component.group != "annotations" and self._annotations_left:
                        continue  # the JSONs decide which images are needed: they come first
                    if self._waits_for_siblings(item, pending):
                        continue
                    host = self._host(item)
                    if self._host_busy.get(host, 0) < self.settings.per_host:
                        self._host_busy[host] = self._host_busy.get(host, 0) + 1
                        self._running += 1
                        target = item.component.target
                        self._busy_targets[target] = self._busy_targets.get(target, 0) + 1
                        return pending.pop(index)
                if not pending and self._space_parked:
                    retry = self._space_retry()
                    if retry is not None:
                        return retry
                    if not self._running:  # nothing left in this run can free space: next run
                        self._space_give_up()
                        return None
                self._cond.wait(0.5)
            return None

    def _waits_for_siblings(self, item: PlanItem, pending: list[PlanItem]) -> bool:
        """SA-1B tars stop once the images the JSONs want are in place: the other components that
        fill the same folder (the SAM 9K zip) go first, so the images they bring count (lock held)."""
        if item.source is None or not kind_of(item.source.kind).waits_for_siblings:
            return False
        target = item.component.target
        return self._busy_targets.get(target, 0) > 0 or any(
            other is not item and other.component.target == target for other in pending)

    def _space_retry(self) -> PlanItem | None:
        """A job parked by a full disk that now has room for its next step (lock held)."""
        free = self.disk.free(fresh=True)
        for index, (item, _ctx, _problem) in enumerate(self._space_parked):
            host_free = self._host_busy.get(self._host(item), 0) < self.settings.per_host
            if host_free and free >= job_need(item, self.settings):
                del self._space_parked[index]
                self._space_tries[item.component.id] = self._space_tries.get(item.component.id, 0) + 1
                self._host_busy[self._host(item)] = self._host_busy.get(self._host(item), 0) + 1
                self._running += 1
                target = item.component.target
                self._busy_targets[target] = self._busy_targets.get(target, 0) + 1
                self.emit(Log("info", f"{human(free)} free again; retrying {item.component.id}", item.component.id))
                return item
        return None

    def _space_give_up(self) -> None:
        for item, ctx, problem in self._space_parked:
            need = job_need(item, self.settings)
            self._problem(ctx, Problem(problem.code, f"{problem.message} It needs about {human(need)} free; "
                                       f"{human(self.disk.free(fresh=True))} is.", problem.hint, parked=True))
        self._space_parked.clear()

    def _park_for_space(self, item: PlanItem, ctx: JobContext, problem: Problem) -> bool:
        """Keep a job the disk filled under for a retry in this run (at most 3 times)."""
        if self._space_tries.get(item.component.id, 0) >= 3:
            return False
        with contextlib.suppress(sqlite3.Error, OSError):
            ctx.journal.set_stage(ctx.job, Stage.WAITING.value, problem=problem)
        self.emit(StageChanged(ctx.job, Stage.WAITING, f"{problem.message} Retried in this run once "
                               f"{human(job_need(item, self.settings))} is free."))
        with self._cond:
            self._space_parked.append((item, ctx, problem))
            self._cond.notify_all()
        return True

    def _release(self, item: PlanItem) -> None:
        with self._cond:
            self._host_busy[self._host(item)] -= 1
            self._running -= 1
            target = item.component.target
            self._busy_targets[target] = self._busy_targets.get(target, 1) - 1
            if item.component.group == "annotations":
                self._annotations_left -= 1
            self._cond.notify_all()

    def _only_for(self, item: PlanItem, ctx: JobContext) -> set[str] | None:
        """The target-relative paths the selected JSONs need from this component (None: all)."""
        with self._cond:
            if not self._subset_ready:
                self._subset_ready = True
                self._subset = self._compute_subset(ctx)
            return None if self._subset is None else self._subset.get(item.component.id)

    def _compute_subset(self, ctx: JobContext) -> dict[str, set[str]] | None:
        from .subset import image_paths, json_path, split_by_component

        if subset_key(self.plan.items, self.settings) is None:
            return None
        paths: set[str] = set()
        found = False
        for item in self.plan.items:
            path = json_path(self.root, item.component)
            if path is None:
                continue
            if not path.is_file():
                self.emit(Log("warning", f"{path.name} is not on disk: extracting whole archives", None))
                return None
            try:
                paths |= image_paths(path)
            except SetupError as exc:
                self.emit(Log("warning", f"{exc.problem.message}: extracting whole archives", None))
                return None
            found = True
        if not found:
            return None
        comps = [i.component for i in self.plan.items]
        self.emit(Log("info", f"the selected annotations reference {len(paths):,} images; only those are "
                      "extracted (use full archives to get everything)", None))
        return split_by_component(paths, comps)

    def _worker(self, pending: list[PlanItem], journal: Journal) -> None:
        session = self.session_factory()
        try:
            while (item := self._take(pending)) is not None:
                try:
                    self._run_item(item, journal, session)
                finally:
                    self._release(item)
        finally:
            session.close()

    def _run_item(self, item: PlanItem, journal: Journal, session: requests.Session) -> None:
        cid = item.component.id
        ctx = JobContext(cid, self.root, self.settings, journal, self.control, self.emit, session, self.disk,
                         self.net)
        try:
            if item.source is None:
                raise SetupError.of(item.problem or Problem(Code.NO_SOURCE, f"No source for {cid}."))
            if item.source.community:
                ctx.log(f"using a community mirror: {item.source.label}", "warning")
            previous = journal.get(cid)
            if previous is not None and previous.stage == Stage.DONE.value:
                # Done before, but the plan wants it again (e.g. full archives after a subset):
                # every archive has to be read again.
                journal.update_info(cid, items_done=[])
            journal.set_stage(cid, Stage.QUEUED.value, source=item.source.label)
            self.emit(StageChanged(cid, Stage.QUEUED, item.source.label))
            self.disk.wait_for(ctx, self.settings.min_free_bytes)  # new work waits while space is short
            only = None if item.component.group == "annotations" else self._only_for(item, ctx)
            summary = run_component(ctx, item.component, item.source, self.catalog, only=only,
                                    subset=subset_key(self.plan.items, self.settings) if only is not None
                                    else None)
        except Cancelled:
            self.result.cancelled = True
            self.emit(StageChanged(cid, Stage.CANCELLED, "kept; run again to resume"))
            return
        except SetupError as exc:
            if exc.problem.code == Code.NO_SPACE and self._park_for_space(item, ctx, exc.problem):
                return
            self._problem(ctx, exc.problem)
            return
        except OSError as exc:  # the disk or the tree (a file where a folder belongs, a name too long)
            problem = problem_for_os_error(exc, self.root)
            if problem.code == Code.NO_SPACE and self._park_for_space(item, ctx, problem):
                return
            self._problem(ctx, problem)
            return
        except Exception as exc:  # a bug: report it as a value, keep the other jobs going
            if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):  # not a bug: the disk is full
                problem = Problem(Code.NO_SPACE, f"The disk under {self.root} is full (the journal cannot be "
                                  "written).", "Free some space and run again.", parked=True)
                if not self._park_for_space(item, ctx, problem):
                    self._problem(ctx, problem)
                return
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self.emit(Log("error", traceback.format_exc(), cid))
            self._problem(ctx, Problem(Code.INTERNAL, f"Unexpected error in {cid}: {detail}",
                                       "This is a bug in sharegpt4v-setup; the work so far is kept. "
                                       "Please report it with the log."))
            return
        journal.set_stage(cid, Stage.DONE.value)
        _drop_leftovers(ctx, item.component)
        if previous is not None and previous.stage != Stage.DONE.value:  # an earlier attempt: killed?
            self._drop_temp_files(ctx, item.component)
        self.result.done.append(cid)
        self.result.waiting.pop(cid, None)
        self.emit(StageChanged(cid, Stage.DONE, summary))
        self.emit(JobDone(cid, detail=summary))

    def _drop_temp_files(self, ctx: JobContext, component: Component) -> None:
        """After an earlier attempt (a kill -9 mid-member leaves a ``.NAME.extracting`` temp file that
        no later extraction may replace: the member came from another source, or was in place), the
        done component's target is swept once; not while another job extracts in or around it."""
        target = component.target.strip("/")
        with self._cond:
            busy = any(n > (1 if t == component.target else 0) and (
                t.strip("/") == target or f"{t.strip('/')}/".startswith(f"{target}/")
                or f"{target}/".startswith(f"{t.strip('/')}/")) for t, n in self._busy_targets.items())
        if busy:
            return
        drop_temp_files(ctx, target)

    def _problem(self, ctx: JobContext, problem: Problem) -> None:
        stage = Stage.WAITING if problem.parked else Stage.FAILED
        try:
            ctx.journal.set_stage(ctx.job, stage.value, problem=problem)
        except (sqlite3.Error, OSError) as exc:  # e.g. the disk is full: still report the problem
            self.emit(Log("warning", f"cannot record the problem in the journal: {exc}", ctx.job))
        (self.result.waiting if problem.parked else self.result.failed)[ctx.job] = problem
        self.emit(StageChanged(ctx.job, stage, problem.message))
        self.emit(JobFailed(ctx.job, problem))


def _drop_leftovers(ctx: JobContext, component: Component) -> None:
    """A done component's partial downloads in the downloads folder, of every source (e.g. a Drive
    partial the quota stopped, when a mirror or a local copy finished the component): deleted."""
    for source in component.sources:
        if not is_known(source.kind):
            continue
        for path in kind_of(source.kind).leftovers(source, ctx.downloads):
            try:
                size = path.stat().st_size
                path.unlink()
            except OSError as exc:
                ctx.log(f"cannot delete the leftover partial download {path.name}: {exc}", "warning")
            else:
                ctx.log(f"deleted {path.name} ({size:,} bytes): a partial download the finished component "
                        "no longer needs")
