"""Many small files (OCR-VQA): kept-alive connections, batched journal writes that survive kill -9,
and a worker count that follows the ramp (its decisions are tested on an injected clock in
test_segments/test_net_policy; here: the workers obey it) and backs off on 429s."""

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
from helpers import CountingCondition, fast_settings, make_ctx, wait_for
from test_sources_ocrvqa import _bind, _ocr_catalog, _ocr_world, image_gets

from wizard.demo import MirrorServer
from wizard.demo.server import Fault
from wizard.engine.catalog import load_catalog
from wizard.engine.journal import Journal
from wizard.engine.net.ratelimit import HostGate
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
        self.active = 0
        self.started: list[int] = []  # requests in flight as each GET arrives (itself included)
        self.delay = 0.0
        self.hold: threading.Event | None = None  # when set here: every GET waits for it
        self.waiting = 0  # GETs waiting for ``hold`` now

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
            srv.active += 1
            srv.started.append(srv.active)
            throttled = srv.gets <= srv.throttle
        try:
            if srv.hold is not None:
                with srv.lock:
                    srv.waiting += 1
                srv.hold.wait()
                with srv.lock:
                    srv.waiting -= 1
            if srv.delay:
                time.sleep(srv.delay)  # a slow host, so that workers overlap
            self._answer(srv, throttled)
        finally:
            with srv.lock:
                srv.active -= 1

    def _answer(self, srv: _Counting, throttled: bool) -> None:
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


def test_429s_are_retried_and_cut_the_hosts_connections(tmp_path: Path, counting: _Counting,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cuts: list[int | None] = []
    original = HostGate.throttled

    def spy(self: HostGate) -> int | None:
        cuts.append(original(self))
        return cuts[-1]

    monkeypatch.setattr(HostGate, "throttled", spy)
    counting.throttle = 6
    ctx, keys = _fetch_all(tmp_path, counting, 40, ocr_workers=8, ocr_max_workers=8, ocr_retries=8)
    assert ctx.journal.items_counts("ocr-vqa") == {"saved": len(keys)}
    assert len(cuts) == 6 and all(c is not None and c < 8 for c in cuts)  # each 429 told the host's gate


class ScriptedRamp:
    """Two workers until 40 images are done, then six."""

    ceiling = 6

    def __init__(self) -> None:
        self.target = 2
        self.fed: list[int] = []

    def update(self, done: int) -> int:
        self.fed.append(done)
        self.target = 2 if done < 40 else 6
        return self.target


def test_the_workers_follow_the_ramp(tmp_path: Path, counting: _Counting, monkeypatch: pytest.MonkeyPatch) -> None:
    ramp = ScriptedRamp()
    monkeypatch.setattr(ocrvqa, "make_ramp", lambda settings: ramp)
    counting.delay = 0.01
    ctx, keys = _fetch_all(tmp_path, counting, 160)
    assert ctx.journal.items_counts("ocr-vqa") == {"saved": len(keys)}
    assert ramp.fed == list(range(1, len(keys) + 1))  # told of every image done
    assert max(counting.started[:40]) <= 2  # until 40 were done, two workers at most
    assert max(counting.started) <= 6 and max(counting.started[40:]) > 2  # then up to six
    assert counting.connections <= 6


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


class FallingRamp(ScriptedRamp):
    """Six workers, then back to two for good (a ramp whose last increase did not pay)."""

    def __init__(self) -> None:
        super().__init__()
        self.target = 6

    def update(self, done: int) -> int:
        self.fed.append(done)
        self.target = 6 if done < 20 else 2
        return self.target


def test_workers_above_a_lowered_target_end_with_the_batch(tmp_path: Path, counting: _Counting,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ramp = FallingRamp()
    monkeypatch.setattr(ocrvqa, "make_ramp", lambda settings: ramp)
    ctx, keys = _fetch_all(tmp_path, counting, 60)  # returns: the four idle workers did not wait forever
    assert ctx.journal.items_counts("ocr-vqa") == {"saved": len(keys)}
    assert max(counting.started[30:]) <= 2


def test_workers_waiting_their_turn_leave_as_soon_as_the_list_is_done(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker that finds the list empty wakes the others: the batch does not end a look
    (``Crew.LOOK``) later. With the look made an hour, the crew still ends at once."""
    from wizard.engine.control import Control
    from wizard.engine.net.ratelimit import NetShared
    from wizard.engine.sources.ocrfetch import Crew, Fetcher

    monkeypatch.setattr(Crew, "LOOK", 3600.0)
    settings = fast_settings()
    stop = threading.Event()
    fetcher = Fetcher(settings, Control(), NetShared(None), tmp_path / "t", tmp_path / "tmp", stop, per_host=4)
    items = [(f"k{n}", "") for n in range(5)]  # no URL: a dead link at once, no network
    lock = threading.Lock()
    crew: Crew

    def take() -> tuple[str, str] | None:
        if len(items) == 5:  # the first image goes once the three others wait their turn
            wait_for(lambda: crew.turn.waiting >= 3)
        with lock:
            return items.pop(0) if items else None

    results: list[tuple[str, str]] = []
    crew = Crew(fetcher, take, lambda key, status, http, detail: results.append((key, status)),
                lambda: bool(items), lambda exc: None, target=1)  # one works, three wait their turn
    crew.turn = CountingCondition()
    runner = threading.Thread(target=crew.run, args=(4,), daemon=True)
    runner.start()
    runner.join(60)  # a hang guard: without the wake-up the three wait an hour
    assert not runner.is_alive()
    assert sorted(results) == [(f"k{n}", "dead") for n in range(5)]

