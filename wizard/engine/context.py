"""What a running job can see: its settings, the journal, the control token and its observer.

Every source module and the extractor take a :class:`JobContext`; that is the "same shape for
all" the sources share. Nothing here knows about Qt or terminals.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .control import Control
from .events import Emit, Log, Progress, Stage, StageChanged, null_emit
from .journal import Journal, state_dir
from .net.ratelimit import NetShared, RateLimiter
from .runlog import redact

if TYPE_CHECKING:
    import requests

    from .diskspace import DiskMonitor


@dataclass
class Settings:
    """Run-wide options; the CLI flags and the GUI's options page fill this in."""

    hf_endpoint: str | None = None  # None: catalog/HF_ENDPOINT
    hf_token: str | None = None
    keep_archives: bool = False
    allow_mirrors: bool = False
    concurrency: int = 3  # jobs at once
    per_host: int = 2  # jobs at once per host
    sam_links: Path | None = None
    drive_cookies: Path | None = None  # cookies.txt for Google Drive (gdown), for users the quota stops
    local: dict[str, Path] = field(default_factory=dict)
    local_mode: str = "hardlink"  # hardlink | copy | move
    retries: int = 6  # consecutive failed attempts without progress before giving up
    backoff: float = 1.0  # first retry delay in seconds, doubled each time (capped)
    backoff_cap: float = 60.0
    connect_timeout: float = 20.0
    read_timeout: float = 60.0
    stall_seconds: float = 120.0  # reconnect when under stall_bytes arrive in this window
    stall_bytes: int = 64 * 1024
    chunk_size: int = 1 << 20
    force: bool = False  # start even when the plan does not fit the free space
    #: False: when annotation JSONs are part of the run, extract only the images they reference.
    full_archives: bool = False
    limit_rate: int | None = None  # bytes/s over all transfers (None: unlimited)
    segments: int | None = None  # connections per large file (None: by size; 1: never split)
    min_segment_size: int = 32 << 20  # bytes; no piece of a split download is smaller
    ocr_workers: int = 8  # OCR-VQA images fetched at once
    ocr_per_host: int = 8  # ... of which at most this many from one host
    ocr_retries: int = 3  # retries per OCR-VQA image (timeouts, 5xx, 429) before it counts as dead
    #: SA-1B tars: extract members while the tar downloads; the tar itself is never stored.
    stream_tars: bool = True
    #: New work waits while the root's filesystem has less free than this (0: never wait).
    min_free_bytes: int = 512 << 20  # = plan.MARGIN_BYTES: a plan that fits never waits for space
    space_poll_seconds: float = 5.0  # how often a job waiting for free space looks again
    #: The observer also gets DEBUG records (every request); the run log always has them.
    verbose: bool = False



def hub_endpoint(settings: Settings, default: str) -> str:
    """The Hub endpoint to use: the setting first, then HF_ENDPOINT (e.g. https://hf-mirror.com),
    then ``default`` (the catalog's)."""
    return (settings.hf_endpoint or os.environ.get("HF_ENDPOINT") or default).rstrip("/")

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
            import requests  # not at import time: the CLI's --version and the GUI's first page need none

            session = requests.Session()
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
