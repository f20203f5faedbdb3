"""Segmented (multi-connection) downloads: plan, journal, resume after kill -9, fallbacks, 429s."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import fast_settings, make_ctx, settled_requests, sha256
from servers import nginx_server

from wizard.demo.server import Fault, MirrorServer
from wizard.engine.context import JobContext
from wizard.engine.control import Control
from wizard.engine.errors import Cancelled, Code, SetupError
from wizard.engine.events import Progress, Stage, StageChanged
from wizard.engine.net import segments
from wizard.engine.net.durable import WRITE_GRANULARITY, WrittenLog
from wizard.engine.net.ramp import Ramp
from wizard.engine.net.ratelimit import HostGate
from wizard.engine.net.segments import (
    ALIGN,
    AUTO_START,
    MAX_CONNECTIONS,
    MIB,
    Segment,
    SegmentedDownload,
    SegmentJournal,
    connections_for,
    plan_segments,
    preallocate,
    splits,
)
from wizard.engine.net.transfer import download

REPO = Path(__file__).resolve().parent.parent
DATA = os.urandom(12 * MIB + 4321)
SPLIT = {"segments": 4, "min_segment_size": MIB}  # 12 MiB over 4 connections, 1 MiB pieces


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[MirrorServer]:
    docroot = tmp_path / "docroot"
    docroot.mkdir()
    (docroot / "big.bin").write_bytes(DATA)
    with MirrorServer(docroot) as srv:
        yield srv


def gets(server: MirrorServer) -> list[dict[str, str]]:
    return [dict(r.headers) for r in server.requests if r.method == "GET"]


def range_start(header: str) -> int:
    return int(header.removeprefix("bytes=").split("-")[0])


# -- plan and journal --------------------------------------------------------------------------
def test_auto_connections_start_small() -> None:
    # Small files are one stream; larger ones are split, start with one connection and get more
    # while that is faster (test_net_policy tests the ramp).
    assert not splits(31 * MIB, None, 8 * MIB) and connections_for(31 * MIB, None, 8 * MIB) == 1
    assert splits(32 * MIB, None, 8 * MIB) and connections_for(32 * MIB, None, 8 * MIB) == AUTO_START == 1
    assert splits(18 * 1024 * MIB, None, 8 * MIB) and not splits(18 * 1024 * MIB, 1, 8 * MIB)
    # Explicit counts are honoured but capped, and no piece gets smaller than the minimum.
    assert connections_for(2048 * MIB, 1, 32 * MIB) == 1
    assert connections_for(2048 * MIB, 64, 32 * MIB) == MAX_CONNECTIONS
    assert connections_for(100 * MIB, 8, 32 * MIB) == 3
    assert connections_for(3 * MIB, 8, 32 * MIB) == 1


@pytest.mark.parametrize("total", [1, ALIGN - 1, 12 * MIB + 4321, 2048 * MIB])
def test_plan_covers_the_file_without_gaps(total: int) -> None:
    segments = plan_segments(total, 8, MIB)
    assert segments[0].start == 0 and segments[-1].end == total
    assert all(a.end == b.start for a, b in itertools.pairwise(segments))
    assert all(s.done == s.start and s.end > s.start for s in segments)
    assert all(s.start % ALIGN == 0 for s in segments)
    assert len(segments) <= 8 * 8


def test_journal_round_trip_and_prefix(tmp_path: Path) -> None:
    journal = SegmentJournal("http://x/f", '"e"', None, 30,
                             [Segment(0, 10, 10), Segment(10, 20, 15), Segment(20, 30, 25)])
    path = tmp_path / "f.part.json"
    journal.save(path)
    again = SegmentJournal.from_json(json.loads(path.read_text()))
    assert again is not None and again.to_json() == journal.to_json()
    assert again.prefix() == 15 and again.done_bytes == 10 + 5 + 5
    for broken in ({"total": 30, "segments": [[0, 10, 10], [11, 30, 11]]},  # gap
                   {"total": 30, "segments": [[0, 30, 31]]},  # done past the end
                   {"total": 31, "segments": [[0, 30, 0]]},  # does not reach the total
                   {"total": 30, "segments": "nope"}, {"segments": [[0, 30, 0]]}):
        assert SegmentJournal.from_json(broken) is None


# -- against the MirrorServer ------------------------------------------------------------------
def test_segmented_download_is_correct(server: MirrorServer, tmp_path: Path) -> None:
    ctx, rec = make_ctx(tmp_path / "root", fast_settings(**SPLIT))
    dest = ctx.downloads / "big.bin"
    out = download(ctx, server.url("big.bin"), dest, size=len(DATA), sha256=sha256(DATA))
    assert out == dest and hashlib.sha256(dest.read_bytes()).hexdigest() == sha256(DATA)
    assert not dest.with_name("big.bin.part").exists() and not dest.with_name("big.bin.part.json").exists()
    assert any("over 4 connections" in t for t in rec.logs())
    headers = gets(server)
    assert "Range" not in headers[0]  # the plain GET became the first segment's stream
    ranged = headers[1:]
    assert len(ranged) == 12  # 13 one-MiB segments; the first came with the plain GET
    assert all(h["If-Range"].startswith('"') for h in ranged)  # the strong ETag
    assert sorted(range_start(h["Range"]) for h in ranged) == [n * MIB for n in range(1, 13)]
    assert StageChanged("test", Stage.VERIFYING, "sha256") in rec.events


def test_small_files_stay_single_stream(server: MirrorServer, tmp_path: Path) -> None:
    ctx, rec = make_ctx(tmp_path / "root")  # default settings: 12 MiB is below the threshold
    download(ctx, server.url("big.bin"), ctx.downloads / "big.bin", sha256=sha256(DATA))
    assert [h.get("Range") for h in gets(server)] == [None]
    assert not any("connections" in t for t in rec.logs())


def test_dropped_segments_resume_where_they_stopped(server: MirrorServer, tmp_path: Path) -> None:
    server.add_fault("big.bin", Fault(times=1))  # the plain GET goes through
    server.add_fault("big.bin", Fault(drop_after=300_000, times=3))
    ctx, rec = make_ctx(tmp_path / "root", fast_settings(**SPLIT))
    out = download(ctx, server.url("big.bin"), ctx.downloads / "big.bin", sha256=sha256(DATA))
    assert out.read_bytes() == DATA
    dropped = [r for r in server.requests if r.sent == 300_000 and r.headers.get("Range")]
    assert len(dropped) == 3
    starts = {range_start(r.headers["Range"]) for r in server.requests if r.headers.get("Range")}
    chunk = ctx.settings.chunk_size
    for record in dropped:  # each was continued from (about) where its bytes ended
        first = range_start(record.headers["Range"])
        assert any(first + 300_000 - chunk <= s <= first + 300_000 for s in starts)
    assert sum("retrying this segment" in t for t in rec.logs()) == 3


def test_cancel_keeps_an_honest_journal_and_resumes(server: MirrorServer, tmp_path: Path) -> None:
    server.add_fault("big.bin", Fault(rate=3 * MIB, times=None))
    control = Control()
    ctx, rec = make_ctx(tmp_path / "root", fast_settings(**SPLIT), control=control)

    original = rec.__call__

    def cancel_on_progress(event: object) -> None:
        original(event)  # type: ignore[arg-type]
        if isinstance(event, Progress) and event.done > 4 * MIB:
            control.cancel()

    ctx._emit = cancel_on_progress  # type: ignore[method-assign]
    dest = ctx.downloads / "big.bin"
    with pytest.raises(Cancelled):
        download(ctx, server.url("big.bin"), dest, sha256=sha256(DATA))
    assert not any("retrying this segment" in t for t in rec.logs())  # the cancel cut them: no failures
    part = dest.with_name("big.bin.part")
    journal = SegmentJournal.from_json(json.loads(dest.with_name("big.bin.part.json").read_text()))
    assert journal is not None and part.stat().st_size == len(DATA) == journal.total
    assert 4 * MIB < journal.done_bytes < len(DATA)
    on_disk = part.read_bytes()
    for seg in journal.segments:  # whatever the journal counts is really there
        assert on_disk[seg.start:seg.done] == DATA[seg.start:seg.done]
    server.clear_faults()
    server.clear_requests()
    ctx2, rec2 = make_ctx(tmp_path / "root", fast_settings(**SPLIT))
    assert download(ctx2, server.url("big.bin"), dest, sha256=sha256(DATA)).read_bytes() == DATA
    unfinished = [s for s in journal.segments if not s.complete]
    records = settled_requests(server, len(unfinished))
    assert sorted(range_start(r.headers["Range"]) for r in records) == [s.done for s in unfinished]
    assert any("resuming" in t for t in rec2.logs())


def test_a_cancel_the_coordinator_sees_late_is_still_a_cancel(server: MirrorServer, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A cancel from another thread (the GUI's button) cuts every connection at once; the workers'
    reads then fail as dropped connections. However late the coordinator looks (a loaded machine:
    here its poll is stretched to 30 s), those are no failures to retry: the run ends Cancelled
    at once, without "retrying this segment" warnings or a RETRIES_EXHAUSTED (a flaky failure of
    the test above, "the connection dropped mid-file", under load)."""
    monkeypatch.setattr(segments, "_PROGRESS_SECONDS", 30.0)
    server.add_fault("big.bin", Fault(rate=3 * MIB, times=None))
    control = Control()
    ctx, rec = make_ctx(tmp_path / "root", fast_settings(**SPLIT), control=control)
    landed = threading.Event()
    write = SegmentedDownload.write

    def counting_write(self: SegmentedDownload, seg: Segment, data: bytes) -> bool:
        more = write(self, seg, data)
        if self.journal.done_bytes > 2 * MIB:
            landed.set()
        return more

    monkeypatch.setattr(SegmentedDownload, "write", counting_write)
    canceller = threading.Thread(target=lambda: landed.wait(60) and control.cancel())
    canceller.start()
    dest = ctx.downloads / "big.bin"
    try:
        with pytest.raises(Cancelled):
            download(ctx, server.url("big.bin"), dest, sha256=sha256(DATA))
    finally:
        canceller.join()
    assert not any("retrying this segment" in t for t in rec.logs()), rec.logs()
    journal = SegmentJournal.from_json(json.loads(dest.with_name("big.bin.part.json").read_text()))
    assert journal is not None and 2 * MIB < journal.done_bytes < len(DATA)


def test_server_ignoring_ranges_falls_back_to_one_stream(server: MirrorServer, tmp_path: Path) -> None:
    server.add_fault("big.bin", Fault(ignore_range=True, times=None))
    ctx, rec = make_ctx(tmp_path / "root", fast_settings(**SPLIT))
    dest = ctx.downloads / "big.bin"
    assert download(ctx, server.url("big.bin"), dest, sha256=sha256(DATA)).read_bytes() == DATA
    logs = rec.logs()
    assert any("ignored the Range request; continuing with one connection" in t for t in logs)
    # From then on one stream: the last request asked for the rest of the file, not a segment.
    last = gets(server)[-1].get("Range")
    assert last is None or last.endswith("-")
    assert not dest.with_name("big.bin.part.json").exists()


def test_upstream_change_restarts_the_file(server: MirrorServer, tmp_path: Path) -> None:
    server.add_fault("big.bin", Fault(times=1))
    server.add_fault("big.bin", Fault(etag='"v2"', times=None))  # the file "changed" after the GET
    ctx, rec = make_ctx(tmp_path / "root", fast_settings(**SPLIT))
    out = download(ctx, server.url("big.bin"), ctx.downloads / "big.bin", sha256=sha256(DATA))
    assert out.read_bytes() == DATA
    assert any("changed upstream" in t and "starting this file again" in t for t in rec.logs())
    assert all(h.get("If-Range") == '"v2"' for h in gets(server)[-3:])


def test_429_on_segments_backs_off_and_completes(server: MirrorServer, tmp_path: Path) -> None:
    server.add_fault("big.bin", Fault(times=1))
    server.add_fault("big.bin", Fault(status=429, retry_after="0.1", times=3))
    ctx, rec = make_ctx(tmp_path / "root", fast_settings(**SPLIT))
    out = download(ctx, server.url("big.bin"), ctx.downloads / "big.bin", sha256=sha256(DATA))
    assert out.read_bytes() == DATA
    assert [r.status for r in server.requests].count(429) == 3
    assert any("429" in t and "connection(s) to this host" in t for t in rec.logs())
    assert sum("retrying this segment in 0.1 s" in t for t in rec.logs()) == 3


def test_segmented_checksum_mismatch_is_quarantined(server: MirrorServer, tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path / "root", fast_settings(**SPLIT))
    dest = ctx.downloads / "big.bin"
    with pytest.raises(SetupError) as err:
        download(ctx, server.url("big.bin"), dest, sha256="0" * 64)
    assert err.value.problem.code == Code.CHECKSUM_MISMATCH
    kept = list(ctx.quarantine.iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == DATA
    assert not dest.with_name("big.bin.part.json").exists()


def test_404_on_a_segment_is_final(server: MirrorServer, tmp_path: Path) -> None:
    server.add_fault("big.bin", Fault(times=1))
    server.add_fault("big.bin", Fault(status=404, times=None))
    ctx, _ = make_ctx(tmp_path / "root", fast_settings(**SPLIT))
    dest = ctx.downloads / "big.bin"
    with pytest.raises(SetupError) as err:
        download(ctx, server.url("big.bin"), dest)
    assert err.value.problem.code == Code.HTTP_STATUS and "404" in err.value.problem.message
    assert "segments" in json.loads(dest.with_name("big.bin.part.json").read_text())  # kept for later


def test_a_sign_in_page_answering_segments_keeps_them(server: MirrorServer, tmp_path: Path) -> None:
    server.add_fault("big.bin", Fault(times=1))  # the plain GET goes through, then the network wants a sign-in
    portal = b"<!DOCTYPE html><html><head><title>Guest Wi-Fi</title></head><body>Accept the terms</body></html>"
    server.add_fault("big.bin", Fault(status=200, body=portal, content_type="text/html", times=None))
    ctx, _ = make_ctx(tmp_path / "root", fast_settings(**SPLIT))
    dest = ctx.downloads / "big.bin"
    with pytest.raises(SetupError) as err:
        download(ctx, server.url("big.bin"), dest, sha256=sha256(DATA))
    assert err.value.problem.code == Code.NETWORK and "web page" in err.value.problem.message
    journal = SegmentJournal.from_json(json.loads(dest.with_name("big.bin.part.json").read_text()))
    assert journal is not None and journal.total == len(DATA)  # the segments are kept for the next run
    assert dest.with_name("big.bin.part").stat().st_size == len(DATA)
    server.clear_faults()
    assert download(ctx, server.url("big.bin"), dest, sha256=sha256(DATA)).read_bytes() == DATA


# -- against nginx -----------------------------------------------------------------------------
@pytest.mark.nginx
def test_segmented_download_from_nginx(tmp_path: Path) -> None:
    docroot = tmp_path / "docroot"
    docroot.mkdir()
    data = os.urandom(40 * MIB + 17)
    (docroot / "big.bin").write_bytes(data)
    with nginx_server(docroot, tmp_path / "nginx") as nginx:
        ctx, rec = make_ctx(tmp_path / "root", fast_settings(segments=4, min_segment_size=2 * MIB))
        out = download(ctx, f"{nginx.base_url}/big.bin", ctx.downloads / "big.bin", sha256=sha256(data))
        assert hashlib.sha256(out.read_bytes()).hexdigest() == sha256(data)
        assert any("over 4 connections" in t for t in rec.logs())
        deadline = time.monotonic() + 30  # nginx writes its access log lazily; a loaded machine is slow
        while nginx.access_log.read_text().count('" 206 ') < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        log = nginx.access_log.read_text()
        assert log.count('" 206 ') == 20 and log.count('" 200 ') == 1  # 21 pieces of (up to) 2 MiB


# -- kill -9 -----------------------------------------------------------------------------------
_CHILD = """
import sys
from pathlib import Path
sys.path[:0] = [{repo!r}, {tests!r}]
from helpers import fast_settings, make_ctx
from wizard.engine.net.transfer import download
ctx, _ = make_ctx(Path({root!r}), fast_settings(segments=4, min_segment_size=4 << 20, retries=50))
download(ctx, {url!r}, ctx.downloads / "huge.bin")
"""


@pytest.mark.slow
def test_segments_resume_after_kill_9(tmp_path: Path) -> None:
    docroot = tmp_path / "docroot"
    docroot.mkdir()
    data = os.urandom(64 * MIB)
    (docroot / "huge.bin").write_bytes(data)
    root = tmp_path / "root"
    sidecar = root / ".sharegpt4v-setup" / "downloads" / "huge.bin.part.json"
    with MirrorServer(docroot) as server:
        server.add_fault("huge.bin", Fault(rate=4 * MIB, times=None))  # 16 MiB/s over 4 connections
        code = _CHILD.format(repo=str(REPO), tests=str(REPO / "tests"), root=str(root),
                             url=server.url("huge.bin"))
        errors = tmp_path / "child.err"
        with errors.open("wb") as err:
            child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 60
            done = 0
            while done < 20 * MIB and time.monotonic() < deadline and child.poll() is None:
                time.sleep(0.05)
                try:
                    journal = SegmentJournal.from_json(json.loads(sidecar.read_text()))
                except (OSError, ValueError):
                    continue
                done = journal.done_bytes if journal else 0
            assert child.poll() is None, errors.read_text()
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL
        journal = SegmentJournal.from_json(json.loads(sidecar.read_text()))
        assert journal is not None and journal.done_bytes < len(data)
        part = sidecar.with_name("huge.bin.part").read_bytes()
        # The synced journal is honest, and the written log (same boot) takes it further.
        assert all(part[s.start:s.done] == data[s.start:s.done] for s in journal.segments)
        synced = journal.done_bytes
        journal.merge_log(WrittenLog.read(sidecar.with_name("huge.bin.part.log")))
        assert 20 * MIB <= journal.done_bytes < len(data) and journal.done_bytes >= synced
        assert all(part[s.start:s.done] == data[s.start:s.done] for s in journal.segments)
        unfinished = [s for s in journal.segments if not s.complete]
        for seg in unfinished:  # what the kill lost: written but not recorded, at most one read per connection
            written = seg.done
            while written < seg.end and part[written:written + 4096] == data[written:written + 4096]:
                written += 4096
            assert written - seg.done <= WRITE_GRANULARITY + 4096

        server.clear_faults()
        server.clear_requests()
        ctx, rec = make_ctx(root, fast_settings(segments=4, min_segment_size=4 * MIB))
        out = download(ctx, server.url("huge.bin"), ctx.downloads / "huge.bin", sha256=sha256(data))
        assert hashlib.sha256(out.read_bytes()).hexdigest() == sha256(data)
        records = settled_requests(server, len(unfinished))
        served = sum(r.sent for r in records)
        # Every unfinished segment continued from its recorded offset: nothing done was fetched again.
        assert sorted(range_start(r.headers["Range"]) for r in records) == [s.done for s in unfinished]
        assert served == len(data) - journal.done_bytes < len(data)
        assert any("resuming" in t for t in rec.logs())


# -- the automatic connection count ---------------------------------------------------------------
class ScriptedRamp(Ramp):
    """A ramp whose decisions are given: the i-th update answers ``script[i]`` (then the last)."""

    def __init__(self, script: list[int]) -> None:
        super().__init__(script[0], MAX_CONNECTIONS)
        self.script = script
        self.calls = 0

    def update(self, done: int) -> int:
        self.target = min(self.ceiling, self.script[min(self.calls, len(self.script) - 1)])
        self.calls += 1
        return self.target


def _pieces(tmp_path: Path, pieces: int) -> tuple[bytes, JobContext, Path, SegmentJournal]:
    """A download of ``pieces`` segments of 256 KiB planned over a preallocated part: (its data,
    the job context, the part, the journal)."""
    total = pieces * 256 * 1024
    ctx, _ = make_ctx(tmp_path / "root", fast_settings(min_segment_size=256 * 1024))
    part = ctx.downloads / "f.bin.part"
    preallocate(part, total)
    journal = SegmentJournal("http://x/f.bin", '"e"', None, total, plan_segments(total, None, 256 * 1024))
    return os.urandom(total), ctx, part, journal


def _run_scripted(tmp_path: Path, script: list[int], gate: HostGate,
                  expect: int) -> tuple[SegmentedDownload, set[int]]:
    data, ctx, part, journal = _pieces(tmp_path, 64)
    workers: set[int] = set()
    started = threading.Event()

    def fetch(seg: Segment, sink: SegmentedDownload) -> None:
        workers.add(seg.owner if seg.owner is not None else -1)
        if len(workers) >= expect:
            started.set()
        started.wait(2)  # hold the first pieces until the ramp's workers all took one
        while sink.write(seg, data[seg.done:seg.done + 65536]):
            pass

    download = SegmentedDownload(ctx, part, ctx.downloads / "f.bin.part.json", journal, connections=None,
                                 gate=gate, ramp=ScriptedRamp(script))
    download.run(fetch)
    assert part.read_bytes() == data
    return download, workers


def test_the_ramp_adds_workers_up_to_its_target(tmp_path: Path) -> None:
    download, workers = _run_scripted(tmp_path, [2, 2, 4, 8], HostGate(), 8)
    assert download.peak == 8 and workers == set(range(8))


def test_the_ramp_stays_within_the_host_gate(tmp_path: Path) -> None:
    gate = HostGate(recover_seconds=3600)
    for _ in range(6):
        gate.enter()
    gate.throttled()  # limit 3
    for _ in range(6):
        gate.release()
    download, workers = _run_scripted(tmp_path, [2, 16], gate, 3)
    assert download.peak <= 3 and len(workers) <= 3


class LoweringRamp(Ramp):
    """Four connections until workers 0 and 1 have ended (nothing left to claim: 2 and 3 hold the
    last segments), then two."""

    def __init__(self) -> None:
        super().__init__(4, MAX_CONNECTIONS)
        self.download: SegmentedDownload | None = None
        self.lowered = threading.Event()

    def update(self, done: int) -> int:
        download = self.download
        if not self.lowered.is_set() and download is not None and len(download._threads) == 4 \
                and not any(t.is_alive() for t in download._threads[:2]):
            self.target = 2
            self.lowered.set()
        return self.target


def test_segments_left_by_workers_above_a_lowered_count_are_finished(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The http_bench found it: workers 2 and 3, above a lowered count, leave their segments
    unfinished; when they end just after the coordinator looked for unclaimed segments (none
    yet), no worker was left and the download ended in "segments were left unfinished" (an
    internal error). Workers within the count now take those segments."""
    data, ctx, part, journal = _pieces(tmp_path, 4)
    assert len(journal.segments) == 4
    ramp = LoweringRamp()
    owners: list[int | None] = []
    claimed = threading.Barrier(4)
    release = threading.Event()

    def fetch(seg: Segment, sink: SegmentedDownload) -> None:
        owners.append(seg.owner)
        if len(owners) <= 4:
            claimed.wait(60)  # each of the four workers holds one segment first
        if seg.owner in (2, 3) and not release.is_set():  # hold on until the count is lowered
            sink.write(seg, data[seg.done:seg.done + 65536])
            assert release.wait(60)  # (a hang guard)
        while sink.write(seg, data[seg.done:seg.done + 65536]):
            pass

    download = SegmentedDownload(ctx, part, ctx.downloads / "f.bin.part.json", journal, connections=None,
                                 gate=HostGate(), ramp=ramp)
    ramp.download = download
    looked = download._pending_work

    def pending_work() -> bool:
        found = looked()
        if ramp.lowered.is_set() and not release.is_set():  # 2 and 3 end right after this look
            release.set()
            for thread in download._threads[2:]:
                thread.join(60)
        return found

    monkeypatch.setattr(download, "_pending_work", pending_work)
    download.run(fetch)
    assert ramp.lowered.is_set() and part.read_bytes() == data
    assert sorted(owners[:4]) == [0, 1, 2, 3] and set(owners[4:]) <= {0, 1} and len(owners) == 6
