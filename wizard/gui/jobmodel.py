"""The latest state of every job, fed by engine events; speed and ETA from a rolling window.

Qt-free on purpose: the bridge delivers events to the GUI thread, :meth:`JobBoard.apply` keeps
the newest numbers, and the progress page repaints from here on a timer (throttling at the GUI
edge, however fast the engine reports).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..engine.errors import Problem
from ..engine.events import Event, JobDone, JobFailed, JobQueued, Progress, Stage, StageChanged

# Seconds of history used for speeds.
WINDOW_SECONDS = 10.0
FINAL_STAGES = (Stage.DONE, Stage.FAILED, Stage.WAITING, Stage.CANCELLED)
_PAST_DOWNLOAD = (Stage.EXTRACTING, Stage.PLACING, Stage.DONE)

Clock = Callable[[], float]


class RateMeter:
    """Bytes per second over the last ``window`` seconds of (time, counter) samples."""

    def __init__(self, window: float = WINDOW_SECONDS, clock: Clock = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def reset(self) -> None:
        self._samples.clear()

    def add(self, value: int, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        if self._samples and value < self._samples[-1][1]:
            self._samples.clear()  # the counter restarted (a download started over)
        self._samples.append((now, value))
        self._prune(now)

    def _prune(self, now: float) -> None:
        # Keep one sample older than the window as the baseline of the rate.
        while len(self._samples) > 1 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()

    def rate(self, now: float | None = None) -> float | None:
        """Bytes per second, decaying to 0 when nothing arrives; None until there is history."""
        now = self.clock() if now is None else now
        self._prune(now)
        if not self._samples:
            return None
        if len(self._samples) == 1:  # nothing new for a whole window: stalled
            return 0.0 if now - self._samples[0][0] >= self.window else None
        first_t, first_v = self._samples[0]
        span = now - first_t
        if span < 0.5:
            return None
        return (self._samples[-1][1] - first_v) / min(span, self.window * 2)


@dataclass
class JobState:
    """What the progress page shows for one job."""

    job: str
    title: str
    planned: int | None  # download bytes the plan expects
    stage: Stage = Stage.QUEUED
    detail: str = ""
    done: int = 0  # progress within the current stage
    total: int | None = None
    downloaded: int = 0
    download_total: int | None = None
    problem: Problem | None = None
    skipped: bool = False
    meter: RateMeter = field(default_factory=RateMeter)
    counting: bool = False  # a first progress event was seen (the baseline of a resumed file)
    done_before: bool = False  # finished by an earlier run of this window
    items: bool = False  # download progress counts files (OCR-VQA images), not bytes

    @property
    def finished(self) -> bool:
        return self.stage in FINAL_STAGES

    @property
    def expected_bytes(self) -> int:
        if self.items:
            return self.planned or 0
        return self.download_total or self.planned or 0

    def download_fraction(self) -> float:
        if self.stage in _PAST_DOWNLOAD:
            return 1.0
        if self.download_total:
            return min(1.0, self.downloaded / self.download_total)
        return 0.0

    def fraction(self) -> float | None:
        """Progress of the current stage (0..1), or None when its total is unknown."""
        if self.stage == Stage.DONE:
            return 1.0
        if self.total:
            return min(1.0, self.done / self.total)
        return None

    def speed(self, now: float | None = None) -> float | None:
        return self.meter.rate(now) if self.stage == Stage.DOWNLOADING else None

    def eta(self, now: float | None = None) -> float | None:
        rate = self.speed(now)
        if not rate or rate <= 0 or not self.download_total:
            return None
        return max(0.0, self.download_total - self.downloaded) / rate


class JobBoard:
    """Every job seen in this session of the wizard, in the order they were queued."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.jobs: dict[str, JobState] = {}
        #: Jobs whose download progress counts files rather than bytes (set from the plan).
        self.item_jobs: set[str] = set()
        self._moved = 0  # bytes transferred in this session (for the overall speed)
        self.meter = RateMeter(clock=clock)

    def apply(self, event: Event) -> None:
        if isinstance(event, JobQueued):
            old = self.jobs.get(event.job)
            self.jobs[event.job] = JobState(event.job, event.title, event.download_bytes,
                                            meter=RateMeter(clock=self.clock),
                                            done_before=old is not None and old.stage == Stage.DONE
                                            and not old.skipped, items=event.job in self.item_jobs)
            return
        state = self.jobs.get(getattr(event, "job", None) or "")
        if state is None:
            return
        if isinstance(event, StageChanged):
            state.stage, state.detail = event.stage, event.detail
            if event.stage not in FINAL_STAGES:
                state.done, state.total = 0, None
            if event.stage != Stage.DOWNLOADING:
                state.meter.reset()
        elif isinstance(event, Progress):
            if event.unit == "files" and not state.items:
                state.items = True
                self.item_jobs.add(event.job)
            state.done, state.total = event.done, event.total
            if event.stage == Stage.DOWNLOADING:
                if state.counting and not state.items:
                    self._moved += max(0, event.done - state.downloaded)
                state.counting = True
                state.downloaded = event.done
                state.download_total = event.total
                state.meter.add(event.done)
                self.meter.add(self._moved)
        elif isinstance(event, JobFailed):
            state.problem = event.problem
        elif isinstance(event, JobDone):
            # A job done earlier in this window and skipped by a later run still reads "Done".
            state.stage, state.skipped = Stage.DONE, event.skipped and not state.done_before
            state.detail = event.detail
            state.problem = None

    def stop_unfinished(self) -> None:
        """After a run ended early: jobs it never finished read "stopped", not "queued"."""
        for state in self.jobs.values():
            if not state.finished:
                state.stage = Stage.CANCELLED
                state.meter.reset()

    def overall(self) -> tuple[int, int]:
        """(bytes done, bytes expected) over all jobs: the overall bar."""
        done = total = 0
        for state in self.jobs.values():
            expected = state.expected_bytes
            total += expected
            done += int(expected * state.download_fraction())
        return done, total

    def overall_eta(self) -> float | None:
        rate = self.meter.rate(self.clock())
        done, total = self.overall()
        if not rate or rate <= 0:
            return None
        return max(0, total - done) / rate

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "failed": 0, "waiting": 0, "cancelled": 0, "running": 0}
        for state in self.jobs.values():
            key = {Stage.DONE: "done", Stage.FAILED: "failed", Stage.WAITING: "waiting",
                   Stage.CANCELLED: "cancelled"}.get(state.stage, "running")
            out[key] += 1
        return out
