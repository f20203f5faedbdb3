"""The shared bandwidth limiter and the per-host connection gate.

The unit tests run on a fake clock; the two end-to-end tests measure a real 2 MB/s limit over a
few seconds (the one timing-based check in this file: within 10 %).
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import fast_settings, make_ctx, sha256

from wizard.demo.server import MirrorServer
from wizard.engine.context import Settings
from wizard.engine.events import Event, Progress
from wizard.engine.net import ratelimit
from wizard.engine.net.ratelimit import HostGate, RateLimiter, parse_rate, shared_limiter
from wizard.engine.net.segments import MIB
from wizard.engine.net.transfer import download


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# -- parse_rate --------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "value"), [
    ("20M", 20 * 1024**2), ("500K", 500 * 1024), ("500k", 500 * 1024), ("1.5M", 1536 * 1024),
    ("1G", 1024**3), ("800000", 800_000), ("2MB", 2 * 1024**2), ("2MiB/s", 2 * 1024**2),
])
def test_parse_rate(text: str, value: int) -> None:
    assert parse_rate(text) == value


@pytest.mark.parametrize("text", ["", "fast", "20X", "-1M", "0", "M"])
def test_parse_rate_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


# -- RateLimiter -------------------------------------------------------------------------------
def test_limiter_paces_to_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1000, clock=clock, burst_seconds=0.0)
    for _ in range(10):
        limiter.consume(500, clock.sleep)
    # 5000 bytes at 1000 B/s take 5 s; the first chunk is paid for after it arrived.
    assert clock.now - 100.0 == pytest.approx(5.0)
    assert clock.slept == pytest.approx([0.5] * 10)


def test_limiter_allows_a_small_burst_then_paces() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1000, clock=clock, burst_seconds=0.2)
    assert limiter.consume(200, clock.sleep) == 0.0  # within the burst credit
    assert limiter.consume(500, clock.sleep) == pytest.approx(0.5)
    clock.now += 10  # idle: credit does not pile up beyond the burst
    assert limiter.consume(200, clock.sleep) == 0.0
    assert limiter.consume(200, clock.sleep) == pytest.approx(0.2)


def test_limiter_shared_by_threads_sums_their_bytes() -> None:
    clock = FakeClock()
    lock = threading.Lock()
    limiter = RateLimiter(10_000, clock=clock, burst_seconds=0.0)

    def worker() -> None:
        for _ in range(50):
            waited = limiter.consume(100, lambda s: None)
            with lock:
                clock.slept.append(waited)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 20,000 bytes at 10,000 B/s: the last consumer is told to wait until 2 s after the start.
    assert max(clock.slept) == pytest.approx(2.0)


def test_unlimited_limiter_never_waits() -> None:
    limiter = RateLimiter(None)
    assert limiter.consume(10**12) == 0.0 and limiter.chunk_size(1 << 20) == 1 << 20


def test_limited_chunk_size_is_a_tenth_of_a_second() -> None:
    assert RateLimiter(2_000_000).chunk_size(1 << 20) == 200_000
    assert RateLimiter(100).chunk_size(1 << 20) == 16 * 1024
    assert RateLimiter(100 * MIB).chunk_size(1 << 20) == 1 << 20


def test_one_limiter_per_settings_following_its_limit() -> None:
    settings, other = Settings(limit_rate=1000), Settings(limit_rate=1000)
    limiter = shared_limiter(settings)
    assert shared_limiter(settings) is limiter and shared_limiter(other) is not limiter
    settings.limit_rate = 5000
    assert shared_limiter(settings) is limiter and limiter.rate == 5000
    settings.limit_rate = None
    assert shared_limiter(settings).rate is None


def test_a_settings_finalizer_inside_the_registry_lock_does_not_deadlock() -> None:
    holder = [Settings(limit_rate=1000)]
    key = id(holder[0])
    shared_limiter(holder[0])
    done = threading.Event()

    def collect_while_locked() -> None:  # as when the GC runs during shared_limiter()
        with ratelimit._LIMITERS_LOCK:
            holder.clear()
            gc.collect()
        done.set()

    thread = threading.Thread(target=collect_while_locked, daemon=True)
    thread.start()
    thread.join(5)
    assert done.is_set() and key not in ratelimit._LIMITERS


def test_jobs_of_a_run_share_the_limiter(tmp_path: Path) -> None:
    settings = fast_settings(limit_rate=1000)
    a, _ = make_ctx(tmp_path / "a", settings, job="a")
    b, _ = make_ctx(tmp_path / "b", settings, job="b")
    assert a.limiter is b.limiter and a.limiter.rate == 1000


# -- HostGate ----------------------------------------------------------------------------------
def test_gate_halves_on_throttle_and_recovers_gradually() -> None:
    clock = FakeClock()
    gate = HostGate(recover_seconds=2.0, ceiling=8, clock=clock)
    for _ in range(6):
        assert gate.try_acquire()
    assert gate.limit is None
    assert gate.throttled() == 3  # half of the 6 connections open
    assert gate.throttled() == 3  # several 429s at once count as one cut
    for _ in range(4):
        gate.release()
    assert gate.active == 2 and gate.try_acquire() and not gate.try_acquire()  # 3 of 3
    clock.now += 1.5
    assert gate.throttled() == 1  # a second later it still says no: cut again
    clock.now += 1.9
    assert gate.limit == 1
    clock.now += 0.2
    assert gate.limit == 2  # one more per 2 s of calm
    clock.now += 6.0
    assert gate.limit == 5
    clock.now += 6.0
    assert gate.limit is None  # reached the ceiling: unlimited again


def test_gate_acquire_waits_for_a_release_and_stops() -> None:
    gate = HostGate()
    gate.enter()
    gate.enter()
    gate.throttled()  # limit 1, two open
    stop = threading.Event()
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(gate.acquire(stop, poll=0.01)))
    waiter.start()
    gate.release()
    time.sleep(0.05)
    assert not got  # one still open: at the limit
    gate.release()
    waiter.join(5)
    assert got == [True]
    stop.set()
    assert gate.acquire(stop) is False


# -- end to end: 2 MB/s over a few seconds -----------------------------------------------------
RATE = 2_000_000
DATA_A = os.urandom(8 * MIB)
DATA_B = os.urandom(3 * MIB)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[MirrorServer]:
    docroot = tmp_path / "docroot"
    docroot.mkdir()
    (docroot / "a.bin").write_bytes(DATA_A)
    (docroot / "b.bin").write_bytes(DATA_B)
    with MirrorServer(docroot) as srv:
        yield srv


class Timeline:
    """(time, job, bytes done) of every download Progress event."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.points: list[tuple[float, str, int]] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress) and event.stage == "downloading":
            with self.lock:
                self.points.append((time.monotonic(), event.job, event.done))

    def rate(self, start: float, end: float) -> float:
        """Bytes/s of all jobs together between the first and last event inside [start, end]."""
        latest: dict[str, int] = {}
        samples: list[tuple[float, int]] = []
        for when, job, done in sorted(self.points):
            latest[job] = done
            if start <= when <= end:
                samples.append((when, sum(latest.values())))
        (t0, d0), (t1, d1) = samples[0], samples[-1]
        return (d1 - d0) / (t1 - t0)


def test_limit_rate_holds_for_one_download(server: MirrorServer, tmp_path: Path) -> None:
    timeline = Timeline()
    ctx, _ = make_ctx(tmp_path / "root", fast_settings(limit_rate=RATE))
    ctx._emit = timeline  # type: ignore[method-assign]
    started = time.monotonic()
    download(ctx, server.url("a.bin"), ctx.downloads / "a.bin", sha256=sha256(DATA_A))
    finished = time.monotonic()
    assert finished - started > 3.5  # 8 MiB at 2 MB/s: 4.2 s
    measured = timeline.rate(started + 0.5, finished)
    assert abs(measured - RATE) <= 0.1 * RATE, f"{measured:,.0f} B/s"


def test_limit_rate_is_shared_by_concurrent_transfers(server: MirrorServer, tmp_path: Path) -> None:
    # a.bin goes over 2 connections (3 MiB pieces), b.bin as one stream: all three share 2 MB/s.
    settings = fast_settings(limit_rate=RATE, segments=4, min_segment_size=3 * MIB)
    timeline = Timeline()
    jobs = {name: make_ctx(tmp_path / name, settings, job=name)[0] for name in ("a", "b")}
    ended: dict[str, float] = {}

    def fetch(name: str, data: bytes) -> None:
        ctx = jobs[name]
        ctx._emit = timeline  # type: ignore[method-assign]
        download(ctx, server.url(f"{name}.bin"), ctx.downloads / f"{name}.bin", sha256=sha256(data))
        ended[name] = time.monotonic()

    started = time.monotonic()
    threads = [threading.Thread(target=fetch, args=("a", DATA_A)), threading.Thread(target=fetch, args=("b", DATA_B))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(ended) == {"a", "b"}
    ranged = [r for r in server.requests if r.path == "/a.bin" and r.headers.get("Range")]
    assert len(ranged) == 2 and not any(r.headers.get("Range") for r in server.requests if r.path == "/b.bin")
    both_running_until = min(ended.values())
    assert both_running_until - started > 3.0
    measured = timeline.rate(started + 0.5, both_running_until)
    assert abs(measured - RATE) <= 0.1 * RATE, f"{measured:,.0f} B/s"
    assert max(ended.values()) - started == pytest.approx((len(DATA_A) + len(DATA_B)) / RATE, rel=0.1)


# -- the CLI flags -----------------------------------------------------------------------------
def test_cli_flags_fill_the_settings() -> None:
    from wizard.cli import _settings, build_parser

    parser = build_parser()
    args = parser.parse_args(["run", "--root", "/tmp/x", "--preset", "sft", "--limit-rate", "20M",
                              "--segments", "4"])
    settings = _settings(args)
    assert settings.limit_rate == 20 * 1024**2 and settings.segments == 4
    defaults = _settings(parser.parse_args(["run", "--root", "/tmp/x", "--preset", "sft"]))
    assert defaults.limit_rate is None and defaults.segments is None
    for bad in (["--limit-rate", "fast"], ["--segments", "0"], ["--segments", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["run", "--root", "/tmp/x", *bad])
