"""How many workers of a pool may work at once, found by watching the throughput.

:class:`WorkerLimit` starts at a few workers and hill-climbs: at the end of each window (one
second by default, on an injectable clock) it compares the items finished per second with the
window before. While more workers bring more throughput it adds a quarter more (at least one);
when an increase brought nothing it steps back to the count before and holds for a few windows
before probing again. A 429/503 from the host (:meth:`throttled`) halves the count at once and
holds longer. The pool's workers bracket each item with :meth:`acquire` / :meth:`release`.

It never grows while the workers were not all busy (the end of a batch, a slow disk), so an idle
tail does not look like a reason to add connections.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Windows to stay put after an increase that did not pay off, and after a throttle.
HOLD_WINDOWS = 5
THROTTLE_HOLD_WINDOWS = 10


class WorkerLimit:
    """A resizable semaphore that sizes itself by throughput (see the module docstring)."""

    def __init__(self, start: int, *, floor: int = 1, ceiling: int = 32, window: float = 1.0,
                 gain: float = 0.05, clock: Callable[[], float] = time.monotonic) -> None:
        self.floor = max(1, floor)
        self.ceiling = max(self.floor, ceiling)
        self.window = window
        self.gain = gain
        self._clock = clock
        self._cond = threading.Condition()
        self._limit = min(self.ceiling, max(self.floor, start))
        self._active = 0
        self._busy = self._active  # most workers busy at once in this window
        self._count = 0
        self._window_start = clock()
        self._baseline: float | None = None  # the rate before the last increase
        self._before: int | None = None  # the limit before the last increase (None: none pending)
        self._hold = 0
        self._last_cut = float("-inf")

    @property
    def limit(self) -> int:
        with self._cond:
            return self._limit

    @property
    def active(self) -> int:
        with self._cond:
            return self._active

    def acquire(self, stop: threading.Event | None = None, poll: float = 0.2) -> bool:
        """Wait for a slot; False when ``stop`` was set first."""
        with self._cond:
            while True:
                if stop is not None and stop.is_set():
                    return False
                if self._active < self._limit:
                    self._active += 1
                    self._busy = max(self._busy, self._active)
                    return True
                self._cond.wait(poll)

    def release(self, finished: int = 1) -> None:
        """A worker is done with its item (``finished`` items count toward the throughput)."""
        with self._cond:
            self._active = max(0, self._active - 1)
            self._count += finished
            self._tick()
            self._wake()

    def throttled(self) -> None:
        """The host said "too many": half the workers (at most once a window: the answers of
        the requests already under way say the same thing), and no growth for a while."""
        with self._cond:
            old = self._limit
            now = self._clock()
            if now - self._last_cut >= self.window:
                self._limit = max(self.floor, old // 2)
                self._last_cut = now
            self._before, self._baseline = None, None
            self._hold = THROTTLE_HOLD_WINDOWS
            self._restart_window()
            if self._limit != old:
                log.info("throttled by the host: %d -> %d workers", old, self._limit)

    def tick(self) -> None:
        """Decide now if a window has ended (``release`` does this too)."""
        with self._cond:
            self._tick()
            self._wake()

    # -- decisions (callers hold the condition) ------------------------------------------------
    def _wake(self) -> None:
        """Wake as many waiters as there are free slots (not all of them: a herd costs CPU)."""
        free = self._limit - self._active
        if free > 0:
            self._cond.notify(free)

    def _restart_window(self) -> None:
        self._window_start = self._clock()
        self._count = 0
        self._busy = self._active

    def _tick(self) -> None:
        now = self._clock()
        elapsed = now - self._window_start
        if elapsed < self.window:
            return
        rate = self._count / elapsed
        saturated = self._busy >= self._limit
        self._decide(rate, saturated)
        self._restart_window()

    def _decide(self, rate: float, saturated: bool) -> None:
        if self._hold > 0:
            self._hold -= 1
            return
        if self._before is not None and self._baseline is not None:
            if rate < self._baseline * (1 + self.gain):  # the last increase brought nothing: undo it
                log.debug("%d workers did no better than %d (%.1f vs %.1f/s): back to %d",
                          self._limit, self._before, rate, self._baseline, self._before)
                self._limit, self._before, self._baseline = self._before, None, None
                self._hold = HOLD_WINDOWS
                return
            self._before = None  # it paid off; maybe grow again below
        if saturated and self._limit < self.ceiling and rate > 0:
            self._before, self._baseline = self._limit, rate
            self._limit = min(self.ceiling, self._limit + max(1, self._limit // 4))
            log.debug("throughput %.1f/s with %d workers: trying %d", rate, self._before, self._limit)
