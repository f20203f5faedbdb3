"""Many small files (OCR-VQA): kept-alive connections, batched journal writes that survive kill -9,
and a worker count that follows the throughput (decisions on an injected clock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers import fast_settings, make_ctx
from test_sources_ocrvqa import _bind, _ocr_catalog, _ocr_world, image_gets

from wizard.demo import MirrorServer
from wizard.demo.server import Fault
from wizard.engine import adaptive
from wizard.engine.adaptive import WorkerLimit
from wizard.engine.catalog import load_catalog
from wizard.engine.journal import Journal
from wizard.engine.sources import ocrvqa


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- a loopback server that counts connections -----------------------------------------------
class _Counting(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, docroot: Path, throttle: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _CountingHandler)
        self.docroot = docroot
        self.lock = threading.Lock()
        self.connections = 0
        self.gets = 0
        self.throttle = throttle  # answer the first N GETs with 429

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _CountingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Counting

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        with srv.lock:
            srv.gets += 1
            throttled = srv.gets <= srv.throttle
        path = srv.docroot / self.path.lstrip("/")
        if self.path.startswith("/moved/"):  # a redirect to the same host, as image CDNs do
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/moved"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if throttled:
            status, body = 429, b"slow down"
        elif path.is_file():
            status, body = 200, path.read_bytes()
        else:
            status, body = 404, b"not here"
        self.send_response(status)
        if throttled:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def counting(tmp_path: Path) -> Iterator[_Counting]:
    docroot = tmp_path / "doc"
    docroot.mkdir(exist_ok=True)
    srv = _Counting(docroot)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _fetch_all(tmp_path: Path, images: _Counting, count: int, **settings: Any) -> tuple[Any, list[str]]:
    docroot, keys = _ocr_world(tmp_path, count)
    images.docroot = docroot
    with MirrorServer(docroot) as drive:
        _bind(docroot, keys, images.base_url)
        catalog = load_catalog(_ocr_catalog(tmp_path, drive.base_url))
        comp = catalog.component("ocr-vqa")
        ctx, _ = make_ctx(tmp_path / "root", fast_settings(**settings), job="ocr-vqa")
        list(ocrvqa.fetch(ctx, comp, comp.sources[0], catalog))
    return ctx, keys


def test_each_worker_keeps_its_connection_alive(tmp_path: Path, counting: _Counting) -> None:
    ctx, keys = _fetch_all(tmp_path, counting, 300, ocr_workers=4, ocr_max_workers=4)
    assert ctx.journal.items_counts("ocr-vqa") == {"saved": len(keys)}
    assert counting.gets == len(keys)
    assert counting.connections <= 4  # one per worker, reused from image to image
    images = tmp_path / "root/ocr_vqa/images"
    assert sorted(os.listdir(images)) == sorted(f"{k}.jpg" for k in keys)


def test_redirects_are_followed(tmp_path: Path, counting: _Counting) -> None:
    docroot, keys = _ocr_world(tmp_path, 20)
    counting.docroot = docroot
    with MirrorServer(docroot) as drive:
        _bind(docroot, keys, counting.base_url + "/moved")
        catalog = load_catalog(_ocr_catalog(tmp_path, drive.base_url))
        comp = catalog.component("ocr-vqa")
        ctx, _ = make_ctx(tmp_path / "root", fast_settings(ocr_workers=2, ocr_max_workers=2), job="ocr-vqa")
        list(ocrvqa.fetch(ctx, comp, comp.sources[0], catalog))
    assert ctx.journal.items_counts("ocr-vqa") == {"saved": len(keys)}
    assert counting.gets == 2 * len(keys)  # the redirect, then the image
    images = tmp_path / "root/ocr_vqa/images"
    assert all((images / f"{k}.jpg").read_bytes() == (docroot / f"amazon/images/I/{k}.jpg").read_bytes()
               for k in keys)


def test_429s_are_retried_and_cut_the_workers(tmp_path: Path, counting: _Counting,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cuts: list[int] = []
    original = WorkerLimit.throttled

    def spy(self: WorkerLimit) -> None:
        original(self)
        cuts.append(self.limit)

    monkeypatch.setattr(WorkerLimit, "throttled", spy)
    counting.throttle = 6
    ctx, keys = _fetch_all(tmp_path, counting, 40, ocr_workers=8, ocr_max_workers=8, ocr_retries=8)
    assert ctx.journal.items_counts("ocr-vqa") == {"saved": len(keys)}
    assert cuts and cuts[0] == 4 and min(cuts) >= 1  # 8 -> 4 at the first 429s


# -- the batch API of the journal --------------------------------------------------------------
def test_items_batch_commits_per_rows_or_per_time(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.items_add("j", [(f"k{i}", "") for i in range(10)])
    clock = Clock()
    batch = journal.items_batch("j", rows=4, seconds=0.2, clock=clock)
    for i in range(3):
        batch.add(f"k{i}", "saved", 200, "JPEG")
    assert batch.commits == 0 and journal.items_counts("j") == {"todo": 10}  # nothing committed yet
    batch.add("k3", "dead", 404, "HTTP 404")  # the 4th row: one transaction
    assert batch.commits == 1 and journal.items_counts("j") == {"saved": 3, "dead": 1, "todo": 6}
    batch.add("k4", "saved", 200, "JPEG")
    clock.now += 0.25  # 250 ms later the next change commits whatever is buffered
    batch.add("k5", "saved", 200, "JPEG")
    assert batch.commits == 2 and journal.items_counts("j")["saved"] == 5
    batch.add("k6", "saved", 200, "JPEG")
    assert batch.pending == 1
    batch.flush()
    assert batch.pending == 0 and journal.items_counts("j") == {"saved": 6, "dead": 1, "todo": 3}
    journal.close()


# -- kill -9 with batched writes ----------------------------------------------------------------
_CHILD = """
import sys
from wizard.engine.sources import ocrvqa
ocrvqa.BATCH_ROWS = {rows}
from wizard.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_kill_9_redoes_at_most_one_batch(tmp_path: Path) -> None:
    rows = 8
    docroot, keys = _ocr_world(tmp_path, 400)
    for key in keys[::2]:  # half the links are dead: only dead links can be redone (files are found)
        (docroot / f"amazon/images/I/{key}.jpg").unlink()
    root = tmp_path / "root"
    with MirrorServer(docroot) as srv:
        _bind(docroot, keys, srv.base_url)
        cat = _ocr_catalog(tmp_path, srv.base_url)
        srv.add_fault("/amazon/", Fault(delay=0.02, times=None))
        args = ["run", "--catalog", str(cat), "--root", str(root), "--components", "ocr-vqa", "--yes", "--quiet"]
        proc = subprocess.Popen([sys.executable, "-c", _CHILD.format(rows=rows), *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(image_gets(srv)) < 150:
            assert proc.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        first = set(image_gets(srv))
        srv.clear_faults()
        srv.clear_requests()
        proc = subprocess.run([sys.executable, "-c", _CHILD.format(rows=rows), *args], check=False,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert proc.returncode == 0
        second = set(image_gets(srv))
    redone = first & second
    in_flight = fast_settings().ocr_max_workers  # requests under way at the kill were not done yet
    assert len(first) >= 150 and len(redone) <= rows + in_flight
    assert {Path(p).stem for p in first | second} == set(keys)  # every image asked for, none skipped
    status = Journal(root).items_counts("ocr-vqa")
    assert status == {"saved": len(keys) // 2, "dead": len(keys) // 2}


# -- the worker count, on an injected clock ----------------------------------------------------
def _window(limit: WorkerLimit, clock: Clock, items: int, *, busy: bool = True) -> None:
    """One second of work: ``items`` finished, with every slot taken at some point if ``busy``."""
    held = limit.limit if busy else 1
    for _ in range(held):
        assert limit.acquire()
    for _ in range(held):
        limit.release(0)
    for _ in range(items):
        assert limit.acquire()
        limit.release()
    clock.now += 1.0
    limit.tick()


def test_workers_grow_while_throughput_rises_and_step_back_when_it_stops() -> None:
    clock = Clock()
    limit = WorkerLimit(8, ceiling=32, clock=clock)
    _window(limit, clock, 800)
    assert limit.limit == 10  # busy and productive: a quarter more
    _window(limit, clock, 1000)  # +25 %: it paid off, try more
    assert limit.limit == 12
    _window(limit, clock, 1010)  # +1 %: no better, back to 10 and hold
    assert limit.limit == 10
    for _ in range(adaptive.HOLD_WINDOWS):
        _window(limit, clock, 1000)
        assert limit.limit == 10
    _window(limit, clock, 1000)  # after the hold it probes again
    assert limit.limit == 12


def test_workers_do_not_grow_when_they_are_not_all_busy() -> None:
    clock = Clock()
    limit = WorkerLimit(8, ceiling=32, clock=clock)
    for _ in range(3):
        _window(limit, clock, 100, busy=False)
    assert limit.limit == 8


def test_a_429_halves_the_workers_and_holds() -> None:
    clock = Clock()
    limit = WorkerLimit(16, ceiling=32, clock=clock)
    limit.throttled()
    assert limit.limit == 8
    limit.throttled()  # the other answers of the same moment: no further cut
    assert limit.limit == 8
    clock.now += 1.0
    limit.throttled()
    assert limit.limit == 4
    for _ in range(adaptive.THROTTLE_HOLD_WINDOWS):
        _window(limit, clock, 1000)
        assert limit.limit == 4
    _window(limit, clock, 1000)
    assert limit.limit == 5
    for _ in range(10):
        clock.now += 1.0
        limit.throttled()
    assert limit.limit == 1  # never below one


def test_the_limit_caps_concurrent_slots() -> None:
    clock = Clock()
    limit = WorkerLimit(2, ceiling=4, clock=clock)
    assert limit.acquire() and limit.acquire()
    stop = threading.Event()
    stop.set()
    assert limit.acquire(stop) is False  # full: only a stop gets out of the wait
    limit.release()
    assert limit.acquire(threading.Event())
