"""Read-ahead (wizard.engine.readahead): the bytes in order from several connections, a bounded
window, a failed piece raised where it sits; one open stream read by the consumer until it waits
on the link (fake clock), then the read-ahead from one piece further; and SA-1B tars streamed
through it (tarstream): every member extracted once, no tar on disk, a dropped piece resumed from
a member boundary, a cancel that stops a consumer waiting for a stalled piece."""

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
from test_tarstream import (
    MEMBER_MTIME,
    SAM,
    _links,
    _sam_catalog,
    boundaries,
    jpgs,
    on_disk,
    run_sam,
    sam_members,
    write_tar,
)

from wizard.demo import MirrorServer
from wizard.demo.server import Fault
from wizard.engine import readahead, tarstream
from wizard.engine.control import Control
from wizard.engine.errors import Cancelled
from wizard.engine.journal import read_status
from wizard.engine.readahead import Closed, ReadAhead, Stream
from wizard.engine.safefs import is_whole
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


def test_stop_wakes_a_consumer_waiting_for_a_stalled_piece() -> None:
    """A cancel must not wait for a stalled connection's read timeout: stop() raises Closed in
    the consumer while the fetcher is still blocked on its link."""
    stalled, release = threading.Event(), threading.Event()

    def stall(start: int, end: int) -> Iterator[bytes]:
        stalled.set()
        release.wait(60)  # a link that sends nothing (hang guard: 60 s)
        yield DATA[start:end]

    reader = ReadAhead(stall, 0, 20_000, connections=2, piece=10_000)
    raised: list[BaseException] = []

    def consume() -> None:
        try:
            b"".join(reader.chunks())
        except BaseException as exc:  # handed to the test
            raised.append(exc)

    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        assert stalled.wait(30)
        reader.stop()
        consumer.join(30)  # a hang guard only
        assert not consumer.is_alive() and not release.is_set()
        assert len(raised) == 1 and isinstance(raised[0], Closed)
    finally:
        release.set()
        reader.close()


# -- one stream read by the consumer, the read-ahead once it waits (fake clock) ------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _first(clock: FakeClock, start: int, wait: float, read: list[int]) -> Iterator[bytes]:
    """An open stream from ``start`` in 1,000-byte chunks; each read waits ``wait`` clock seconds."""
    for at in range(start, len(DATA), 1000):
        clock.now += wait
        read.append(at)
        yield DATA[at:at + 1000]


def _consume(stream: Stream, clock: FakeClock, work: float) -> bytes:
    """Take every chunk, spending ``work`` clock seconds on each (the extraction)."""
    out = bytearray()
    for chunk in stream.chunks():
        out += chunk
        clock.now += work
    return bytes(out)


def test_a_consumer_that_does_not_wait_reads_one_stream_alone() -> None:
    clock, source, read, aborted = FakeClock(), FakeSource(), [], []
    stream = Stream(_first(clock, 1000, 0.001, read), 1000, len(DATA), fetch=source, connections=4,
                    piece=10_000, abort=lambda: aborted.append(1), clock=clock)
    assert _consume(stream, clock, 0.01) == DATA[1000:]  # ~9 % of the time in reads: the consumer is the limit
    assert source.started == [] and stream.ahead is None and stream.direct and aborted == []
    assert len(read) == 255  # every byte from the one stream


def test_a_consumer_waiting_on_the_link_starts_the_read_ahead_one_piece_on() -> None:
    clock, source, read, aborted = FakeClock(), FakeSource(), [], []
    window = readahead.WINDOW
    stream = Stream(_first(clock, 0, 0.01, read), 0, len(DATA), fetch=source, connections=4,
                    piece=10_000, abort=lambda: aborted.append(len(read)), clock=clock)
    assert _consume(stream, clock, 0.001) == DATA  # ~91 % of the time waiting: the link is the limit
    assert stream.ahead is not None and not stream.direct
    switched = round(window / 0.011) * 1000 + 1000  # bytes read when the first window closed (± a chunk)
    cut = sorted(source.started)[0]
    assert abs(cut - 10_000 - switched) <= 1000  # the open stream ran on for one piece ...
    assert read[-1] == cut - 1000 and aborted == [len(read)]  # ... and was cut right there
    assert sorted(source.started) == list(range(cut, len(DATA), 10_000))  # the rest in pieces, once each
    assert stream.ahead.active >= 3  # the open stream's connection and the others at once


def test_a_link_that_slows_down_later_still_gets_the_read_ahead() -> None:
    clock, source, read = FakeClock(), FakeSource(), []

    def first() -> Iterator[bytes]:
        for at in range(0, len(DATA), 1000):
            clock.now += 0.001 if at < 100_000 else 0.05  # fast, then a capped link
            read.append(at)
            yield DATA[at:at + 1000]

    stream = Stream(first(), 0, len(DATA), fetch=source, connections=2, piece=10_000, clock=clock)
    assert _consume(stream, clock, 0.01) == DATA
    assert source.started and min(source.started) > 100_000 + 10_000


def test_no_read_ahead_near_the_end_or_without_a_size() -> None:
    clock, source, read = FakeClock(), FakeSource(), []
    stream = Stream(_first(clock, 0, 0.01, read), 0, len(DATA), fetch=source, connections=4,
                    piece=200_000, clock=clock)  # less than two pieces left when it would start
    assert _consume(stream, clock, 0.0) == DATA and source.started == []
    clock, read = FakeClock(), []
    stream = Stream(_first(clock, 0, 0.01, read), 0, None, fetch=source, connections=4, piece=10_000, clock=clock)
    assert _consume(stream, clock, 0.0) == DATA and source.started == []


def test_an_open_stream_that_ends_before_the_cut_ends_the_bytes_there() -> None:
    """The read-ahead's bytes never follow a gap: the caller sees the short body and resumes."""
    clock, source = FakeClock(), FakeSource()

    def first() -> Iterator[bytes]:
        for at in range(0, 60_000, 1000):
            clock.now += 0.05
            yield DATA[at:at + 1000]

    stream = Stream(first(), 0, len(DATA), fetch=source, connections=2, piece=100_000, clock=clock)
    assert _consume(stream, clock, 0.0) == DATA[:60_000]
    assert stream.ahead is not None and stream.direct  # it had started, and was never handed over
    stream.close()


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


@pytest.fixture
def eager(monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumer counts as waiting on the link from its first chunk (when it does is decided by
    the fake-clock tests above): these tests are about what the read-ahead fetches."""
    monkeypatch.setattr(readahead, "WINDOW", 0.0)
    monkeypatch.setattr(readahead, "WAITING", 0.0)


def _stream(root: Path, url: str, size: int, control: Control | None = None, **overrides: Any) -> Any:
    settings = fast_settings(min_free_bytes=0, segments=4, min_segment_size=64 * 1024, **overrides)
    ctx, _ = make_ctx(root, settings, control=control)
    try:
        return stream_tar(ctx, url, "t.tar", root / "sam/images", SAM, size=size)
    finally:
        ctx.journal.close()


def _range(record: Any) -> tuple[int, int | None]:
    """(first byte, last byte or None for an open-ended request) of a GET."""
    first, _, last = record.headers.get("Range", "bytes=0-").removeprefix("bytes=").partition("-")
    return int(first), int(last) if last else None


def _ranges(requests: list[Any]) -> list[tuple[int, int | None]]:
    """The (first, last) byte of each GET of the tar, in the order sent."""
    return [_range(r) for r in requests if r.method == "GET" and r.path == "/t.tar"]


def _stream_thirty(tmp_path: Path) -> tuple[Path, list[Any], int, Any, list[Any]]:
    """A tar of 30 SAM images of 40 KB streamed from a mirror into ``tmp_path/root``:
    (root, the members, the tar's size, the result, the mirror's requests)."""
    docroot = tmp_path / "doc"
    members = sam_members(30, 40_000)
    size = write_tar(docroot / "t.tar", members).stat().st_size
    root = tmp_path / "root"
    with MirrorServer(docroot) as server:
        result = _stream(root, server.url("t.tar"), size)
        return root, members, size, result, list(server.requests)


def test_a_tar_streams_over_several_ranges_at_once(tmp_path: Path, small_pieces: int, eager: None) -> None:
    root, members, size, result, requests = _stream_thirty(tmp_path)
    ranges = sorted(_ranges(requests), key=lambda r: r[0])
    assert on_disk(root / "sam/images") == jpgs(members)
    assert (result.written, result.skipped) == (30, 0)
    assert ranges[0] == (0, None)  # one open request, read by the extracting thread ...
    cut = ranges[1][0]  # ... up to one piece past where it was seen waiting, then pieces
    assert small_pieces < cut <= 2 * small_pieces  # (its first chunk, then one piece)
    assert ranges[1:] == [(a, min(a + small_pieces, size) - 1) for a in range(cut, size, small_pieces)]
    downloads = root / ".sharegpt4v-setup/downloads"
    assert not downloads.exists() or not list(downloads.iterdir())  # no tar stored


def test_a_consumer_that_never_waits_keeps_one_open_request(tmp_path: Path, small_pieces: int,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Before, a known size and four connections always meant ranges; now the read-ahead waits
    for the consumer to wait (here: never)."""
    monkeypatch.setattr(readahead, "WINDOW", 0.0)
    monkeypatch.setattr(readahead, "WAITING", 2.0)  # more than all of the time: never
    root, members, size, result, requests = _stream_thirty(tmp_path)
    gets = [r for r in requests if r.method == "GET"]
    assert on_disk(root / "sam/images") == jpgs(members) and result.written == 30
    assert [r.headers.get("Range") for r in gets] == [None] and gets[0].sent == size


def test_a_dropped_range_resumes_from_a_member_boundary(tmp_path: Path, small_pieces: int, eager: None) -> None:
    docroot = tmp_path / "doc"
    members = sam_members(30, 40_000)
    tar = write_tar(docroot / "t.tar", members)
    size = tar.stat().st_size
    root = tmp_path / "root"
    with MirrorServer(docroot) as server:
        for _ in range(4):
            server.add_fault("/t.tar", Fault(delay=0.0))  # the open request and three ranges as usual ...
        server.add_fault("/t.tar", Fault(drop_after=1000))  # ... then one cut short
        result = _stream(root, server.url("t.tar"), size)
        records = settled_requests(server, 0)
    assert on_disk(root / "sam/images") == jpgs(members)
    assert (result.written, result.skipped) == (30, 0)  # no member written twice
    dropped = next(r for r in records if r.faulted and r.sent < small_pieces)
    cut = _range(dropped)[0]
    opened = [_range(r)[0] for r in records if _range(r)[1] is None]
    assert len(opened) == 2 and opened[0] == 0  # the first attempt, then ...
    resume = opened[1]  # ... the second from the last member boundary before the cut
    assert resume in boundaries(tar) and 0 < resume <= cut
    pieces = sorted(_range(r)[0] for r in records if _range(r)[1] is not None)
    second = [a for a in pieces if (a - pieces[0]) % small_pieces]  # off the first attempt's grid
    if resume % small_pieces:  # (else the two grids coincide)
        assert second == list(range(second[0], size, small_pieces))  # then its pieces follow from there
        assert resume < second[0] <= resume + 2 * small_pieces


def test_a_429_on_a_range_waits_and_completes(tmp_path: Path, small_pieces: int, eager: None) -> None:
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


def test_cancel_stops_a_consumer_waiting_for_a_stalled_piece(tmp_path: Path, small_pieces: int, eager: None,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The read-ahead has taken over and its first piece's link sends nothing: a cancel ends the
    stream at once (not after the read timeout), with the resume point at a member boundary."""
    docroot = tmp_path / "doc"
    members = sam_members(30, 40_000)
    tar = write_tar(docroot / "t.tar", members)
    size = tar.stat().st_size
    root = tmp_path / "root"
    control, release = Control(), threading.Event()
    real = tarstream._TarStream._fetch_piece

    def stalled(self: Any, start: int, end: int) -> Iterator[bytes]:
        deadline = time.monotonic() + 30  # a hang guard only
        while self.body is None or self.body.reader.direct:  # until the consumer reads the pieces
            assert time.monotonic() < deadline
            time.sleep(0.001)
        control.cancel()
        release.wait(60)  # the stalled link
        yield from real(self, start, end)

    monkeypatch.setattr(tarstream._TarStream, "_fetch_piece", stalled)
    outcome: list[BaseException] = []

    url: list[str] = []

    def run() -> None:
        try:
            _stream(root, url[0], size, control=control, read_timeout=120)
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    with MirrorServer(docroot) as server:
        url.append(server.url("t.tar"))
        worker = threading.Thread(target=run)
        worker.start()
        worker.join(30)  # a hang guard only: without the stop it waits for the stalled piece
        try:
            assert not worker.is_alive() and not release.is_set()
            assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
        finally:
            release.set()
            worker.join(60)
    rec = (read_status(root) or [])[0]
    offset = rec.info[STATE_KEY]["offset"]
    assert offset in boundaries(tar) and 0 < offset < size


_CHILD = """
import sys
from wizard.engine import readahead, tarstream
readahead.PIECE = 1 << 20
readahead.WINDOW = readahead.WAITING = 0.0  # the read-ahead from the first chunk on
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
        # a member being written at the kill is at its final name but short, or whole without its
        # mtime yet: the rerun replaces it. A member counts as finished by the extractor's own rule.
        whole = jpgs(members)
        before = {p.name: p.stat().st_ino for p in target.glob("*.jpg")
                  if is_whole(p.stat(), len(whole[p.name]), MEMBER_MTIME)}
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
        monkeypatch.setattr(readahead, "WINDOW", 0.0)
        monkeypatch.setattr(readahead, "WAITING", 0.0)
        assert run_sam(catalog, root, links).ok
        got = settled_requests(server, 1)
    ranges = sorted(_range(r) for r in got)
    assert ranges[0] == (offset, None)  # the rerun starts at the journaled boundary ...
    pieces = [r for r in got if _range(r)[1] is not None]
    cut = min(_range(r)[0] for r in pieces)  # ... reads its open request up to here ...
    assert offset < cut and ranges[1:] == [(a, min(a + (1 << 20), size) - 1) for a in range(cut, size, 1 << 20)]
    assert sum(r.sent for r in pieces) == size - cut  # ... and fetches the rest once
    after = {p.name: p.stat().st_ino for p in target.iterdir()}
    assert all(after[name] == ino for name, ino in before.items())  # finished members untouched
    assert on_disk(target) == jpgs(members)
    assert not list((root / ".sharegpt4v-setup/downloads").iterdir())  # no tar stored
