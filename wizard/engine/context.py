"""What a running job can see: its settings, the journal, the control token and its observer.

Every source module and the extractor take a :class:`JobContext`; that is the "same shape for
all" the sources share. Nothing here knows about Qt or terminals.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from .control import Control
from .events import Emit, Log, Progress, Stage, StageChanged, null_emit
from .journal import Journal, state_dir
from .net.ratelimit import NetShared, RateLimiter
from .runlog import redact
from .settings import Settings, hub_endpoint

__all__ = ["JobContext", "Settings", "hub_endpoint"]

if TYPE_CHECKING:
    import requests

    from .diskspace import DiskMonitor


class JobContext:
    """Per-job handle: identity, where to put files, how to report, when to stop."""

    def __init__(self, job: str, root: Path, settings: Settings, journal: Journal, control: Control,
                 emit: Emit = null_emit, session: requests.Session | None = None,
                 disk: DiskMonitor | None = None, net: NetShared | None = None) -> None:
        self.job = job
        self.root = root
        self.settings = settings
        self.journal = journal
        self.control = control
        self._emit = emit
        if session is None:
            from .net.client import new_session  # requests, not at import time: --version needs none

            session = new_session()
        self.session = session
        self.stage_now = Stage.QUEUED
        self._journal_bytes_at = 0.0
        #: The run's free-space watch (:mod:`wizard.engine.diskspace`); progress reports consult it.
        self.disk = disk
        #: What the run's transfers share (limiter, host gates, clocks); owned by the runner.
        self.net = net or NetShared(settings.limit_rate)

    @property
    def limiter(self) -> RateLimiter:
        """The run's bandwidth limiter (``Settings.limit_rate``), shared by every job of the run."""
        return self.net.limiter_for(self.settings.limit_rate)

    def for_job(self, job: str) -> JobContext:
        """The same run, settings and observer under another journal id (e.g. ``repair:<id>``)."""
        return JobContext(job, self.root, self.settings, self.journal, self.control, self._emit, self.session,
                          self.disk, self.net)

    @property
    def downloads(self) -> Path:
        path = state_dir(self.root) / "downloads"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def quarantine(self) -> Path:
        path = state_dir(self.root) / "quarantine"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def reports(self) -> Path:
        path = state_dir(self.root) / "reports"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def stage(self, stage: Stage, detail: str = "") -> None:
        self.stage_now = stage
        self.journal.set_stage(self.job, stage.value)
        self._emit(StageChanged(self.job, stage, detail))

    def progress(self, done: int, total: int | None, unit: str = "bytes") -> None:
        self._emit(Progress(self.job, self.stage_now, done, total, unit))
        now = time.monotonic()
        if now - self._journal_bytes_at >= 2.0 or (total is not None and done >= total):
            self._journal_bytes_at = now
            self.journal.set_bytes(self.job, done, total)
        if self.disk is not None:
            self.disk.check(self)  # at most one statvfs a second; waits while space is short

    def log(self, text: str, level: str = "info") -> None:
        """A line for the user (GUI log pane, terminal) and the run log; tokens and URL queries removed."""
        self._emit(Log(level, redact(text), self.job))

    def item_done(self, name: str) -> bool:
        """Whether a file of a multi-file component (e.g. one SAM tar) was fully processed."""
        rec = self.journal.get(self.job)
        return bool(rec and name in rec.info.get("items_done", []))

    def mark_item_done(self, name: str) -> None:
        rec = self.journal.get(self.job)
        done = list(rec.info.get("items_done", [])) if rec else []
        if name not in done:
            done.append(name)
        self.journal.update_info(self.job, items_done=done)
