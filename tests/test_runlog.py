"""The run log (wizard.engine.runlog), --verbose, and stopping a run: signals and a stalled link."""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers import Recorder, fast_settings, make_ctx

from wizard.cli import main
from wizard.demo.world import dumps_toml
from wizard.engine import runlog as runlog_mod
from wizard.engine.control import Control
from wizard.engine.errors import Cancelled
from wizard.engine.events import Log, Stage, StageChanged
from wizard.engine.runlog import KEEP, RunLog, redact
from wizard.engine.sources import http

TOKEN = "hf_" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB"


def run_logs(root: Path) -> list[Path]:
    return sorted((root / ".sharegpt4v-setup" / "logs").glob("run-*.log"))


# -- redaction ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "secret"), [
    ("GET https://scontent.example/v/sa_000020.tar?_nc_cat=1&oh=00_abcdef&oe=699024E8 -> 403", "oh=00_abcdef"),
    ("headers {'Authorization': 'Bearer hf_secretsecretsecret', 'X': '1'}", "hf_secretsecretsecret"),
    ("authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("sent Bearer abc.def.ghi to the server", "abc.def.ghi"),
    (f"--hf-token {TOKEN}", TOKEN[3:]),
])
def test_redact_removes_secrets_and_keeps_the_rest(text: str, secret: str) -> None:
    clean = redact(text)
    assert secret not in clean
    assert "<redacted>" in clean
    assert clean.split()[0] == text.split()[0]  # the line still says what happened


def test_redact_keeps_urls_without_a_query() -> None:
    line = "GET http://127.0.0.1:8080/coco/train2017.zip -> 206; range bytes=100-"
    assert redact(line) == line


# -- the file, the feed and rotation -----------------------------------------------------------------
def test_a_run_log_gets_records_events_and_feeds_the_observer(tmp_path: Path) -> None:
    rec = Recorder()
    engine_log = logging.getLogger("wizard.engine.sometest")
    with RunLog(tmp_path, rec) as runlog:
        runlog.emit(StageChanged("coco", Stage.DOWNLOADING, "train2017.zip"))
        engine_log.warning("listing https://x.example/f?token=%s failed", TOKEN)
        engine_log.info("GET http://127.0.0.1/a.zip -> 206")
    text = runlog.path.read_text(encoding="utf-8") if runlog.path else ""
    assert "[coco] stage downloading: train2017.zip" in text
    assert "listing https://x.example/f?<redacted> failed" in text
    assert "GET http://127.0.0.1/a.zip -> 206" in text  # INFO: in the file...
    assert TOKEN not in text
    fed = [e.text for e in rec.events if isinstance(e, Log)]
    assert "listing https://x.example/f?<redacted> failed" in fed  # ...the same warning reaches the observer
    assert not any("a.zip" in t for t in fed)  # ...requests (INFO) only with verbose
    assert not any("stage downloading" in t for t in fed)  # events are not fed back to the observer
    assert not logging.getLogger("wizard").handlers  # detached afterwards


def test_verbose_feeds_debug_records(tmp_path: Path) -> None:
    rec = Recorder()
    with RunLog(tmp_path, rec, verbose=True):
        logging.getLogger("wizard.engine.requests").debug("GET http://127.0.0.1/a.zip?sig=1 -> 206")
    assert [(e.level, e.text) for e in rec.events if isinstance(e, Log)] == [
        ("debug", "GET http://127.0.0.1/a.zip?<redacted> -> 206")]


def test_only_the_last_logs_are_kept(tmp_path: Path) -> None:
    folder = tmp_path / ".sharegpt4v-setup" / "logs"
    folder.mkdir(parents=True)
    for n in range(KEEP + 5):
        (folder / f"run-20200101-0000{n:02d}-000000.log").write_text("old")
    with RunLog(tmp_path, Recorder()) as runlog:
        pass
    logs = run_logs(tmp_path)
    assert len(logs) == KEEP
    assert runlog.path in logs and (folder / "run-20200101-000000-000000.log") not in logs


def test_an_unwritable_log_folder_does_not_stop_the_run(tmp_path: Path) -> None:
    (tmp_path / ".sharegpt4v-setup").mkdir()
    (tmp_path / ".sharegpt4v-setup" / "logs").write_text("a file where the folder should be")
    rec = Recorder()
    with RunLog(tmp_path, rec) as runlog:
        runlog.emit(Log("info", "still running"))
    assert runlog.path is None
    assert any(isinstance(e, Log) and "cannot write the run log" in e.text for e in rec.events)
    assert any(isinstance(e, Log) and e.text == "still running" for e in rec.events)


def test_a_link_planted_at_the_log_files_name_is_not_written_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    moment = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Frozen:
            return cls.fromtimestamp(moment.timestamp(), tz)

    monkeypatch.setattr(runlog_mod, "datetime", Frozen)  # the clock, so that the name is known
    folder = tmp_path / "root" / ".sharegpt4v-setup" / "logs"
    folder.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (folder / "run-20300102-030405-678901.log").symlink_to(victim)
    with RunLog(tmp_path / "root", Recorder()) as runlog:
        logging.getLogger("wizard.engine.sometest").warning("written somewhere")
    assert victim.read_text() == "precious\n"
    assert runlog.path is not None and not runlog.path.is_symlink()
    assert "written somewhere" in runlog.path.read_text(encoding="utf-8")


class _FullDisk(io.StringIO):
    """A stream on a disk that has just filled: every write and flush fails with ENOSPC."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_log_file_on_a_disk_that_fills_is_dropped_with_one_warning_and_no_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = Recorder()
    engine_log = logging.getLogger("wizard.engine.sometest")
    with RunLog(tmp_path, rec) as runlog:
        assert runlog._file is not None
        runlog._file.stream.close()
        runlog._file.stream = _FullDisk()  # the disk fills while the run goes on
        for n in range(3):
            engine_log.warning("record %d", n)
            runlog.emit(Log("info", f"still running {n}"))
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err
    dropped = [e for e in rec.events if isinstance(e, Log) and "run log" in e.text]
    assert len(dropped) == 1 and "No space left on device" in dropped[0].text
    assert [e.text for e in rec.events if isinstance(e, Log) and e.text.startswith("still running")] == [
        "still running 0", "still running 1", "still running 2"]
    assert not logging.getLogger("wizard").handlers  # detached afterwards, the close did not raise


# -- a demo run ------------------------------------------------------------------------------------
def test_a_demo_run_logs_its_requests_and_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "demo"
    assert main(["run", "--demo", "--root", str(root), "--yes", "--verbose", "--hf-token", TOKEN]) == 0
    shown = capsys.readouterr()
    terminal = shown.out + shown.err
    logs = run_logs(root)
    assert len(logs) == 1
    text = logs[0].read_text(encoding="utf-8")
    requests_lines = [line for line in text.splitlines() if " wizard.engine.net.requests " in line]
    assert any(re.search(r"GET http://127\.0\.0\.1:\d+/\S+ range=- -> 200", line) for line in requests_lines)
    assert any("HEAD http://127.0.0.1" in line for line in requests_lines)  # Hub metadata
    assert any(re.search(r"GET http://127\.0\.0\.1:\d+/sam/sa_\d+\.tar range=", line)
               for line in requests_lines)  # the signed links, without their query
    assert re.search(r"\[json-\w+\] stage downloading", text)
    assert "run finished" in text
    assert TOKEN not in text and TOKEN[3:] not in text
    assert "oh=00_" not in text and "_nc_sid" not in text and "oe=" not in text
    assert "Bearer" not in text or "Bearer <redacted>" in text
    # --verbose shows the same request records on the terminal, redacted the same way
    assert re.search(r"GET http://127\.0\.0\.1:\d+/sam/sa_\d+\.tar range=- -> 200", terminal)
    assert TOKEN not in terminal and "oh=00_" not in terminal


# -- stopping: a server that stalls mid-file -------------------------------------------------------
#: The client writes whole chunks (1 MiB by default): the stall comes after one chunk and a bit.
CHUNK = 1 << 20
IMAGES = 30


def _coco_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for n in range(IMAGES):
            zf.writestr(f"train2017/{n:012d}.jpg", b"\xff\xd8\xff\xe0" + os.urandom(50_000) + b"\xff\xd9")
    return buf.getvalue()


class StallServer:
    """Serves one file on 127.0.0.1. While ``stall`` is set, a GET gets the headers and the first
    ``head`` bytes, then nothing (the connection stays open); otherwise it honours Range."""

    def __init__(self, data: bytes, head: int = CHUNK + 10_000) -> None:
        self.data, self.head = data, head
        self.etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        self.stall = threading.Event()
        self.stall.set()
        self.release = threading.Event()
        self.client_closed = threading.Event()
        self.stalling = threading.Event()  # the head and the body's start are sent; nothing more comes
        self.ranges: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.ranges.append(self.headers.get("Range"))
                start = 0
                match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
                if match and self.headers.get("If-Range") in (None, server.etag):
                    start = int(match.group(1))
                body = server.data[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(server.data) - 1}/{len(server.data)}")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", server.etag)
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if not server.stall.is_set():
                    self.wfile.write(body)
                    return
                self.wfile.write(body[: server.head])
                self.wfile.flush()
                self.connection.settimeout(0.2)
                server.stalling.set()
                while not server.release.is_set():  # stall; notice when the client hangs up
                    try:
                        if self.connection.recv(1) == b"":
                            server.client_closed.set()
                            return
                    except TimeoutError:
                        continue
                    except OSError:
                        server.client_closed.set()
                        return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/train2017.zip"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> StallServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def coco() -> bytes:
    return _coco_zip()


@pytest.fixture
def stall_server(coco: bytes) -> Iterator[StallServer]:
    with StallServer(coco) as server:
        yield server


def test_cancel_on_a_stalled_link_cuts_the_connection(tmp_path: Path, stall_server: StallServer,
                                                      coco: bytes) -> None:
    """The read timeout is a minute; the cancel token shuts the socket the worker waits on."""
    ctx, _rec = make_ctx(tmp_path / "root", settings=fast_settings(read_timeout=60.0, stall_seconds=120.0,
                                                                   retries=50, chunk_size=64 * 1024))
    dest = ctx.downloads / "train2017.zip"
    part = dest.with_name("train2017.zip.part")
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            http.download(ctx, stall_server.url, dest, size=len(coco))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    deadline = time.monotonic() + 30
    while not (part.exists() and part.stat().st_size >= CHUNK):
        assert time.monotonic() < deadline, "the download never started"
        time.sleep(0.01)
    assert ctx.control.cancel_hooks == 1  # the blocked read is registered with the cancel token
    ctx.control.cancel()
    worker.join(timeout=15)  # generous; without the hook it would wait for the 60 s read timeout
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    assert stall_server.client_closed.wait(5), "the client hung up"
    assert part.stat().st_size == CHUNK  # the bytes written so far are kept for a resume
    assert ctx.control.cancel_hooks == 0
    assert stall_server.ranges == [None]  # cancelled: no retry


def test_a_cancel_hook_runs_at_once_when_already_cancelled() -> None:
    control = Control()
    control.cancel()
    calls: list[int] = []
    with control.on_cancel(lambda: calls.append(1)):
        assert calls == [1]
    assert control.cancel_hooks == 0


def _one_component_catalog(tmp_path: Path, url: str, data: bytes) -> Path:
    from wizard.paths import default_catalog_path

    raw = tomllib.loads(default_catalog_path().read_text())
    comp = next(c for c in raw["component"] if c["id"] == "coco-train2017")
    comp["source"] = [{"kind": "http", "label": "test", "url": url, "size": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()}]
    raw["component"] = [comp]
    raw["preset"] = []
    path = tmp_path / "one.toml"
    path.write_text(dumps_toml(raw))
    return path


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_like_ctrl_c_and_the_run_resumes(tmp_path: Path, stall_server: StallServer,
                                                                  coco: bytes, signum: signal.Signals) -> None:
    cat = _one_component_catalog(tmp_path, stall_server.url, coco)
    root = tmp_path / "root"
    part = root / ".sharegpt4v-setup/downloads/train2017.zip.part"
    args = ["run", "--catalog", str(cat), "--root", str(root), "--components", "coco-train2017", "--yes", "--quiet"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost"}
    proc = subprocess.Popen([sys.executable, "-m", "wizard", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size >= CHUNK):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never got to the stalled read"
            time.sleep(0.02)
        os.kill(proc.pid, signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    name = signal.Signals(signum).name
    assert proc.returncode == 130, (out, err)
    assert f"Stopping ({name})" in err.decode()
    assert part.stat().st_size == CHUNK  # kept
    log_text = run_logs(root)[-1].read_text(encoding="utf-8")
    assert f"{name} received" in log_text and "[coco-train2017] stage cancelled" in log_text
    stall_server.stall.clear()
    assert main(args) == 0  # the same command resumes
    assert stall_server.ranges[-1] == f"bytes={CHUNK}-"
    assert len(list((root / "coco/train2017").iterdir())) == IMAGES
    resumed = run_logs(root)[-1].read_text(encoding="utf-8")
    assert f"range=bytes={CHUNK}- -> 206 content-range=bytes {CHUNK}-" in resumed  # requests: status and range


def test_a_run_under_nohup_keeps_going_when_the_terminal_closes(tmp_path: Path, stall_server: StallServer,
                                                                coco: bytes) -> None:
    """``nohup`` ignores SIGHUP so that the run outlives the SSH session: the run keeps it ignored
    (it stops on SIGTERM, sent after, and only on that)."""
    cat = _one_component_catalog(tmp_path, stall_server.url, coco)
    root = tmp_path / "root"
    part = root / ".sharegpt4v-setup/downloads/train2017.zip.part"
    args = ["run", "--catalog", str(cat), "--root", str(root), "--components", "coco-train2017", "--yes", "--quiet"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost"}

    def like_nohup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = subprocess.Popen([sys.executable, "-m", "wizard", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, preexec_fn=like_nohup)
    try:
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size >= CHUNK):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never got to the stalled read"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGHUP)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert "Stopping (SIGTERM)" in err.decode()
    assert "SIGHUP" not in err.decode()
    assert "SIGHUP" not in run_logs(root)[-1].read_text(encoding="utf-8")


def test_a_file_larger_than_the_filesystem_allows_says_so(tmp_path: Path, stall_server: StallServer,
                                                          coco: bytes) -> None:
    """A write past the largest file the filesystem holds (FAT32: 4 GiB; here the process's
    RLIMIT_FSIZE, which fails writes the same way, with EFBIG) names the limit, not a disk to check."""
    import resource

    stall_server.stall.clear()
    cat = _one_component_catalog(tmp_path, stall_server.url, coco)
    root = tmp_path / "root"
    args = ["run", "--catalog", str(cat), "--root", str(root), "--components", "coco-train2017", "--yes", "--quiet"]
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    limit = len(coco) // 2

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run([sys.executable, "-m", "wizard", *args], capture_output=True, env=env,
                          preexec_fn=small_files, timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "[io-error]" in err and "larger than the filesystem" in err and "FAT32" in err, err
    assert "dmesg" not in err and "Traceback" not in err


def test_cancel_on_a_stalled_image_host_is_not_a_dead_link(tmp_path: Path) -> None:
    """OCR-VQA images: the same cancel hook; the image stays to do, not recorded dead."""
    from wizard.engine.net.keepalive import KeepAlive
    from wizard.engine.sources.ocrfetch import Fetcher

    body = b"\xff\xd8\xff\xe0" + os.urandom(200_000)
    with StallServer(body, head=64 * 1024 + 10_000) as server:
        ctx, _rec = make_ctx(tmp_path / "root", job="ocr-vqa",
                             settings=fast_settings(read_timeout=60.0, ocr_retries=0))
        target = tmp_path / "root" / "ocr_vqa" / "images"
        target.mkdir(parents=True)
        tmp = ctx.downloads / "ocr-vqa-tmp"
        tmp.mkdir()
        fetcher = Fetcher(ctx.settings, ctx.control, ctx.net, target, tmp, threading.Event(), per_host=1)
        outcome: list[object] = []

        def work() -> None:
            pool = KeepAlive(5.0, 60.0)
            try:
                with ctx.control.on_cancel(pool.abort):  # what each worker of the batch (Crew) does
                    outcome.append(fetcher.one(pool, "123", server.url))
            except BaseException as exc:
                outcome.append(exc)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        # asked: the answer's head and the body's start come, then nothing (a cancel before the head
        # is sent would shut the socket under the server's write, and it would never see the hang-up)
        deadline = time.monotonic() + 30
        while not server.stalling.wait(0.01):
            assert time.monotonic() < deadline and worker.is_alive(), outcome
        ctx.control.cancel()
        worker.join(timeout=15)  # generous: the read timeout is a minute
        assert not worker.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], Cancelled), outcome  # ocr_retries=0: else "dead"
        assert server.client_closed.wait(5)
        assert not (target / "123.jpg").exists()
