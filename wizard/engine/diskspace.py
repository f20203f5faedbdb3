"""Free space on the data root's filesystem: a cheap watch that pauses work before the disk fills.

:class:`DiskMonitor` is made once per run (the runner hands it to every :class:`JobContext`).
``check(ctx)`` is called from ``JobContext.progress`` — i.e. from every download and extraction
loop — and costs one ``statvfs`` at most once a second (``interval``); the runner also calls
``wait_for(ctx, need)`` before each job starts. While the filesystem has less free than
``Settings.min_free_bytes``, the job reports ``WAITING`` ("Only 312.0 MB free on /data; waiting for
space (need 1.1 GB)"), looks again every ``Settings.space_poll_seconds`` and carries on by itself
once space is back. Pause and cancel work while it waits (``Control``).

A write that fails with ENOSPC/EDQUOT anyway (another program filled the disk, the margin was 0)
parks the job with ``no-space``; the runner retries such jobs in the same run when
:func:`job_need` bytes are free again (see ``runner.py``), else the next run does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .events import Stage
from .fsinfo import free_bytes, mount_point
from .sources import kind_of
from .units import human

if TYPE_CHECKING:
    from .context import JobContext, Settings
    from .plan import PlanItem

log = logging.getLogger(__name__)


def job_need(item: PlanItem, settings: Settings) -> int:
    """Free bytes a job needs before it is worth (re)starting after the disk filled.

    The margin, plus the archive it keeps on disk at once (none for streamed SA-1B tars), plus
    what one of its archives extracts to. An over-estimate for a half-done archive: such a job
    then waits for the next run rather than failing again in this one.
    """
    pieces = 1 if item.source is None else kind_of(item.source.kind).pieces(item.source)
    return max(0, settings.min_free_bytes) + item.peak_archive_bytes + item.extracted_bytes // pieces


class DiskMonitor:
    """Watches the free space of one data root's filesystem for a run. Thread-safe.

    ``statfn`` and ``clock`` are injectable for tests; ``interval`` bounds how often
    :meth:`check` really asks the filesystem.
    """

    def __init__(self, root: Path, min_free: int, *, poll: float = 5.0, interval: float = 1.0,
                 statfn: Callable[[Path], int] = free_bytes, clock: Callable[[], float] = time.monotonic) -> None:
        self.root = Path(root)
        self.min_free = max(0, min_free)
        self.poll = max(0.01, poll)
        self.interval = interval
        self._statfn = statfn
        self._clock = clock
        self._lock = threading.Lock()
        self._free = 0
        self._at = float("-inf")
        self._fs: Path | None = None

    @classmethod
    def for_settings(cls, root: Path, settings: Settings) -> DiskMonitor:
        return cls(root, settings.min_free_bytes, poll=settings.space_poll_seconds)

    @property
    def filesystem(self) -> Path:
        """The mount point named in messages."""
        if self._fs is None:
            self._fs = mount_point(self.root)
        return self._fs

    def free(self, *, fresh: bool = False) -> int:
        """Free bytes now (a value at most ``interval`` old unless ``fresh``)."""
        with self._lock:
            now = self._clock()
            if fresh or now - self._at >= self.interval:
                try:
                    self._free = self._statfn(self.root)
                except OSError:  # the root vanished or the fs is gone: do not block on it
                    self._free = max(self._free, self.min_free)
                self._at = now
            return self._free

    def check(self, ctx: JobContext) -> None:
        """Cheap test from a progress hook: wait (as WAITING) while free space is under the margin."""
        if self.min_free and self.free() < self.min_free:
            self.wait_for(ctx, self.min_free)

    def message(self, free: int, need: int) -> str:
        return f"Only {human(free)} free on {self.filesystem}; waiting for space (need {human(need)})"

    def wait_for(self, ctx: JobContext, need: int) -> int:
        """Block until ``need`` bytes are free; report WAITING meanwhile. Returns the free bytes.

        Pause blocks here too; a cancel raises :class:`~wizard.engine.errors.Cancelled`.
        """
        free = self.free(fresh=True)
        if free >= need:
            return free
        previous = ctx.stage_now
        text = self.message(free, need)
        log.debug("%s waits for space: %d bytes free, %d needed (poll every %.1f s)", ctx.job, free, need, self.poll)
        ctx.log(text + "; free some space and the work carries on by itself", "warning")
        ctx.stage(Stage.WAITING, text)
        shown = free
        while free < need:
            ctx.control.checkpoint()
            ctx.control.sleep(self.poll)
            free = self.free(fresh=True)
            if free < need and abs(free - shown) >= max(1, need // 20):
                shown = free  # keep the figure current without flooding the log
                ctx.stage(Stage.WAITING, self.message(free, need))
        ctx.log(f"{human(free)} free on {self.filesystem} again; carrying on")
        ctx.stage(previous if previous != Stage.WAITING else Stage.QUEUED, "space is available again")
        return free
