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
from ..engine.events import Event, JobDone, JobFailed, JobQueued, Log, Progress, Stage, StageChanged

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
    """What the progress page shows for one job.

    ``weight`` is the job's share of the overall total: the bytes the plan expects it to
    download. ``counted`` is how much of that weight is done; it never decreases within a run,
    whatever the engine reports (a multi-file job such as the SAM tars reports each file from 0,
    OCR-VQA first reports its ``dataset.json`` in bytes and then its images in files).
    """

    job: str
    title: str
    planned: int | None  # download bytes the plan expects
    stage: Stage = Stage.QUEUED
    detail: str = ""
    done: int = 0  # progress within the current stage
    total: int | None = None
    downloaded: int = 0  # the current file's bytes (or, for item jobs, files) so far
    download_total: int | None = None
    problem: Problem | None = None
    #: The engine's last warning for the job at work (a retry and why), until it moves on.
    warning: str = ""
    skipped: bool = False
    meter: RateMeter = field(default_factory=RateMeter)
    counting: bool = False  # a first progress event was seen (the baseline of a resumed file)
    done_before: bool = False  # finished by an earlier run of this window
    items: bool = False  # download progress counts files (OCR-VQA images), not bytes
    weight: int = 0
    counted: int = 0
    file_base: int = 0  # bytes of the job's earlier files (multi-file jobs)

    def __post_init__(self) -> None:
        self.weight = self.planned or 0

    @property
    def finished(self) -> bool:
        return self.stage in FINAL_STAGES

    @property
    def expected_bytes(self) -> int:
        return self.weight

    def download_fraction(self) -> float:
        """The job's share of its weight that is done (0..1, never decreasing within a run)."""
        if self.weight <= 0:
            return 1.0 if self.stage in _PAST_DOWNLOAD else 0.0
        return min(1.0, self.counted / self.weight)

    def fraction(self) -> float | None:
        """Progress of the current stage (0..1), or None when its total is unknown.

        While downloading bytes it is the whole job's download, so a multi-file job's bar does
        not start again with every file."""
        if self.stage == Stage.DONE:
            return 1.0
        if self.stage == Stage.DOWNLOADING and not self.items and self.weight:
            return self.download_fraction()
        if self.total:
            return min(1.0, self.done / self.total)
        return None

    def speed(self, now: float | None = None) -> float | None:
        return self.meter.rate(now) if self.stage == Stage.DOWNLOADING else None

    def eta(self, now: float | None = None) -> float | None:
        rate = self.speed(now)
        if not rate or rate <= 0:
            return None
        if self.items:
            return None if not self.download_total else max(0, self.download_total - self.downloaded) / rate
        return max(0.0, self.weight - self.counted) / rate if self.weight else None

    def _count(self, value: int) -> None:
        self.counted = max(self.counted, min(self.weight, value))


class JobBoard:
    """Every job seen in this session of the wizard, in the order they were queued."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.jobs: dict[str, JobState] = {}
        #: Jobs whose download progress counts files rather than bytes (set from the plan).
        self.item_jobs: set[str] = set()
        self._moved = 0  # bytes transferred in this session (for the overall speed)
        self._shown = 0.0  # the overall fraction shown so far in this run: the bar never goes back
        self._notes: list[tuple[str, str]] = []
        self.meter = RateMeter(clock=clock)

    def begin_run(self) -> None:
        """A new run starts: the overall bar may start from what is really done again."""
        self._shown = 0.0

    def take_notes(self) -> list[tuple[str, str]]:
        """(job, text) explanations of totals that changed since the last call, for the log."""
        notes, self._notes = self._notes, []
        return notes

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
            state.stage, state.detail, state.warning = event.stage, event.detail, ""
            if event.stage not in FINAL_STAGES:
                state.done, state.total = 0, None
            if event.stage != Stage.DOWNLOADING:
                state.meter.reset()
            if event.stage in _PAST_DOWNLOAD:
                state.counted = state.weight
        elif isinstance(event, Progress):
            if event.unit == "files" and not state.items:
                state.items = True
                self.item_jobs.add(event.job)
                state.downloaded, state.download_total, state.counting = 0, None, False
                state.meter.reset()
            if event.done > state.done:  # going again
                state.warning = ""
            state.done, state.total = event.done, event.total
            if event.stage == Stage.DOWNLOADING:
                self._downloading(state, event)
        elif isinstance(event, Log):
            if event.level == "warning" and not state.finished:
                state.warning = event.text
        elif isinstance(event, JobFailed):
            state.problem = event.problem
        elif isinstance(event, JobDone):
            # A job done earlier in this window and skipped by a later run still reads "Done".
            state.stage, state.skipped = Stage.DONE, event.skipped and not state.done_before
            state.detail = event.detail
            state.problem = None
            state.counted = state.weight

    def _downloading(self, state: JobState, event: Progress) -> None:
        if state.items != (event.unit == "files"):
            return  # OCR-VQA's dataset.json before its images: the images are the job's measure
        if state.items:
            state.downloaded, state.download_total = event.done, event.total
            state.meter.add(event.done)
            if event.total:
                state._count(state.weight * event.done // event.total)
            return
        if state.counting:
            if event.done < state.downloaded:  # the next file of the job, or the file started over
                state.file_base += state.downloaded
            else:
                self._moved += event.done - state.downloaded
        state.counting = True
        state.downloaded, state.download_total = event.done, event.total
        known = state.file_base + (event.total if event.total is not None else event.done)
        if known > state.weight:
            self._grow(state, known)
        state._count(state.file_base + event.done)
        state.meter.add(state.file_base + event.done)
        self.meter.add(self._moved)

    def _grow(self, state: JobState, total: int) -> None:
        """The job turns out bigger than planned: raise its weight and say why."""
        from ..engine.plan import human  # the plan module is not needed for the first window

        if state.weight:
            why = f"the server reports {human(total)} where the plan expected {human(state.weight)}; " \
                  "the overall total grows accordingly"
        else:
            why = f"its size is known now ({human(total)}); the overall total grows accordingly"
        state.weight = total
        self._notes.append((state.job, why))

    def stop_unfinished(self) -> None:
        """After a run ended early: jobs it never finished read "stopped", not "queued"."""
        for state in self.jobs.values():
            if not state.finished:
                state.stage = Stage.CANCELLED
                state.meter.reset()

    def overall(self) -> tuple[int, int]:
        """(bytes done, bytes expected) over all jobs; neither decreases within a run."""
        done = sum(s.counted for s in self.jobs.values())
        total = sum(s.weight for s in self.jobs.values())
        return done, total

    def overall_fraction(self) -> float:
        """The overall bar (0..1): done / total, but never below what this run showed before."""
        done, total = self.overall()
        if total:
            self._shown = max(self._shown, min(1.0, done / total))
        return self._shown

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
