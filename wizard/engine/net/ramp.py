"""How many connections a segmented download uses: more only while more is faster.

A CDN that caps each connection (say 20 MiB/s) rewards many connections; a fast link without
caps does not, and extra connections then only cost CPU and the server's patience. So a
download starts with ``start`` connections and :class:`Ramp` watches the total rate over
windows of ``window`` seconds: when a window is at least ``gain`` times faster than the best
window before it, the count doubles (up to ``ceiling``, which the caller also keeps under the
host gate's limit); when doubling did not pay, it goes back to the count that was as fast and
stays there — for ``reprobe`` seconds, then it measures again and tries once more (a busy
machine or a slow start can make one window look bad). The clock is injected, so the decisions
are tested without waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: A window must be this much faster than the best before it to keep the extra connections
#: (doubling behind per-connection caps gives ~2x; a busy machine's noise stays well under 1.5x).
GAIN = 1.5
WINDOW_SECONDS = 0.5
REPROBE_SECONDS = 8.0


class Ramp:
    """The connection count to aim for, from the bytes done so far (see the module docstring)."""

    def __init__(self, start: int, ceiling: int, *, window: float = WINDOW_SECONDS, gain: float = GAIN,
                 reprobe: float = REPROBE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = max(1, ceiling)
        self.target = max(1, min(start, self.ceiling))
        self.window = window
        self.gain = gain
        self.clock = clock
        self.reprobe = reprobe
        self.settled = self.target >= self.ceiling
        self._reprobe_at = float("inf")
        self._best_rate = 0.0
        self._best_count = self.target
        self._since = clock()
        self._bytes_at_start: int | None = None

    def update(self, done: int) -> int:
        """Feed the bytes done so far (any time); returns the connection count to aim for."""
        now = self.clock()
        if self._bytes_at_start is None:
            self._bytes_at_start, self._since = done, now
            return self.target
        if self.settled and now >= self._reprobe_at and self.target < self.ceiling:
            self.settled, self._best_rate = False, 0.0  # measure the current count again, then try more
            self._since, self._bytes_at_start = now, done
            return self.target
        if self.settled or now - self._since < self.window:
            return self.target
        rate = (done - self._bytes_at_start) / (now - self._since)
        self._since, self._bytes_at_start = now, done
        if rate >= self._best_rate * self.gain or self._best_rate == 0.0:
            self._best_rate, self._best_count = rate, self.target
            if self.target >= self.ceiling:
                self._settle(now)
            else:
                self.target = min(self.ceiling, self.target * 2)
                log.debug("%.1f MB/s with %d connections: trying %d", rate / 1e6, self._best_count, self.target)
        else:
            log.debug("%.1f MB/s with %d connections is no faster: back to %d", rate / 1e6, self.target,
                      self._best_count)
            self.target = self._best_count
            self._settle(now)
        return self.target

    def _settle(self, now: float) -> None:
        self.settled = True
        self._reprobe_at = now + self.reprobe

    def limit(self, ceiling: int) -> None:
        """Lower the ceiling (the host gate allows fewer connections)."""
        self.ceiling = max(1, ceiling)
        if self.target > self.ceiling:
            self.target = self.ceiling
