"""The shared bandwidth limiter and the per-host connection gate.

Everything runs on a fake clock: the end-to-end tests download real bytes from a loopback server
and check the limiter's own accounting (every byte counted once against one shared budget, and
the waits it asked for add up to bytes / rate). Real-time rates are measured in benchmarks/.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import fast_settings, make_ctx, sha256

from wizard.demo.server import MirrorServer
from wizard.engine.control import Control
from wizard.engine.net.ratelimit import BURST_SECONDS, HostGate, NetShared, RateLimiter, parse_rate
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


def test_the_runs_limiter_follows_the_limit_setting() -> None:
    net = NetShared(1000)
    limiter = net.limiter_for(1000)
    assert net.limiter_for(5000) is limiter and limiter.rate == 5000
    assert net.limiter_for(None) is limiter and limiter.rate is None


def test_jobs_of_a_run_share_the_limiter_and_gates(tmp_path: Path) -> None:
    settings = fast_settings(limit_rate=1000)
    net = NetShared(settings.limit_rate)
    a, _ = make_ctx(tmp_path / "a", settings, job="a", net=net)
    b, _ = make_ctx(tmp_path / "b", settings, job="b", net=net)
    assert a.limiter is b.limiter and a.limiter.rate == 1000
    assert a.net.gate("h:1") is b.net.gate("h:1") and a.net.gate("h:1") is not a.net.gate("h:2")
    assert a.for_job("repair:a").net is net
    other, _ = make_ctx(tmp_path / "c", settings, job="c")  # another run: its own budget
    assert other.limiter is not a.limiter


def test_the_runner_owns_one_net_for_all_its_jobs(tmp_path: Path) -> None:
    from wizard.engine.catalog import load_catalog
    from wizard.engine.plan import build_plan
    from wizard.engine.runner import Runner

    catalog = load_catalog()
    settings = fast_settings(limit_rate=1000)
    plan = build_plan(tmp_path / "root", catalog, catalog.resolve("sft", None), settings)
    runner = Runner(plan, catalog, settings)
    assert runner.net.limiter.rate == 1000
    assert Runner(plan, catalog, settings).net is not runner.net  # not a process-wide registry


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


# -- end to end: real bytes, fake time -----------------------------------------------------------
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


class FakeTimeControl(Control):
    """A Control whose sleeps advance a fake clock instead of waiting."""

    def __init__(self, clock: FakeClock, *, advance: bool = True) -> None:
        super().__init__()
        self.clock = clock
        self.advance = advance
        self.lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        self.checkpoint()
        with self.lock:
            self.clock.slept.append(seconds)
            if self.advance:
                self.clock.now += seconds


def test_limit_rate_paces_one_download(server: MirrorServer, tmp_path: Path) -> None:
    clock = FakeClock()
    net = NetShared(RATE, clock=clock)
    ctx, _ = make_ctx(tmp_path / "root", fast_settings(limit_rate=RATE), net=net,
                      control=FakeTimeControl(clock))
    start = clock.now
    download(ctx, server.url("a.bin"), ctx.downloads / "a.bin", sha256=sha256(DATA_A))
    assert net.limiter.consumed == len(DATA_A)
    # On the fake clock, only the limiter's waits pass time: 8 MiB at 2 MB/s is 4.19 s, less the
    # burst credit the last read may use.
    assert clock.now - start == pytest.approx(len(DATA_A) / RATE - BURST_SECONDS, abs=1e-6)
    assert all(w <= RateLimiter(RATE).chunk_size(1 << 20) / RATE + 1e-9 for w in clock.slept)  # smooth


def test_limit_rate_is_shared_by_concurrent_transfers(server: MirrorServer, tmp_path: Path) -> None:
    # a.bin goes over 2 connections (3 MiB pieces), b.bin as one stream: all three share the budget.
    settings = fast_settings(limit_rate=RATE, segments=4, min_segment_size=3 * MIB)
    clock = FakeClock()
    net = NetShared(RATE, clock=clock)
    control = FakeTimeControl(clock, advance=False)  # time stands still: the debt adds up
    jobs = {name: make_ctx(tmp_path / name, settings, job=name, net=net, control=control)[0] for name in ("a", "b")}
    errors: list[BaseException] = []

    def fetch(name: str, data: bytes) -> None:
        ctx = jobs[name]
        try:
            download(ctx, server.url(f"{name}.bin"), ctx.downloads / f"{name}.bin", sha256=sha256(data))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fetch, args=("a", DATA_A)), threading.Thread(target=fetch, args=("b", DATA_B))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ranged = [r for r in server.requests if r.path == "/a.bin" and r.headers.get("Range")]
    assert len(ranged) == 2 and not any(r.headers.get("Range") for r in server.requests if r.path == "/b.bin")
    total = len(DATA_A) + len(DATA_B)
    assert net.limiter.consumed == total  # every byte of both jobs, once, against one budget
    assert net.limiter.paid_until - clock.now == pytest.approx(total / RATE)
    # The last reader was told to wait until all of it was paid for at the shared rate.
    assert max(clock.slept) == pytest.approx(total / RATE - BURST_SECONDS, rel=0.05)


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
