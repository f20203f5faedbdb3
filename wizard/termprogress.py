"""Terminal rendering of engine events: progress lines with speed and ETA, and problems.

On a terminal the job table is redrawn in place at most four times a second; elsewhere (a log
file, CI, ``nohup``) stage changes and problems are printed as lines, with a progress line per
job every 30 seconds.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TextIO

from .engine.events import (
    Event,
    JobDone,
    JobFailed,
    JobQueued,
    Log,
    Progress,
    RunFinished,
    Stage,
    StageChanged,
)
from .engine.plan import human


@dataclass
class _JobView:
    title: str
    stage: Stage = Stage.QUEUED
    done: int = 0
    total: int | None = None
    detail: str = ""
    unit: str = "bytes"
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=40))
    last_line: float = 0.0

    def speed(self) -> float:
        """Bytes per second over the rolling window of samples (about the last 10 s)."""
        if len(self.samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 and b1 >= b0 else 0.0

    def describe(self) -> str:
        text = f"{self.stage.value:<11}"
        if self.stage in (Stage.DOWNLOADING, Stage.VERIFYING, Stage.EXTRACTING) and self.done:
            pct = f"{100 * self.done / self.total:5.1f}%" if self.total else "   ? %"
            if self.unit == "files":
                text += f" {pct} {self.done:>9,} / {self.total or 0:<9,} files"
            else:
                text += f" {pct} {human(self.done):>9} / {human(self.total):<9}"
            speed = self.speed()
            if speed > 0:
                text += f" {speed:.1f} files/s" if self.unit == "files" else f" {human(int(speed))}/s"
                if self.total:
                    text += f" ETA {_eta((self.total - self.done) / speed)}"
        elif self.detail:
            text += f" {self.detail}"
        return text


def _can_redraw(stream: TextIO) -> bool:
    """Whether the table can be redrawn in place: a terminal that knows the cursor codes (not
    ``TERM=dumb``, as in an Emacs shell or some CI consoles, which print them as text)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


def _columns(stream: TextIO) -> int:
    """The terminal's width: ``COLUMNS`` when set, else the terminal's own, else 80."""
    try:
        return max(20, int(os.environ["COLUMNS"]))
    except (KeyError, ValueError):
        pass
    try:
        return max(20, os.get_terminal_size(stream.fileno()).columns)
    except (AttributeError, ValueError, OSError):
        return 80


def _eta(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class TerminalReporter:
    """An engine observer that writes to a terminal or a log. Thread-safe."""

    def __init__(self, stream: TextIO | None = None, *, interactive: bool | None = None,
                 quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.interactive = _can_redraw(self.stream) if interactive is None else interactive
        self.quiet = quiet
        self.jobs: dict[str, _JobView] = {}
        self._lock = threading.Lock()
        self._drawn = 0
        self._last_draw = 0.0

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._handle(event)

    def _print(self, line: str) -> None:
        self._clear()
        print(line, file=self.stream, flush=True)

    def _handle(self, event: Event) -> None:
        now = time.monotonic()
        if isinstance(event, JobQueued):
            self.jobs[event.job] = _JobView(event.title)
        elif isinstance(event, StageChanged):
            view = self.jobs.setdefault(event.job, _JobView(event.job))
            view.stage, view.detail = event.stage, event.detail
            view.samples.clear()
            # On a terminal the table shows the busy stages; a log gets a line when each starts.
            shown = (Stage.DONE, Stage.CANCELLED) if self.interactive else (
                Stage.DOWNLOADING, Stage.EXTRACTING, Stage.DONE, Stage.CANCELLED)
            if not self.quiet and event.stage in shown:
                extra = f" ({event.detail})" if event.detail else ""
                self._print(f"{event.job}: {event.stage.value}{extra}")
        elif isinstance(event, Progress):
            view = self.jobs.setdefault(event.job, _JobView(event.job))
            if event.done < view.done:
                view.samples.clear()
            view.done, view.total, view.unit = event.done, event.total, event.unit
            view.samples.append((now, event.done))
            if not self.interactive and not self.quiet and now - view.last_line >= 30:
                view.last_line = now
                self._print(f"{event.job}: {view.describe()}")
        elif isinstance(event, JobFailed):
            self._print(f"{event.job}: {event.problem.render()}")
        elif isinstance(event, JobDone):
            if event.skipped and not self.quiet:
                self._print(f"{event.job}: {event.detail or 'already in place'}")
        elif isinstance(event, Log):
            if event.level != "info" or not self.quiet:
                prefix = f"{event.job}: " if event.job else ""
                if event.level != "info" or not self.interactive:
                    self._print(f"{prefix}{event.level}: {event.text}" if event.level != "info"
                                else f"{prefix}{event.text}")
        elif isinstance(event, RunFinished):
            self._clear()
            return
        if self.interactive and now - self._last_draw >= 0.25:
            self._draw()
            self._last_draw = now

    def _active(self) -> list[tuple[str, _JobView]]:
        busy = (Stage.DOWNLOADING, Stage.VERIFYING, Stage.EXTRACTING, Stage.PLACING)
        return [(k, v) for k, v in self.jobs.items() if v.stage in busy]

    def _draw(self) -> None:
        self._clear()
        lines = [f"  {k:<16} {v.describe()}" for k, v in self._active()]
        finished = sum(1 for v in self.jobs.values() if v.stage == Stage.DONE)
        lines.append(f"  [{finished}/{len(self.jobs)} components done]")
        # One row each: a line the terminal wraps takes two rows, and the cursor-up that clears
        # the table would leave the rest behind at every redraw (a narrow terminal, a split pane).
        width = _columns(self.stream) - 1
        lines = [line if len(line) <= width else line[: width - 1] + "…" for line in lines]
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = len(lines)

    def _clear(self) -> None:
        if self.interactive and self._drawn:
            self.stream.write(f"\x1b[{self._drawn}A\x1b[J")
            self._drawn = 0
