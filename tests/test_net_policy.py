"""The network layer's pure parts: policy, connection ramp, durable flush, bounds, log redaction.

Everything runs on injected clocks and random sources; nothing here waits.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from faultserver import FaultServer, http_date
from helpers import fast_settings, make_ctx, sha256

from wizard.engine.errors import Code, SetupError
from wizard.engine.net import policy
from wizard.engine.net.bounds import MARGIN, limit_for, quarantine
from wizard.engine.net.client import redact_url
from wizard.engine.net.durable import (
    Flusher,
    WrittenLog,
    boot_id,
    libc_sync_file_range,
    marker_for,
    start_writeback,
    unsettled,
    wait_for_syncs,
)
from wizard.engine.net.policy import Attempts, Kind, RetryLater, backoff, classify, describe, if_range, retry_after
from wizard.engine.net.ramp import Ramp
from wizard.engine.net.transfer import download

NOW = 1_800_000_000.0


# -- policy ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    ("7", 7.0), (" 12 ", 12.0), ("0", 0.0), ("-5", 0.0), ("1.5", 1.5), ("99999", 600.0),
    (http_date(NOW + 30), 30.0), (http_date(NOW - 30), 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ("soon", None), ("", None), (None, None), ("nan", None),
])
def test_retry_after_reads_seconds_and_http_dates(value: str | None, expected: float | None) -> None:
    assert retry_after(value, cap=600.0, now=lambda: NOW) == expected


def test_there_is_one_retryable_status_set_and_one_retry_after_parser() -> None:
    root = Path(__file__).resolve().parent.parent / "wizard"
    sources = {p: p.read_text(encoding="utf-8") for p in root.rglob("*.py")}
    sets = [p for p, text in sources.items() if "{408, 425, 429, 500, 502, 503, 504}" in text]
    parsers = [p for p, text in sources.items() if "parsedate_to_datetime" in text or 'get("Retry-After"' in text]
    assert [p.name for p in sets] == ["policy.py"] and [p.name for p in parsers] == ["policy.py"]


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    assert [backoff(n, 1.0, 10.0, lambda: 1.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert [backoff(n, 1.0, 10.0, lambda: 0.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 5.0]


def test_attempts_count_failures_without_progress_and_give_up() -> None:
    attempts = Attempts("f.bin", 2, 1.0, 10.0, rand=lambda: 1.0)
    assert attempts.failed(RetryLater("x", 7.0)) == 7.0  # Retry-After wins over the back-off
    assert attempts.failed(RetryLater("x")) == 2.0
    assert attempts.failed(RetryLater("x"), progressed=True) == 1.0  # progress resets the budget
    attempts.failed(RetryLater("x"))
    with pytest.raises(SetupError) as caught:
        attempts.failed(requests.TooManyRedirects())
    assert caught.value.problem.code == Code.RETRIES_EXHAUSTED
    assert "redirect loop" in caught.value.problem.message


def test_retryable_exceptions_and_their_descriptions() -> None:
    for exc, words in [(requests.TooManyRedirects(), "redirect loop"),
                       (requests.exceptions.InvalidSchema("file:///x"), "not http(s)"),
                       (requests.ReadTimeout(), "timeout"), (requests.ConnectTimeout(), "timeout"),
                       (requests.exceptions.ChunkedEncodingError(), "dropped"),
                       (requests.ConnectionError("Name or service not known"), "DNS"),
                       (policy.Stalled("under 1 byte"), "stalled")]:
        assert policy.is_retryable(exc) and words in describe(exc)
    assert not policy.is_retryable(requests.exceptions.InvalidURL())


def test_if_range_prefers_a_strong_etag() -> None:
    assert if_range('"abc"', "Tue, 02 Jan 2024 10:00:00 GMT") == '"abc"'
    assert if_range('W/"abc"', "Tue, 02 Jan 2024 10:00:00 GMT") == "Tue, 02 Jan 2024 10:00:00 GMT"
    assert if_range('W/"abc"', None) is None and if_range(None, None) is None


@pytest.mark.parametrize(("status", "headers", "offset", "kind", "start", "total"), [
    (200, {"Content-Length": "10"}, 0, Kind.FRESH, 0, 10),
    (206, {"Content-Range": "bytes 5-9/10"}, 5, Kind.RESUMED, 5, 10),
    (206, {"Content-Range": "bytes 0-9/10"}, 5, Kind.RESTART, 0, None),  # another range than asked
    (200, {"Content-Length": "10", "ETag": '"a"'}, 5, Kind.RESTART, 0, 10),  # range ignored
    (416, {"Content-Range": "bytes */10"}, 10, Kind.COMPLETE, 10, 10),
    (416, {"Content-Range": "bytes */12"}, 10, Kind.RESTART, 0, None),
    (416, {}, 10, Kind.RESTART, 0, None),  # no size named, none known
    (429, {"Retry-After": "3"}, 0, Kind.RETRY, 0, None),
    (503, {}, 5, Kind.RETRY, 0, None),
    (404, {}, 0, Kind.REFUSED, 0, None),
    # compressed although asked for identity: the lengths count compressed bytes, not the file's
    (200, {"Content-Length": "10", "Content-Encoding": "gzip"}, 0, Kind.FRESH, 0, None),
    (206, {"Content-Range": "bytes 5-9/10", "Content-Encoding": "gzip"}, 5, Kind.RESTART, 0, None),
])
def test_classify(status: int, headers: dict[str, str], offset: int, kind: Kind, start: int,
                  total: int | None) -> None:
    answer = classify(status, headers, offset, etag='"a"', now=lambda: NOW)
    assert (answer.kind, answer.start, answer.total) == (kind, start, total)


def test_classify_says_why_a_restart() -> None:
    changed = classify(200, {"ETag": '"b"', "Content-Length": "10"}, 5, etag='"a"')
    assert changed.body and "changed upstream" in changed.reason
    ignored = classify(200, {"ETag": '"a"', "Content-Length": "10"}, 5, etag='"a"')
    assert ignored.body and "ignored the Range" in ignored.reason
    resized = classify(206, {"Content-Range": "bytes 5-11/12"}, 5, total=10)
    assert resized.kind is Kind.RESTART and not resized.body and "size" in resized.reason
    retry = classify(429, {"Retry-After": http_date(NOW + 9)}, now=lambda: NOW)
    assert retry.wait == 9.0 and retry.throttled
    with pytest.raises(RetryLater):
        retry.raise_for("http://x/f", "f")


# -- adaptive connections ------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(ramp: Ramp, clock: Clock, rate: Callable[[int], float], seconds: float = 10.0) -> list[int]:
    """Run the ramp against a link where ``n`` connections give ``rate(n)`` bytes/s."""
    done = 0.0
    seen = []
    while clock.now < seconds:
        n = ramp.update(int(done))
        seen.append(n)
        clock.now += 0.1
        done += rate(n) * 0.1
    return seen


def test_ramp_grows_to_16_behind_per_connection_caps() -> None:
    clock = Clock()
    ramp = Ramp(1, 16, clock=clock)
    seen = simulate(ramp, clock, lambda n: n * 20 * 2**20)
    assert seen[0] == 1 and max(seen) == 16 and seen[-1] == 16 and ramp.settled
    assert seen == sorted(seen)  # it only grows while that is faster
    assert seen.index(16) <= 4 * 5 + 1  # one window (0.5 s) per doubling: 1, 2, 4, 8, 16


def test_ramp_stays_at_one_or_two_on_a_fast_link_without_caps() -> None:
    clock = Clock()
    ramp = Ramp(1, 16, clock=clock)
    # One connection alone nearly fills the link; more add ~5 %.
    link = {1: 900e6, 2: 1000e6, 4: 1050e6, 8: 1050e6, 16: 1000e6}
    seen = simulate(ramp, clock, lambda n: link[n], seconds=20.0)
    assert seen[-1] == 1 and max(seen) == 2  # tried 2 now and then, went back each time
    assert seen.count(2) <= len(seen) // 4


def test_ramp_tries_again_after_a_bad_window() -> None:
    clock = Clock()
    ramp = Ramp(1, 16, clock=clock)
    slow_start = {1: 20e6, 2: 22e6}  # e.g. the machine was busy while two connections were tried
    seen = simulate(ramp, clock, lambda n: slow_start.get(n, n * 20e6) if clock.now < 2 else n * 20e6,
                    seconds=12.0)
    assert seen[15] == 1 and seen[-1] == 16  # settled too early at first, then found the caps


def test_ramp_never_exceeds_the_host_gate() -> None:
    clock = Clock()
    ramp = Ramp(2, 16, clock=clock)
    ramp.limit(5)
    seen = simulate(ramp, clock, lambda n: n * 10e6)
    assert max(seen) == 5


# -- durable writes -------------------------------------------------------------------------------
def test_flusher_journals_only_what_was_synced(tmp_path: Path) -> None:
    path = tmp_path / "f.part"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    recorded: list[int] = []
    written = [0]
    flusher = Flusher(fd, lambda: written[0], recorded.append, sync_seconds=3600)
    flusher.start()
    try:
        os.write(fd, b"x" * 1000)
        written[0] = 1000
        flusher.wrote(1000)
    finally:
        flusher.close()  # the closing sync records what was written before it
        os.close(fd)
    assert recorded == [1000] and flusher.syncs == 1


def test_closing_a_complete_file_does_not_wait_for_a_sync_under_way(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """http_bench found a 1 GiB download ending ~1.4 s after its last byte: close() joined the
    flusher while its fdatasync wrote back a second's worth of a link faster than the disk.
    Without ``final_sync`` close returns at once; the sync ends alone, records nothing, and the
    flusher closes its own descriptor (the owner's is already closed)."""
    from wizard.engine.net import durable

    in_sync, release = threading.Event(), threading.Event()

    def slow_datasync(fd: int) -> None:
        in_sync.set()
        assert release.wait(60)  # (a hang guard)
        os.fdatasync(fd)

    monkeypatch.setattr(durable, "datasync", slow_datasync)
    fd = os.open(tmp_path / "f.part", os.O_RDWR | os.O_CREAT)
    recorded: list[int] = []
    flusher = Flusher(fd, lambda: 1000, recorded.append, sync_seconds=0.0).start()
    os.write(fd, b"x" * 1000)
    flusher.wrote(1000)
    assert in_sync.wait(60)
    flusher.close(final_sync=False)  # returns with the sync still under way
    os.close(fd)
    assert flusher._thread is not None and flusher._thread.is_alive()
    release.set()
    flusher._thread.join(60)
    assert not flusher._thread.is_alive()
    assert recorded == [] and flusher.syncs == 1  # synced, but not recorded once closed
    with pytest.raises(OSError):
        os.fstat(flusher.fd)  # its duplicate is closed too
    other = os.open(tmp_path / "other", os.O_RDWR | os.O_CREAT)  # (may reuse the duplicate's number)
    try:
        flusher.close(final_sync=False)  # a second close closes nothing
        os.fstat(other)
    finally:
        os.close(other)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_early_writeback_reaches_the_kernel(tmp_path: Path) -> None:
    """CPython's os has no sync_file_range: the C library's is called, and the kernel answers."""
    assert libc_sync_file_range() is not None
    fd = os.open(tmp_path / "f.part", os.O_RDWR | os.O_CREAT)
    try:
        os.write(fd, b"x" * 65536)
        assert start_writeback(fd) is True
    finally:
        os.close(fd)
    assert start_writeback(fd) is False  # EBADF: the call reached the kernel, which refused it
    read_end, write_end = os.pipe()
    try:
        assert start_writeback(read_end) is False  # ESPIPE
    finally:
        os.close(read_end)
        os.close(write_end)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_flusher_starts_writeback_once_enough_was_written(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f.part", os.O_RDWR | os.O_CREAT)
    flusher = Flusher(fd, lambda: 0, lambda _: None, sync_seconds=3600, writeback_bytes=4096).start()
    try:
        os.write(fd, b"x" * 4096)
        flusher.wrote(4096)
        deadline = time.monotonic() + 30  # a hang guard only
        while flusher.writebacks == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert flusher.writebacks >= 1
    finally:
        flusher.close()
        os.close(fd)


def test_written_log_is_trusted_on_the_same_boot_only(tmp_path: Path) -> None:
    log = WrittenLog(tmp_path / "f.part.log").open()
    log.record(0, 100)
    log.record(0, 300)
    log.record(1000, 1200)
    log.close()
    with open(tmp_path / "f.part.log", "a", encoding="ascii") as fh:
        fh.write("1000 13")  # a line cut by the kill reads as less than was written: the furthest wins
    if boot_id() is None:  # pragma: no cover - not Linux
        assert WrittenLog.read(tmp_path / "f.part.log") == {}
        return
    assert WrittenLog.read(tmp_path / "f.part.log") == {0: 300, 1000: 1200}
    text = (tmp_path / "f.part.log").read_text().replace(f"boot {boot_id()}", "boot another-boot")
    (tmp_path / "f.part.log").write_text(text)
    assert WrittenLog.read(tmp_path / "f.part.log") == {}  # after a reboot only the synced sidecar counts


def test_resume_after_a_power_loss_keeps_only_synced_bytes(tmp_path: Path) -> None:
    data = os.urandom(2 << 20)
    with FaultServer({"/f.bin": data}) as server:
        ctx, rec = make_ctx(tmp_path / "root")
        dest = ctx.downloads / "f.bin"
        part = dest.with_name("f.bin.part")
        meta = dest.with_name("f.bin.part.json")
        # A part from before a power loss: 1 MiB synced, then garbage the disk never really had.
        part.write_bytes(data[: 1 << 20] + b"\0" * 300_000)
        meta.write_text(json.dumps({"url": server.url("/f.bin"), "etag": None,
                                    "last_modified": "Tue, 02 Jan 2024 10:00:00 GMT", "total": len(data),
                                    "synced": 1 << 20, "boot": "a-boot-before-the-power-loss"}))
        assert download(ctx, server.url("/f.bin"), dest, sha256=sha256(data)).read_bytes() == data
        assert [s.range for s in server.seen] == [f"bytes={1 << 20}-"]
        assert any("machine restarted" in t for t in rec.logs())


# -- bounds -------------------------------------------------------------------------------------
def test_limits_follow_what_is_known(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path / "root", fast_settings(min_free_bytes=0))
    assert limit_for(ctx, size=1000, declared=5000, approx=10) == 1000 + MARGIN
    assert limit_for(ctx, declared=5000, approx=10) == 5000 + MARGIN
    assert limit_for(ctx, approx=10) == 20
    assert 0 < limit_for(ctx) < 1 << 62  # the disk budget


def test_quarantine_keeps_one_copy_per_file(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path / "root")
    for n in range(3):
        bad = tmp_path / "a.tar"
        bad.write_bytes(b"x" * (n + 1))
        quarantine(ctx, bad, "bad")
    (tmp_path / "a.tar.gz").write_bytes(b"other")
    quarantine(ctx, tmp_path / "a.tar.gz", "bad")
    assert sorted(p.name for p in ctx.quarantine.iterdir()) == ["a.tar.bad", "a.tar.gz.bad"]
    assert (ctx.quarantine / "a.tar.bad").read_bytes() == b"xxx"


def test_a_declared_size_far_beyond_the_catalog_is_refused_before_any_byte(tmp_path: Path) -> None:
    with FaultServer({"/f.bin": os.urandom(500_000)}) as server:
        ctx, _ = make_ctx(tmp_path / "root")
        with pytest.raises(SetupError) as caught:
            download(ctx, server.url("/f.bin"), ctx.downloads / "f.bin", size=100_000)
        assert caught.value.problem.code == Code.BODY_TOO_LONG and "announces 500,000" in caught.value.problem.message
        assert not (ctx.downloads / "f.bin.part").exists() or (ctx.downloads / "f.bin.part").stat().st_size == 0


# -- logging ------------------------------------------------------------------------------------
def test_redact_url_drops_query_fragment_and_credentials() -> None:
    assert redact_url("https://user:pw@cdn.example:8443/a/sa_1.tar?oe=65&_nc_sig=abc#x") == \
        "https://cdn.example:8443/a/sa_1.tar"
    assert redact_url("http://[::1]/f") == "http://[::1]/f"


def test_requests_and_retries_are_logged_without_secrets(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from faultserver import FaultRule

    data = os.urandom(100_000)
    with FaultServer({"/f.bin": data}) as server:
        server.add("/f.bin", FaultRule(status=503, retry_after="0"))
        ctx, _ = make_ctx(tmp_path / "root")
        with caplog.at_level(logging.INFO, logger="wizard"):
            download(ctx, server.url("/f.bin") + "?token=hunter2", ctx.downloads / "f.bin",
                     headers={"Authorization": "Bearer hunter2"})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "hunter2" not in text
    assert f"GET {server.base_url}/f.bin range=- -> 503" in text
    assert f"GET {server.base_url}/f.bin range=- -> 200" in text
    assert "retry f.bin in 0.00 s (attempt 1/4): server answered 503 (Retry-After)" in text


def test_a_finished_file_is_renamed_at_once_and_synced_in_the_background(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    with FaultServer({"/f.bin": data}) as server:
        ctx, rec = make_ctx(tmp_path / "root")
        dest = ctx.downloads / "f.bin"
        assert download(ctx, server.url("/f.bin"), dest, sha256=sha256(data)).read_bytes() == data
        wait_for_syncs()
        assert unsettled(dest) is None and not marker_for(dest).exists()
        # A marker from this boot: the page cache holds the file; it stands.
        marker_for(dest).write_text(boot_id() or "", encoding="ascii")
        assert unsettled(dest) is (boot_id() is None)
        if boot_id() is not None:
            download(ctx, server.url("/f.bin"), dest, sha256=sha256(data))
            assert len(server.seen) == 1
        # A marker from another boot: a power cut may have cut it short; it is fetched again.
        marker_for(dest).write_text("another-boot", encoding="ascii")
        dest.write_bytes(data[:1000])
        assert download(ctx, server.url("/f.bin"), dest, sha256=sha256(data)).read_bytes() == data
        assert any("restarted before it was synced" in t for t in rec.logs())
        wait_for_syncs()
        assert not marker_for(dest).exists()


def test_a_failed_final_sync_is_raised_and_still_closes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from wizard.engine.net import durable

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(durable, "datasync", full)
    fd = os.open(tmp_path / "f.part", os.O_RDWR | os.O_CREAT)
    recorded: list[int] = []
    flusher = Flusher(fd, lambda: 0, recorded.append, sync_seconds=3600).start()
    try:
        with pytest.raises(OSError, match="No space"):
            flusher.close()
    finally:
        os.close(fd)
    assert recorded == []
    with pytest.raises(OSError):
        os.fstat(flusher.fd)  # the flusher's duplicate did not leak
