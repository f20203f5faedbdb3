"""The resumable HTTP fetcher against a real server on 127.0.0.1 that injects faults."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import fast_settings, make_ctx, sha256

from wizard.demo.server import Fault, MirrorServer
from wizard.engine.context import JobContext
from wizard.engine.control import Control
from wizard.engine.errors import Cancelled, Code, SetupError
from wizard.engine.events import Progress
from wizard.engine.net.transfer import download

DATA = os.urandom(3 * 1024 * 1024 + 123)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[MirrorServer]:
    docroot = tmp_path / "docroot"
    docroot.mkdir()
    (docroot / "big.bin").write_bytes(DATA)
    with MirrorServer(docroot) as srv:
        yield srv


def settled_statuses(server: MirrorServer, count: int) -> list[int]:
    """The statuses answered; the server records a request just after the client has its answer."""
    deadline = time.monotonic() + 5
    while len(server.requests) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return [r.status for r in server.requests]


def gets(server: MirrorServer) -> list[dict[str, str]]:
    return [dict(r.headers) for r in server.requests if r.method == "GET"]


def test_plain_download_is_verified_and_atomic(server: MirrorServer, tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path / "root")
    dest = ctx.downloads / "big.bin"
    out = download(ctx, server.url("big.bin"), dest, size=len(DATA), sha256=sha256(DATA))
    assert out == dest and dest.read_bytes() == DATA
    assert not dest.with_name("big.bin.part").exists()
    assert not dest.with_name("big.bin.part.json").exists()


def test_dropped_connection_resumes_with_range(server: MirrorServer, tmp_path: Path) -> None:
    server.add_fault("big.bin", Fault(drop_after=1_000_000, times=2))
    ctx, rec = make_ctx(tmp_path / "root")
    dest = download(ctx, server.url("big.bin"), ctx.downloads / "big.bin", sha256=sha256(DATA))
    assert dest.read_bytes() == DATA
    ranges = [h.get("Range") for h in gets(server)]
    assert ranges[0] is None and len(ranges) == 3
    # Each retry starts where the bytes on disk end (at most one read chunk before the drop).
    starts = [int(r.removeprefix("bytes=").rstrip("-")) for r in ranges[1:]]
    chunk = ctx.settings.chunk_size
    assert 1_000_000 - chunk <= starts[0] <= 1_000_000
    assert starts[0] + 1_000_000 - chunk <= starts[1] <= starts[0] + 1_000_000
    assert all("If-Range" in h for h in gets(server)[1:])
    assert any("dropped" in t or "connection" in t for t in rec.logs())


def test_restart_of_process_resumes_from_part_file(server: MirrorServer, tmp_path: Path) -> None:
    server.add_fault("big.bin", Fault(drop_after=1_500_000, times=None))
    ctx, _ = make_ctx(tmp_path / "root", fast_settings(retries=0))
    dest = ctx.downloads / "big.bin"
    with pytest.raises(SetupError) as err:
        download(ctx, server.url("big.bin"), dest, sha256=sha256(DATA))
    assert err.value.problem.code == Code.RETRIES_EXHAUSTED
    kept = dest.with_name("big.bin.part").stat().st_size
    assert 1_500_000 - ctx.settings.chunk_size <= kept <= 1_500_000
    server.clear_faults()
    server.clear_requests()
    # A new context (as after a process restart): the part is re-hashed, then resumed.
    ctx2, _ = make_ctx(tmp_path / "root")
    assert download(ctx2, server.url("big.bin"), dest, sha256=sha256(DATA)).read_bytes() == DATA
    assert [h.get("Range") for h in gets(server)] == [f"bytes={kept}-"]


def test_server_ignoring_range_restarts_cleanly(server: MirrorServer, tmp_path: Path) -> None:
    server.add_fault("big.bin", Fault(drop_after=700_000, times=1))
    server.add_fault("big.bin", Fault(ignore_range=True, times=None))
    ctx, rec = make_ctx(tmp_path / "root")
    dest = download(ctx, server.url("big.bin"), ctx.downloads / "big.bin", sha256=sha256(DATA))
    assert dest.read_bytes() == DATA
    assert any("ignored the Range" in t for t in rec.logs())


def _cut_off(server: MirrorServer, ctx: JobContext, dest: Path, after: int, sha: str | None = None) -> None:
    """A first download that the server cuts after ``after`` bytes every time (``ctx`` makes no
    retries): the part stays for the test's next attempt, and the server answers normally again."""
    server.add_fault("big.bin", Fault(drop_after=after, times=None))
    with pytest.raises(SetupError):
        download(ctx, server.url("big.bin"), dest, sha256=sha)
    server.clear_faults()


def test_etag_change_between_runs_restarts(server: MirrorServer, tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path / "root", fast_settings(retries=0))
    dest = ctx.downloads / "big.bin"
    _cut_off(server, ctx, dest, 900_000)
    new = os.urandom(len(DATA) - 5000)
    (server.docroot / "big.bin").write_bytes(new)  # the file changed upstream
    ctx2, rec = make_ctx(tmp_path / "root")
    out = download(ctx2, server.url("big.bin"), dest, sha256=sha256(new))
    assert out.read_bytes() == new
    assert any("changed upstream" in t for t in rec.logs())


def test_a_206_for_a_file_of_another_size_restarts_even_when_the_validator_still_matches(
        server: MirrorServer, tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path / "root", fast_settings(retries=0))
    dest = ctx.downloads / "big.bin"
    _cut_off(server, ctx, dest, 900_000)
    old_etag = json.loads(dest.with_name("big.bin.part.json").read_text())["etag"]
    new = os.urandom(len(DATA) + 5000)
    (server.docroot / "big.bin").write_bytes(new)  # replaced upstream, but the server still says the old ETag
    server.add_fault("big.bin", Fault(etag=old_etag, times=None))
    ctx2, rec = make_ctx(tmp_path / "root")
    out = download(ctx2, server.url("big.bin"), dest)  # no sha256 in the catalog: the size must tell
    assert out.read_bytes() == new
    assert any("changed upstream" in t for t in rec.logs())


def test_a_sign_in_page_answering_a_resume_keeps_the_part_and_says_what_came(
        server: MirrorServer, tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path / "root", fast_settings(retries=0))
    dest = ctx.downloads / "big.bin"
    _cut_off(server, ctx, dest, 1_000_000)
    part = dest.with_name("big.bin.part")
    kept = part.stat().st_size
    assert kept >= 1_000_000 - 64 * 1024
    portal = b"<!DOCTYPE html><html><head><title>Guest Wi-Fi</title></head><body>Accept the terms</body></html>"
    server.add_fault("big.bin", Fault(status=200, body=portal, content_type="text/html; charset=utf-8"))
    with pytest.raises(SetupError) as caught:
        download(ctx, server.url("big.bin"), dest, sha256=sha256(DATA))
    problem = caught.value.problem
    assert problem.code == Code.NETWORK and "web page" in problem.message and "sign in" in problem.hint
    assert part.stat().st_size == kept and part.read_bytes() == DATA[:kept]  # nothing lost, nothing added
    server.clear_requests()
    assert download(ctx, server.url("big.bin"), dest, sha256=sha256(DATA)).read_bytes() == DATA
    assert gets(server)[0]["Range"] == f"bytes={kept}-"  # the next run resumes


def test_retry_after_is_honoured(server: MirrorServer, tmp_path: Path) -> None:
    server.add_fault("big.bin", Fault(status=429, retry_after="0.2", times=2))
    ctx, rec = make_ctx(tmp_path / "root")
    out = download(ctx, server.url("big.bin"), ctx.downloads / "big.bin", sha256=sha256(DATA))
    assert out.read_bytes() == DATA
    assert [r.status for r in server.requests][:2] == [429, 429]
    assert sum("retrying in 0.2 s" in t for t in rec.logs()) == 2


def test_500s_past_the_budget_fail_and_keep_the_bytes(server: MirrorServer, tmp_path: Path) -> None:
    server.add_fault("big.bin", Fault(drop_after=400_000, times=1))
    server.add_fault("big.bin", Fault(status=500, times=None))
    ctx, _ = make_ctx(tmp_path / "root", fast_settings(retries=3))
    dest = ctx.downloads / "big.bin"
    with pytest.raises(SetupError) as err:
        download(ctx, server.url("big.bin"), dest)
    assert err.value.problem.code == Code.RETRIES_EXHAUSTED
    assert "kept" in err.value.problem.hint
    assert 400_000 - ctx.settings.chunk_size <= dest.with_name("big.bin.part").stat().st_size <= 400_000
    # The drop made progress, so the budget starts again there: it plus 3 retries of the 500s.
    assert settled_statuses(server, 4) == [200, 500, 500, 500]


def test_checksum_mismatch_names_the_file_and_keeps_bytes(server: MirrorServer, tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path / "root")
    dest = ctx.downloads / "big.bin"
    with pytest.raises(SetupError) as err:
        download(ctx, server.url("big.bin"), dest, sha256="0" * 64)
    problem = err.value.problem
    assert problem.code == Code.CHECKSUM_MISMATCH and "big.bin" in problem.message
    kept = list(ctx.quarantine.iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == DATA and str(kept[0]) in problem.hint
    assert not dest.exists()


def test_404_is_final_without_retries(server: MirrorServer, tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path / "root")
    with pytest.raises(SetupError) as err:
        download(ctx, server.url("missing.bin"), ctx.downloads / "missing.bin")
    assert err.value.problem.code == Code.HTTP_STATUS and "404" in err.value.problem.message
    assert len(gets(server)) == 1


def test_complete_part_is_finished_by_a_416(server: MirrorServer, tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path / "root")
    dest = ctx.downloads / "big.bin"
    ctx.settings.retries = 0
    _cut_off(server, ctx, dest, 1_000_000, sha256(DATA))
    # Simulate a crash between the last byte and the rename: the part holds everything.
    dest.with_name("big.bin.part").write_bytes(DATA)
    server.clear_requests()
    out = download(ctx, server.url("big.bin"), dest, sha256=sha256(DATA))
    assert out.read_bytes() == DATA
    assert settled_statuses(server, 1) == [416]


def test_a_416_without_content_range_finishes_a_part_of_the_recorded_size(server: MirrorServer,
                                                                          tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path / "root")
    dest = ctx.downloads / "big.bin"
    ctx.settings.retries = 0
    _cut_off(server, ctx, dest, 1_000_000)  # no sha256 (GQA, TextVQA, VG): nothing else to go by
    dest.with_name("big.bin.part").write_bytes(DATA)  # a crash between the last byte and the rename
    server.add_fault("big.bin", Fault(status=416))  # a server that names no size in its 416
    server.clear_requests()
    out = download(ctx, server.url("big.bin"), dest)
    assert out.read_bytes() == DATA
    assert settled_statuses(server, 1) == [416]  # not downloaded again


def test_finished_file_is_not_downloaded_again(server: MirrorServer, tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path / "root")
    dest = ctx.downloads / "big.bin"
    download(ctx, server.url("big.bin"), dest, size=len(DATA))
    server.clear_requests()
    download(ctx, server.url("big.bin"), dest, size=len(DATA))
    assert server.requests == []


def test_read_timeout_is_retried(server: MirrorServer, tmp_path: Path) -> None:
    server.add_fault("big.bin", Fault(delay=1.5, times=1))
    ctx, rec = make_ctx(tmp_path / "root", fast_settings(read_timeout=0.3))
    out = download(ctx, server.url("big.bin"), ctx.downloads / "big.bin", sha256=sha256(DATA))
    assert out.read_bytes() == DATA
    assert any("timeout" in t for t in rec.logs())


def test_stalled_transfer_reconnects(server: MirrorServer, tmp_path: Path) -> None:
    server.add_fault("big.bin", Fault(rate=200_000, times=1))
    ctx, rec = make_ctx(tmp_path / "root", fast_settings(stall_seconds=0.5, stall_bytes=1_000_000,
                                                         chunk_size=16 * 1024))
    out = download(ctx, server.url("big.bin"), ctx.downloads / "big.bin", sha256=sha256(DATA))
    assert out.read_bytes() == DATA
    assert any("stalled" in t for t in rec.logs())


def test_cancel_keeps_the_part(server: MirrorServer, tmp_path: Path) -> None:
    control = Control()
    ctx, rec = make_ctx(tmp_path / "root", fast_settings(chunk_size=16 * 1024), control=control)
    server.add_fault("big.bin", Fault(rate=2_000_000, times=None))

    original = rec.__call__

    def cancel_on_progress(event: object) -> None:
        original(event)  # type: ignore[arg-type]
        if isinstance(event, Progress) and event.done > 200_000:
            control.cancel()

    ctx._emit = cancel_on_progress  # type: ignore[method-assign]
    dest = ctx.downloads / "big.bin"
    with pytest.raises(Cancelled):
        download(ctx, server.url("big.bin"), dest)
    assert 200_000 < dest.with_name("big.bin.part").stat().st_size < len(DATA)
    assert not dest.exists()


_KILL_CHILD = """
import sys
from pathlib import Path
sys.path[:0] = [{repo!r}, {tests!r}]
from helpers import fast_settings, make_ctx
from wizard.engine.net.transfer import download
ctx, _ = make_ctx(Path({root!r}), fast_settings(segments=1, retries=50))
download(ctx, {url!r}, ctx.downloads / "big.bin")
"""


@pytest.mark.slow
def test_a_single_stream_resumes_exactly_after_kill_9(server: MirrorServer, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    root = tmp_path / "root"
    part = root / ".sharegpt4v-setup" / "downloads" / "big.bin.part"
    server.add_fault("big.bin", Fault(rate=1 << 20, times=None))  # 1 MiB/s: ~3 s for the file
    code = _KILL_CHILD.format(repo=str(repo), tests=str(repo / "tests"), root=str(root), url=server.url("big.bin"))
    errors = tmp_path / "child.err"
    with errors.open("wb") as err:
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            if part.exists() and part.stat().st_size >= 1 << 20:
                break
            time.sleep(0.02)
        assert child.poll() is None, errors.read_text()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
    kept = part.stat().st_size
    assert kept >= 1 << 20 and part.read_bytes() == DATA[:kept]  # what is there is exact
    server.clear_faults()
    server.clear_requests()
    ctx, _ = make_ctx(root)
    assert download(ctx, server.url("big.bin"), ctx.downloads / "big.bin", sha256=sha256(DATA)).read_bytes() == DATA
    assert [h.get("Range") for h in gets(server)] == [f"bytes={kept}-"]  # nothing on disk fetched again


def test_a_body_compressed_against_identity_is_taken_whole_not_cut_off(tmp_path: Path) -> None:
    from faultserver import FaultRule, FaultServer

    text = b'{"id": "000000000009", "conversations": []},\n' * 20_000  # ~900 KB that gzip makes ~3 KB
    with FaultServer({"/sharegpt4v.json": text}) as server:
        server.add("/sharegpt4v.json", FaultRule(gzip=True, times=None))  # ignores Accept-Encoding: identity
        ctx, _ = make_ctx(tmp_path / "root")
        dest = download(ctx, server.url("/sharegpt4v.json"), ctx.downloads / "sharegpt4v.json", sha256=sha256(text))
        assert dest.read_bytes() == text
        assert len([s for s in server.seen if s.method == "GET"]) == 1


_S3_EXPIRED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired'
               b'</Message><X-Amz-Expires>3600</X-Amz-Expires><Expires>2026-11-30T10:00:00Z</Expires></Error>')


@pytest.mark.parametrize("resumed", [False, True])
def test_an_s3_request_has_expired_403_says_the_signed_link_expired(server: MirrorServer, tmp_path: Path,
                                                                    resumed: bool) -> None:
    """Amazon S3 / CloudFront answer an expired signed link with 403 and this XML body; the
    generic "access was refused" hint did not say what happened or what to do."""
    ctx, _ = make_ctx(tmp_path / "root", fast_settings(retries=1))
    dest = ctx.downloads / "big.bin"
    if resumed:
        server.add_fault("big.bin", Fault(drop_after=1_000_000, times=1))
    server.add_fault("big.bin", Fault(status=403, body=_S3_EXPIRED, content_type="application/xml", times=None))
    with pytest.raises(SetupError) as caught:
        download(ctx, server.url("big.bin"), dest, size=len(DATA))
    problem = caught.value.problem
    assert problem.code is Code.HTTP_STATUS and "signed link has expired" in problem.message
    assert "fresh URL" in problem.hint and "--catalog" in problem.hint


def test_a_403_without_an_expiry_keeps_the_generic_hint(server: MirrorServer, tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path / "root", fast_settings(retries=1))
    server.add_fault("big.bin", Fault(status=403, body=b"<Error><Code>AccessDenied</Code><Message>Access Denied"
                                      b"</Message></Error>", content_type="application/xml", times=None))
    with pytest.raises(SetupError) as caught:
        download(ctx, server.url("big.bin"), ctx.downloads / "big.bin", size=len(DATA))
    assert "expired" not in caught.value.problem.message and "Access was refused" in caught.value.problem.hint
