"""OCR-VQA images on two processes (sources/ocrsplit.py): the second process takes a share of the
images, the run's process alone journals; the same files and journal as in one process; resume
after a kill -9 of the run; a 429 to either process cuts both host gates; cancel and pause reach
the second process; a second process that dies (or never starts) loses nothing and hangs nothing.
All against servers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import CountingCondition, Recorder, fast_settings, make_ctx, wait_for
from test_smallfiles import _Counting
from test_sources_ocrvqa import _bind, _ocr_catalog, _ocr_world, image_gets

from wizard.demo import MirrorServer
from wizard.demo.server import Fault
from wizard.engine import helper
from wizard.engine.catalog import load_catalog
from wizard.engine.control import Control
from wizard.engine.errors import Cancelled
from wizard.engine.journal import Journal
from wizard.engine.net.ratelimit import NetShared
from wizard.engine.settings import Settings
from wizard.engine.sources import ocrsplit, ocrvqa

GIF_1X1 = b"GIF89a\x01\x00\x01\x00" + bytes(33)  # a 1x1 GIF of 43 bytes, as Amazon serves


class FrozenClock:
    """A monotonic clock that stands still: a cut host gate never grows back during the test."""

    def __call__(self) -> float:
        return 1000.0


@pytest.fixture
def partners(monkeypatch: pytest.MonkeyPatch) -> list[ocrsplit.Partner]:
    """Every batch of at least one image takes a second process; the partners made are listed."""
    made: list[ocrsplit.Partner] = []

    class Spy(ocrsplit.Partner):
        """Started before the batch goes on: which images it gets first is then known (the first
        ``WINDOW`` of the list), not a matter of its start-up time."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)
            wait_for(lambda: self.ready or not self.alive)

    monkeypatch.setattr(ocrsplit, "Partner", Spy)
    monkeypatch.setattr(ocrsplit, "MIN_IMAGES", 1)
    monkeypatch.setattr(helper, "allowed", lambda: True)  # (also where the GUI tests loaded Qt)
    return made


def _mixed_world(tmp_path: Path, count: int) -> tuple[Path, list[str]]:
    """``count`` images: most JPEGs, some missing (404), some 1x1 placeholders, some HTML pages."""
    docroot, keys = _ocr_world(tmp_path, count)
    for n, key in enumerate(keys):
        path = docroot / f"amazon/images/I/{key}.jpg"
        if n % 9 == 4:
            path.unlink()
        elif n % 11 == 5:
            path.write_bytes(GIF_1X1)
        elif n % 13 == 6:
            path.write_bytes(b"<!DOCTYPE html><html><body>no such image</body></html>" * 3)
    return docroot, keys


def _fetch(tmp_path: Path, srv: Any, name: str, settings: Settings, *, control: Control | None = None,
           net: NetShared | None = None) -> tuple[Any, Recorder]:
    catalog = load_catalog(_ocr_catalog(tmp_path, srv.base_url))
    comp = catalog.component("ocr-vqa")
    ctx, rec = make_ctx(tmp_path / name, settings, job="ocr-vqa", control=control, net=net)
    list(ocrvqa.fetch(ctx, comp, comp.sources[0], catalog))
    return ctx, rec


def _files(root: Path) -> dict[str, bytes]:
    folder = root / "ocr_vqa/images"
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _rows(root: Path) -> list[tuple[Any, ...]]:
    journal = Journal(root)
    try:
        return sorted((k, s, h, d) for k, _u, s, h, d in journal.items("ocr-vqa"))
    finally:
        journal.close()


def _answers(partner: ocrsplit.Partner) -> int:
    return sum(partner.stats.get("answers", {}).values())


def test_how_many_processes_fetch() -> None:
    many = ocrsplit.MIN_IMAGES
    two = 2 if helper.allowed() else 1
    assert ocrsplit.processes(Settings(), many, False) == two
    assert ocrsplit.processes(Settings(ocr_processes=3), many, False) == (3 if two == 2 else 1)
    assert ocrsplit.processes(Settings(), many - 1, False) == 1  # small: the start-up is not worth it
    assert ocrsplit.processes(Settings(), many, True) == 1  # a bandwidth limit bounds the speed
    assert ocrsplit.processes(Settings(ocr_processes=1), many, False) == 1
    assert ocrsplit.processes(Settings(ocr_max_workers=1, ocr_workers=1), many, False) == 1
    assert ocrsplit.processes(Settings(ocr_per_host=1), many, False) == 1  # no slot left for the second
    assert ocrsplit.shares(8, 2) == [4, 4] and ocrsplit.shares(5, 2) == [3, 2] and ocrsplit.shares(1, 1) == [1]
    assert ocrsplit.shares(16, 3) == [6, 5, 5] and sum(ocrsplit.shares(7, 3)) == 7


def test_near_the_end_the_other_process_holds_few_images() -> None:
    assert ocrsplit.give_at_most(100_000) == ocrsplit.WINDOW
    assert ocrsplit.give_at_most(2 * ocrsplit.WINDOW) == ocrsplit.WINDOW
    assert ocrsplit.give_at_most(ocrsplit.WINDOW) == max(ocrsplit.LOW_WINDOW, ocrsplit.WINDOW // 2)
    assert ocrsplit.give_at_most(10) == ocrsplit.give_at_most(0) == ocrsplit.LOW_WINDOW


def test_the_end_of_the_list_wakes_the_other_process_workers_waiting_their_turn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's "end" reaches the other process's workers that wait their turn (above the
    target) at once, not a look (``Crew.LOOK``) later: with the look made an hour, they still end."""
    from wizard.engine import child
    from wizard.engine.sources.ocrfetch import Crew, Fetcher

    monkeypatch.setattr(Crew, "LOOK", 3600.0)
    read_end, write_end = os.pipe()
    sink_r, sink_w = os.pipe()
    stdin, feed, out, sink = (os.fdopen(read_end, "rb"), os.fdopen(write_end, "wb"), os.fdopen(sink_w, "wb"),
                              os.fdopen(sink_r, "rb"))
    threading.Thread(target=sink.read, daemon=True).start()  # what the run's process reads
    control = Control()
    outbox = ocrsplit._Outbox(out, 32, 0.02)
    inbox = ocrsplit._Inbox(stdin, control, outbox)
    fetcher = Fetcher(fast_settings(), control, NetShared(None), tmp_path / "t", tmp_path / "tmp",
                      threading.Event(), per_host=4)
    crew = Crew(fetcher, inbox.take, outbox.add, inbox.more, lambda exc: None, target=1)
    crew.turn = CountingCondition()
    inbox.crew = crew
    reader = threading.Thread(target=inbox.loop, daemon=True)
    reader.start()
    runner = threading.Thread(target=crew.run, args=(3,), daemon=True)
    runner.start()
    child.write_frame(feed, ("work", [("k1", ""), ("k2", "")]))  # no URL: dead links at once
    wait_for(lambda: not inbox.queue and crew.turn.waiting == 2)  # both others wait their turn
    child.write_frame(feed, ("end",))
    runner.join(60)  # a hang guard: without the wake-up the two waiting workers wait an hour
    assert not runner.is_alive()
    outbox.close()
    feed.close()  # the run's side goes: the reader ends
    reader.join(60)
    assert not reader.is_alive()
    for stream in (stdin, out, sink):
        stream.close()


@pytest.mark.parametrize("count", [2, 3])
def test_more_processes_make_the_same_files_and_journal_as_one(tmp_path: Path, partners: list[ocrsplit.Partner],
                                                               count: int) -> None:
    docroot, keys = _mixed_world(tmp_path, 400)
    with MirrorServer(docroot) as srv:
        _bind(docroot, keys, srv.base_url)
        _fetch(tmp_path, srv, "one", fast_settings(ocr_processes=1, ocr_workers=4, ocr_max_workers=4))
        assert not partners
        _fetch(tmp_path, srv, "more", fast_settings(ocr_processes=count, ocr_workers=4, ocr_max_workers=4))
    assert len(partners) == count - 1
    for partner in partners:
        assert partner.clean and partner.proc.returncode == 0
        assert _answers(partner) >= ocrsplit.WINDOW  # each did a share (its first window at least)
    one, more = tmp_path / "one", tmp_path / "more"
    assert _files(one) == _files(more)
    assert _rows(one) == _rows(more)
    statuses = {s for _k, s, _h, _d in _rows(more)}
    assert statuses == {"saved", "dead"} and len(_rows(more)) == len(keys)
    assert (one / ".sharegpt4v-setup/reports/ocr-vqa-missing.tsv").read_text() == \
        (more / ".sharegpt4v-setup/reports/ocr-vqa-missing.tsv").read_text()


@pytest.mark.parametrize("count", [2, 3])
def test_a_429_to_any_process_cuts_every_gate(tmp_path: Path, partners: list[ocrsplit.Partner],
                                              monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(ocrsplit, "WINDOW", 4)  # the other processes take a few images each, this one the rest
    docroot, keys = _ocr_world(tmp_path, 120)
    counting = _Counting(docroot, throttle=4)  # the first four GETs get a 429 (Retry-After: 0) ...
    counting.hold = threading.Event()  # ... once every worker of every process holds one (4 in all)
    threading.Thread(target=counting.serve_forever, daemon=True).start()
    net = NetShared(clock=FrozenClock())
    # (a held GET must not time out meanwhile: the third process may take seconds to start)
    settings = fast_settings(ocr_processes=count, ocr_workers=4, ocr_max_workers=4, read_timeout=60.0)
    done: list[Any] = []
    try:
        with MirrorServer(docroot) as drive:
            _bind(docroot, keys, counting.base_url)
            thread = threading.Thread(target=lambda: done.append(_fetch(tmp_path, drive, "root", settings, net=net)))
            thread.start()
            wait_for(lambda: len(partners) == count - 1 and counting.waiting == 4)
            counting.hold.set()
            thread.join(60)
    finally:
        counting.shutdown()
        counting.server_close()
    ctx, _ = done[0]
    assert ctx.journal.items_counts("ocr-vqa") == {"saved": len(keys)}
    host = counting.base_url.split("://", 1)[1]
    workers = ocrsplit.shares(4, count)  # the 429s: one per worker, in each process
    assert [p.stats["answers"].get(429) for p in partners] == workers[1:]
    # each 429 cut the gates of all the processes
    assert net.gate(host).throttles == 4
    assert [p.stats["throttles"][host] for p in partners] == [4] * (count - 1)
    assert net.gate(host).limit is not None  # cut, and on the frozen clock not grown back


def test_cancel_reaches_the_second_process_and_the_next_run_finishes(
        tmp_path: Path, partners: list[ocrsplit.Partner]) -> None:
    docroot, keys = _ocr_world(tmp_path, 300)
    control = Control()
    errors: list[BaseException] = []
    with MirrorServer(docroot) as srv:
        _bind(docroot, keys, srv.base_url)
        srv.add_fault("/amazon/", Fault(delay=0.02, times=None))
        settings = fast_settings(ocr_workers=4, ocr_max_workers=4)

        def first() -> None:
            try:
                _fetch(tmp_path, srv, "root", settings, control=control)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=first)
        thread.start()
        wait_for(lambda: bool(partners) and partners[0].answered > 0)  # the second process is at work
        control.cancel()
        thread.join(60)
        assert not thread.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], Cancelled)
        assert partners[0].proc.returncode == 0 and not partners[0].clean  # it left at the cancel
        asked = len(image_gets(srv))
        assert asked < len(keys)
        srv.clear_faults()
        ctx, _ = _fetch(tmp_path, srv, "root", settings)
    assert ctx.journal.items_counts("ocr-vqa") == {"saved": len(keys)}
    assert sorted(_files(tmp_path / "root")) == sorted(f"{k}.jpg" for k in keys)


def test_pause_reaches_the_second_process(tmp_path: Path, partners: list[ocrsplit.Partner]) -> None:
    docroot, keys = _ocr_world(tmp_path, 200)
    counting = _Counting(docroot)
    counting.hold = threading.Event()  # every GET waits for this: no image is done before it is set
    server = threading.Thread(target=counting.serve_forever, daemon=True)
    server.start()
    control = Control()
    errors: list[BaseException] = []
    try:
        with MirrorServer(docroot) as drive:
            _bind(docroot, keys, counting.base_url)
            catalog = load_catalog(_ocr_catalog(tmp_path, drive.base_url))
            comp = catalog.component("ocr-vqa")
            settings = fast_settings(ocr_workers=4, ocr_max_workers=4, read_timeout=60.0)
            ctx, _ = make_ctx(tmp_path / "root", settings, job="ocr-vqa", control=control)

            def run() -> None:
                try:
                    list(ocrvqa.fetch(ctx, comp, comp.sources[0], catalog))
                except BaseException as exc:
                    errors.append(exc)

            thread = threading.Thread(target=run)
            thread.start()
            wait_for(lambda: counting.waiting == 4)  # both processes' workers (2 + 2) hold a GET each
            control.pause()
            wait_for(lambda: partners[0].acked == "pause")
            counting.hold.set()  # the four held images finish; then every worker stops at its checkpoint
            images = tmp_path / "root/ocr_vqa/images"
            wait_for(lambda: len(os.listdir(images)) == 4 and partners[0].answered == 2)
            assert counting.gets == 4  # no new GET from either process while paused
            control.resume()
            thread.join(60)
            assert not thread.is_alive() and not errors
    finally:
        counting.shutdown()
        counting.server_close()
    assert ctx.journal.items_counts("ocr-vqa") == {"saved": len(keys)}
    assert partners[0].acked == "resume" and _answers(partners[0]) > 2


@pytest.mark.parametrize("how", ["killed", "never-started"])
def test_a_second_process_that_dies_loses_nothing(tmp_path: Path, partners: list[ocrsplit.Partner],
                                                  monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    if how == "never-started":  # (a frozen build without the role, say): it exits at once
        monkeypatch.setattr(ocrsplit.child, "spawn", lambda role: subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stderr.write('no such role'); sys.exit(2)"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    docroot, keys = _ocr_world(tmp_path, 300)
    errors: list[BaseException] = []
    results: list[Any] = []
    with MirrorServer(docroot) as srv:
        _bind(docroot, keys, srv.base_url)
        srv.add_fault("/amazon/", Fault(delay=0.01, times=None))

        def run() -> None:
            try:
                results.append(_fetch(tmp_path, srv, "root", fast_settings(ocr_workers=4, ocr_max_workers=4)))
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        if how == "killed":
            wait_for(lambda: bool(partners) and partners[0].answered > 0)  # it is at work
            partners[0].proc.send_signal(signal.SIGKILL)
        thread.join(120)
        assert not thread.is_alive() and not errors
    ctx, _rec = results[0]
    assert ctx.journal.items_counts("ocr-vqa") == {"saved": len(keys)}
    assert sorted(_files(tmp_path / "root")) == sorted(f"{k}.jpg" for k in keys)
    assert not partners[0].clean and partners[0].proc.returncode != 0


# -- kill -9 of the run's process -----------------------------------------------------------------
_CHILD = """
import sys
from wizard.engine import helper
from wizard.engine.sources import ocrsplit, ocrvqa
ocrvqa.BATCH_ROWS = {rows}
ocrsplit.MIN_IMAGES = 1
ocrsplit.ROWS = {rows}
helper.allowed = lambda: True
from wizard.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            found.update(int(p) for p in (task / "children").read_text().split())
    return found


def _ended(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc (Linux) to find the second process")
def test_kill_9_of_the_run_stops_the_second_process_and_resumes(tmp_path: Path) -> None:
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
        second: set[int] = set()

        def far_enough() -> bool:
            assert proc.poll() is None, "the run ended before it could be interrupted"
            second.update(_children(proc.pid))
            return len(image_gets(srv)) >= 150 and bool(second)

        wait_for(far_enough)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        wait_for(lambda: all(_ended(pid) for pid in second))  # it saw its stdin close and left
        first = set(image_gets(srv))
        srv.clear_faults()
        srv.clear_requests()
        done = subprocess.run([sys.executable, "-c", _CHILD.format(rows=rows), *args], check=False,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert done.returncode == 0
        again = set(image_gets(srv))
    redone = first & again
    # at most: this process's unjournaled batch, a frame of results on its way from the second
    # process and one being gathered there, and the requests under way in both at the kill
    in_flight = fast_settings().ocr_max_workers
    assert len(first) >= 150 and len(redone) <= rows + 2 * rows + in_flight
    assert {Path(p).stem for p in first | again} == set(keys)  # every image asked for, none skipped
    status = Journal(root).items_counts("ocr-vqa")
    assert status == {"saved": len(keys) // 2, "dead": len(keys) // 2}


@pytest.fixture(autouse=True)
def _no_second_process_left() -> Iterator[None]:
    linux = Path("/proc/self/task").is_dir()
    before = _children(os.getpid()) if linux else set()
    yield
    if linux:
        assert not _children(os.getpid()) - before, "an image process outlived its batch"
