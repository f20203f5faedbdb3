"""Read-ahead (wizard.engine.readahead): the bytes in order from several connections, a bounded
window, a failed piece raised where it sits; and SA-1B tars streamed through it (tarstream):
every member extracted once, no tar on disk, a dropped piece resumed from a member boundary."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import fast_settings, make_ctx, settled_requests
from test_tarstream import SAM, _links, _sam_catalog, boundaries, jpgs, on_disk, run_sam, sam_members, write_tar

from wizard.demo import MirrorServer
from wizard.demo.server import Fault
from wizard.engine import readahead, tarstream
from wizard.engine.journal import read_status
from wizard.engine.readahead import ReadAhead
from wizard.engine.tarstream import STATE_KEY, stream_tar

DATA = bytes(range(256)) * 1000  # 256,000 bytes


class FakeSource:
    """Serves DATA in small chunks; notes the window and can fail or hold a piece."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.lock = threading.Lock()
        self.started: list[int] = []
        self.active = 0
        self.most_active = 0

    def __call__(self, start: int, end: int) -> Iterator[bytes]:
        with self.lock:
            self.started.append(start)
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            for at in range(start, end, 1000):
                if self.fail_at is not None and at <= self.fail_at < at + 1000:
                    raise ConnectionError(f"dropped at {self.fail_at}")
                yield DATA[at:min(at + 1000, end)]
        finally:
            with self.lock:
                self.active -= 1


def test_connections_join_while_the_consumer_waits_for_bytes() -> None:
    """Behind a per-connection cap the consumer keeps finding its piece empty: each time, one
    more fetcher joins, up to ``connections``."""
    tick = threading.Semaphore(0)

    def slow(start: int, end: int) -> Iterator[bytes]:
        for at in range(start, end, 1000):
            tick.acquire()
            yield DATA[at:min(at + 1000, end)]

    reader = ReadAhead(slow, 0, 40_000, connections=4, piece=10_000, initial=1)
    out: list[bytes] = []
    consumer = threading.Thread(target=lambda: out.append(b"".join(reader.chunks())))
    consumer.start()
    try:
        deadline = time.monotonic() + 30  # a hang guard only
        while reader.active < 4 and time.monotonic() < deadline:
            tick.release()  # one chunk for one waiting fetcher: the consumer wakes, finds little, waits
            time.sleep(0.01)
        assert reader.active == 4
    finally:
        for _ in range(40):
            tick.release()
        consumer.join(30)
        reader.close()
    assert out == [DATA[:40_000]]


def test_a_link_faster_than_the_consumer_keeps_one_connection() -> None:
    source = FakeSource()
    reader = ReadAhead(source, 0, 40_000, connections=4, piece=10_000, initial=1)
    try:
        deadline = time.monotonic() + 30  # a hang guard only
        while reader.buffered < 40_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert b"".join(reader.chunks()) == DATA[:40_000]  # never waited: every byte was there
        assert reader.active == 1 and source.most_active == 1
    finally:
        reader.close()


def test_bytes_come_in_order_from_several_connections() -> None:
    source = FakeSource()
    with ReadAhead(source, 1000, len(DATA), connections=4, piece=10_000) as reader:
        got = b"".join(reader.chunks())
    assert got == DATA[1000:]
    assert sorted(source.started) == list(range(1000, len(DATA), 10_000))  # each piece asked for once
    assert 1 <= source.most_active <= 4


def test_the_window_bounds_what_is_fetched_ahead() -> None:
    source = FakeSource()
    reader = ReadAhead(source, 0, len(DATA), connections=2, piece=10_000, ahead=3)
    chunks = reader.chunks()
    first = next(chunks)  # the consumer holds on to piece 0
    deadline = time.monotonic() + 30
    while (len(source.started) < 3 or source.active) and time.monotonic() < deadline:
        time.sleep(0.001)  # the fetchers run as far as the window lets them, then wait for it
    assert len(source.started) == 3 and source.active == 0  # pieces 0, 1, 2 and no further
    assert reader.buffered <= 3 * 10_000
    rest = b"".join(chunks)
    reader.close()
    assert first + rest == DATA


def test_a_failed_piece_is_raised_after_the_bytes_before_it() -> None:
    source = FakeSource(fail_at=55_500)
    got = bytearray()
    with ReadAhead(source, 0, len(DATA), connections=3, piece=10_000) as reader, \
            pytest.raises(ConnectionError, match="dropped at 55500"):
        for chunk in reader.chunks():
            got += chunk
    assert bytes(got) == DATA[:55_000]  # everything up to the failed chunk, in order


def test_a_first_stream_serves_the_first_piece_only() -> None:
    source = FakeSource()
    first = iter([DATA[:30_000], DATA[30_000:]])  # an open stream runs past the first piece
    with ReadAhead(source, 0, len(DATA), connections=2, piece=20_000, first=first) as reader:
        assert b"".join(reader.chunks()) == DATA
    assert 0 not in source.started


def test_close_stops_the_fetchers() -> None:
    source = FakeSource()
    reader = ReadAhead(source, 0, len(DATA), connections=2, piece=1_000, ahead=2)
    next(reader.chunks())
    reader.close()
    assert all(not t.is_alive() for t in reader._threads)
    assert len(source.started) < len(DATA) // 1_000


# -- SA-1B tars through tarstream ------------------------------------------------------------
@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(readahead, "PIECE", 64 * 1024)
    return 64 * 1024


def _stream(root: Path, url: str, size: int, **overrides: Any) -> Any:
    settings = fast_settings(min_free_bytes=0, segments=4, min_segment_size=64 * 1024, **overrides)
    ctx, _ = make_ctx(root, settings)
    try:
        return stream_tar(ctx, url, "t.tar", root / "sam/images", SAM, size=size)
    finally:
        ctx.journal.close()


def _ranges(server: MirrorServer) -> list[tuple[int, int]]:
    out = []
    for r in server.requests:
        if r.method == "GET" and r.path == "/t.tar":
            first, last = r.headers["Range"].removeprefix("bytes=").split("-")
            out.append((int(first), int(last)))
    return out


def test_a_tar_streams_over_several_ranges_at_once(tmp_path: Path, small_pieces: int) -> None:
    docroot = tmp_path / "doc"
    members = sam_members(30, 40_000)
    size = write_tar(docroot / "t.tar", members).stat().st_size
    root = tmp_path / "root"
    with MirrorServer(docroot) as server:
        result = _stream(root, server.url("t.tar"), size)
        ranges = sorted(_ranges(server))
    assert on_disk(root / "sam/images") == jpgs(members)
    assert (result.written, result.skipped) == (30, 0)
    assert ranges == [(a, min(a + small_pieces, size) - 1) for a in range(0, size, small_pieces)]
    downloads = root / ".sharegpt4v-setup/downloads"
    assert not downloads.exists() or not list(downloads.iterdir())  # no tar stored


def test_a_dropped_range_resumes_from_a_member_boundary(tmp_path: Path, small_pieces: int) -> None:
    docroot = tmp_path / "doc"
    members = sam_members(30, 40_000)
    tar = write_tar(docroot / "t.tar", members)
    size = tar.stat().st_size
    root = tmp_path / "root"
    with MirrorServer(docroot) as server:
        for _ in range(4):
            server.add_fault("/t.tar", Fault(delay=0.0))  # four ranges as usual ...
        server.add_fault("/t.tar", Fault(drop_after=1000))  # ... then one cut short
        result = _stream(root, server.url("t.tar"), size)
        records = settled_requests(server, 0)
    assert on_disk(root / "sam/images") == jpgs(members)
    assert (result.written, result.skipped) == (30, 0)  # no member written twice
    dropped = next(r for r in records if r.faulted and r.sent < small_pieces)
    starts = [int(r.headers["Range"].removeprefix("bytes=").split("-")[0]) for r in records]
    cut = int(dropped.headers["Range"].removeprefix("bytes=").split("-")[0])
    resumed = sorted(s for s in starts if s not in range(0, size, small_pieces))
    resume = resumed[0]  # the second attempt starts at the last member boundary before the cut
    assert resume in boundaries(tar) and 0 < resume <= cut
    assert resumed == list(range(resume, size, small_pieces))  # then its pieces follow from there


def test_a_429_on_a_range_waits_and_completes(tmp_path: Path, small_pieces: int) -> None:
    docroot = tmp_path / "doc"
    members = sam_members(12, 40_000)
    size = write_tar(docroot / "t.tar", members).stat().st_size
    root = tmp_path / "root"
    with MirrorServer(docroot) as server:
        server.add_fault("/t.tar", Fault(delay=0.0))
        server.add_fault("/t.tar", Fault(status=429, retry_after="0"))
        result = _stream(root, server.url("t.tar"), size)
        statuses = [r.status for r in server.requests if r.method == "GET"]
    assert on_disk(root / "sam/images") == jpgs(members)
    assert result.written == 12 and 429 in statuses


_CHILD = """
import sys
from wizard.engine import readahead, tarstream
readahead.PIECE = 1 << 20
tarstream.connections_for = lambda total, wanted, smallest: 4
tarstream.AUTO_THRESHOLD = 0
from wizard.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_kill_9_while_reading_ahead_then_rerun_resumes_at_the_journaled_boundary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docroot = tmp_path / "doc"
    members = sam_members(100, 300_000, seed=7)  # ~30 MB
    tar = write_tar(docroot / "sam/sa_000000.tar", members)
    size = tar.stat().st_size
    catalog, links_url = _sam_catalog(tmp_path, size), "sam/sa_000000.tar"
    root, target = tmp_path / "root", tmp_path / "root/sam/images"
    with MirrorServer(docroot) as server:
        links = _links(tmp_path, server.url(links_url))
        server.add_fault("/sam/", Fault(rate=2_000_000, times=None))  # 2 MB/s per connection
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, "run", "--catalog", str(catalog), "--root", str(root), "--components",
             "sam-tars", "--sam-links", str(links), "--min-free", "0", "--yes", "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, "the run ended before the test could interrupt it"
                assert time.monotonic() < deadline, "timed out waiting for a journaled member boundary"
                recs = read_status(root) if (root / ".sharegpt4v-setup/journal.sqlite").exists() else None
                state = (recs[0].info.get(STATE_KEY) if recs else None) or {}
                if state.get("offset", 0) > 0 and len(list(target.glob("*.jpg"))) >= 5:
                    break
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(timeout=30)
        parallel = {r.headers.get("Range") for r in server.requests if r.method == "GET"}
        assert len(parallel) > 1  # it was reading ahead on several connections when killed
        offset = int((read_status(root) or [])[0].info[STATE_KEY]["offset"])
        assert offset in boundaries(tar) and 0 < offset < size
        # a member being written at the kill is at its final name but short: the rerun replaces it
        whole = jpgs(members)
        before = {p.name: p.stat().st_ino for p in target.glob("*.jpg") if p.stat().st_size == len(whole[p.name])}
        assert 0 < len(before) < 100

        server.clear_faults()
        seen = -1
        while seen != len(server.requests):  # the killed run's last ranges are recorded as they end
            seen = len(server.requests)
            time.sleep(0.5)
        server.clear_requests()
        monkeypatch.setattr(readahead, "PIECE", 1 << 20)
        monkeypatch.setattr(tarstream, "connections_for", lambda total, wanted, smallest: 4)
        monkeypatch.setattr(tarstream, "AUTO_THRESHOLD", 0)
        assert run_sam(catalog, root, links).ok
        got = settled_requests(server, 1)
    first = min(int(r.headers["Range"].removeprefix("bytes=").split("-")[0]) for r in got)
    assert first == offset  # the rerun starts at the journaled boundary ...
    assert len(got) > 1 and sum(r.sent for r in got) == size - offset  # ... and fetches the rest once
    after = {p.name: p.stat().st_ino for p in target.iterdir()}
    assert all(after[name] == ino for name, ino in before.items())  # finished members untouched
    assert on_disk(target) == jpgs(members)
    assert not list((root / ".sharegpt4v-setup/downloads").iterdir())  # no tar stored
