"""Bandwidth and per-host connection limits shared by every transfer of a run.

Two small, thread-safe tools that any source's read loop can use:

* :class:`RateLimiter` — a token bucket (kept as a "theoretical arrival time", GCRA style) for
  ``Settings.limit_rate`` bytes per second over *all* transfers. The run's :class:`NetShared`
  (owned by the runner) holds one, and ``JobContext.limiter`` returns it, so every job of a run
  shares the same budget. A read loop
  calls ``consume(n)`` *after* receiving ``n`` bytes; the call sleeps as long as needed to keep
  the long-run average at the limit (TCP then slows the sender). Read in pieces of at most
  ``limiter.chunk_size(default)`` so the pacing stays smooth. Unlimited limiters return at once::

      limiter = ctx.limiter
      for chunk in response.iter_content(limiter.chunk_size(ctx.settings.chunk_size)):
          out.write(chunk)
          limiter.consume(len(chunk), ctx.control.sleep)  # a cancel interrupts the wait

  The limit can be changed during a run (``settings.limit_rate = ...``); transfers pick the new
  value up at their next request.

* :class:`HostGate` — how many connections one host gets at once (``NetShared.gate`` keeps one
  per ``host:port`` for the run). Unlimited until the host answers 429/503; then the limit is
  halved (at most once a second) and grows back by one connection per ``recover_seconds`` of calm
  (additive increase, multiplicative decrease). Segmented downloads take a slot per request; so
  can any other source that opens many connections to one host.

``parse_rate("20M")`` reads the CLI's ``--limit-rate`` values (K/M/G are powers of 1024, as for
curl and aria2).
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]
Sleep = Callable[[float], object]

#: Credit a limiter may build up while idle, in seconds of its rate.
BURST_SECONDS = 0.05
#: The smallest read size a limited loop is asked to use.
MIN_LIMITED_CHUNK = 16 * 1024
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgKMG]?)(?:i?[bB])?(?:/s)?\s*$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_rate(text: str) -> int:
    """``"20M"`` -> 20971520 bytes/s; ``"500K"``, ``"1.5M"``, ``"800000"``; ValueError if invalid."""
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"not a rate: {text!r} (examples: 20M, 500K, 1048576)")
    value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value <= 0:
        raise ValueError(f"the rate must be positive: {text!r}")
    return value


class RateLimiter:
    """A token bucket of ``rate`` bytes/s shared by threads; ``rate=None`` means unlimited."""

    def __init__(self, rate: int | None = None, *, clock: Clock = time.monotonic,
                 burst_seconds: float = BURST_SECONDS) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._burst = burst_seconds
        self._rate: int | None = None
        self._tat = 0.0  # when the bytes consumed so far would have been "paid for" at the rate
        #: Bytes accounted for since the limit was last set (the limiter's own bookkeeping).
        self.consumed = 0
        self.set_rate(rate)

    @property
    def rate(self) -> int | None:
        return self._rate

    @property
    def paid_until(self) -> float:
        """The clock time by which the bytes consumed so far are paid for at the rate."""
        return self._tat

    def set_rate(self, rate: int | None) -> None:
        """Change the limit (None or 0 = unlimited); takes effect for the next ``consume``."""
        with self._lock:
            new = rate if rate and rate > 0 else None
            if new != self._rate:
                self._rate = new
                self._tat = self._clock()
                self.consumed = 0

    def chunk_size(self, default: int) -> int:
        """A read size that keeps pacing smooth: about a tenth of a second of the rate."""
        rate = self._rate
        if rate is None:
            return default
        return max(1, min(default, max(MIN_LIMITED_CHUNK, rate // 10)))

    def consume(self, n: int, sleep: Sleep = time.sleep) -> float:
        """Account for ``n`` bytes just received; sleep until they fit the rate. Returns the wait.

        ``sleep`` may be a cancellable sleep such as ``Control.sleep`` (which raises on cancel).
        """
        rate = self._rate
        if rate is None or n <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tat = max(self._tat, now) + n / rate
            self.consumed += n
            wait = self._tat - now - self._burst
        if wait <= 1e-9:
            return 0.0
        sleep(wait)
        return wait


class HostGate:
    """Connection slots for one host: unlimited until it throttles us, then AIMD.

    ``acquire``/``release`` bracket one request. ``throttled()`` (on a 429 or 503) halves the
    limit to half the connections then open (at least 1); every ``recover_seconds`` without a new
    throttle adds one slot back, and the gate is unlimited again once it reaches ``ceiling``.
    """

    def __init__(self, *, recover_seconds: float = 2.0, ceiling: int = 64,
                 clock: Clock = time.monotonic) -> None:
        self._cond = threading.Condition()
        self._clock = clock
        self.recover_seconds = recover_seconds
        self.ceiling = ceiling
        self._active = 0
        self._limit: int | None = None
        self._calm_since = 0.0
        self._last_cut = float("-inf")
        #: How often the host said "too many" (each :meth:`throttled`), for logs and tests.
        self.throttles = 0

    @property
    def active(self) -> int:
        return self._active

    @property
    def limit(self) -> int | None:
        """The current connection limit (None = unlimited)."""
        with self._cond:
            return self._current_limit()

    def _current_limit(self) -> int | None:
        if self._limit is not None:
            now = self._clock()
            steps = int((now - self._calm_since) // self.recover_seconds)
            if steps > 0:
                self._limit += steps
                self._calm_since += steps * self.recover_seconds
                if self._limit >= self.ceiling:
                    self._limit = None
                self._cond.notify_all()
        return self._limit

    def try_acquire(self) -> bool:
        with self._cond:
            limit = self._current_limit()
            if limit is not None and self._active >= limit:
                return False
            self._active += 1
            return True

    def acquire(self, stop: threading.Event | None = None, poll: float = 0.2) -> bool:
        """Wait for a slot; False when ``stop`` was set first."""
        with self._cond:
            while True:
                if stop is not None and stop.is_set():
                    return False
                limit = self._current_limit()
                if limit is None or self._active < limit:
                    self._active += 1
                    return True
                self._cond.wait(poll)

    def enter(self) -> None:
        """Take a slot regardless of the limit (for a connection that is already open)."""
        with self._cond:
            self._active += 1

    def release(self) -> None:
        with self._cond:
            self._active = max(0, self._active - 1)
            self._cond.notify_all()

    def throttled(self) -> int | None:
        """The host said "too many": cut the limit (once per second at most); the new limit."""
        with self._cond:
            self.throttles += 1
            now = self._clock()
            current = self._current_limit()
            if now - self._last_cut >= 1.0:
                base = self._active if current is None else min(current, self._active)
                self._limit = max(1, base // 2)
                self._last_cut = now
            self._calm_since = now
            return self._limit


class NetShared:
    """What the transfers of one run share: the bandwidth limiter, one gate per host, and the
    clocks and random source they and the retry policy use (injectable: tests run on fake time).

    The :class:`~wizard.engine.runner.Runner` owns one and hands it to every job's context; a
    context made without one (a test, ``repair``) gets its own.
    """

    def __init__(self, limit_rate: int | None = None, *, wall: Clock = time.time,
                 rand: Callable[[], float] = random.random, clock: Clock = time.monotonic) -> None:
        self.limiter = RateLimiter(limit_rate, clock=clock)
        self.clock = clock
        self.wall = wall
        self.rand = rand
        self._gates: dict[str, HostGate] = {}
        self._lock = threading.Lock()

    def limiter_for(self, limit_rate: int | None) -> RateLimiter:
        """The shared limiter, following ``limit_rate`` (it may change during a run)."""
        if self.limiter.rate != (limit_rate or None):
            self.limiter.set_rate(limit_rate)
        return self.limiter

    def gate(self, host: str) -> HostGate:
        """The gate of ``host`` (``"name:port"``), created on first use."""
        with self._lock:
            gate = self._gates.get(host)
            if gate is None:
                gate = self._gates[host] = HostGate(clock=self.clock)
            return gate
