"""A run in a child process (engine/runchild.py): the same outcome as in a thread, a token that
reaches across, a child that dies, a parent that goes away."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from wizard.demo import MirrorServer, World
from wizard.demo.server import Fault
from wizard.demo.session import tree_of
from wizard.engine import child
from wizard.engine.calls import RunTask
from wizard.engine.catalog import Catalog, load_catalog
from wizard.engine.context import Settings
from wizard.engine.control import Control
from wizard.engine.errors import Code, SetupError
from wizard.engine.events import Event, JobDone, JobQueued, Log, Progress, RunFinished, Stage
from wizard.engine.plan import Plan, build_plan
from wizard.engine.runchild import Outbox, collapse, run_in_child

COMPS = ["coco-train2017", "gqa", "vg-part1"]


def p(job: str, done: int) -> Progress:
    return Progress(job, Stage.DOWNLOADING, done, 100)


def test_collapse_keeps_the_newest_progress_per_job_and_every_other_event_in_order() -> None:
    events: list[Event] = [p("a", 1), p("b", 1), p("a", 2), JobDone("a"), p("a", 3), p("b", 2),
                           Log("info", "all"), p("b", 3), p("b", 4)]
    assert collapse(events) == [p("a", 2), JobDone("a"), p("a", 3), p("b", 2), Log("info", "all"), p("b", 4)]
    assert collapse([]) == []


def test_outbox_sends_everything_in_order_and_flushes_on_close() -> None:
    sent: list[list[Event]] = []
    box = Outbox(sent.append, interval=3600.0)  # progress alone would wait an hour: close must flush it
    box.put(p("a", 1))
    box.put(p("a", 2))
    box.put(JobQueued("b", "B", None))
    box.put(p("a", 3))
    box.close()
    flat = [e for batch in sent for e in batch]
    assert flat[-1] == p("a", 3) and JobQueued("b", "B", None) in flat
    assert [e for e in flat if isinstance(e, Progress)][-1].done == 3


def run_threaded(plan_args: tuple[object, ...], control: Control) -> tuple[list[Event], dict[str, object]]:
    events: list[Event] = []
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["result"] = run_in_child(*plan_args, events.append, control)  # type: ignore[arg-type]
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(120)
    assert not thread.is_alive()
    return events, outcome


def test_a_run_in_a_child_lays_out_the_same_tree_and_reports_every_event(
        world: World, demo_catalog: Path, mirror: MirrorServer, tmp_path: Path) -> None:
    catalog = load_catalog(demo_catalog)
    settings = Settings(hf_endpoint=mirror.base_url, full_archives=True)
    root = tmp_path / "root"
    root.mkdir()
    plan = build_plan(root, catalog, catalog.resolve(None, COMPS), settings)
    events, outcome = run_threaded((plan, catalog, settings), Control())
    result = outcome["result"]
    assert sorted(result.done) == sorted(COMPS)  # type: ignore[attr-defined]
    assert tree_of(root) == world.expected_tree(COMPS)
    assert {e.job for e in events if isinstance(e, JobDone)} == set(COMPS)
    assert isinstance(events[-1], RunFinished)
    # the child wrote the run log, as a run in a thread does
    assert list((root / ".sharegpt4v-setup/logs").glob("run-*.log"))


def slow_coco_plan(demo_catalog: Path, mirror: MirrorServer, tmp_path: Path) -> tuple[Plan, Catalog, Settings, Path]:
    """A plan for COCO served slowly enough that a run is caught in the middle of its download."""
    catalog = load_catalog(demo_catalog)
    settings = Settings(hf_endpoint=mirror.base_url, full_archives=True, chunk_size=1024)
    mirror.add_fault("/images.cocodataset.org/", Fault(rate=2000, times=None))
    root = tmp_path / "root"
    root.mkdir()
    return build_plan(root, catalog, catalog.resolve(None, ["coco-train2017"]), settings), catalog, settings, root


def test_cancel_and_pause_reach_the_child(world: World, demo_catalog: Path, mirror: MirrorServer,
                                          tmp_path: Path) -> None:
    plan, catalog, settings, root = slow_coco_plan(demo_catalog, mirror, tmp_path)
    control = Control()
    seen = threading.Event()
    events: list[Event] = []

    def emit(event: Event) -> None:
        events.append(event)
        if isinstance(event, Progress) and event.done > 0:
            seen.set()

    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["result"] = run_in_child(plan, catalog, settings, emit, control)
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    assert seen.wait(60)
    control.pause()
    control.resume()
    control.cancel()
    thread.join(60)
    assert not thread.is_alive()
    result = outcome.get("result")
    assert result is not None and result.cancelled  # type: ignore[attr-defined]
    # the bytes already downloaded stay for the next run
    assert any((root / ".sharegpt4v-setup/downloads").glob("*.part"))


def test_a_child_that_dies_is_a_coded_problem_not_a_hang(world: World, demo_catalog: Path, mirror: MirrorServer,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan, catalog, settings, _root = slow_coco_plan(demo_catalog, mirror, tmp_path)
    spawned: list[int] = []
    real_spawn = child.spawn

    def spawn(role: str):  # type: ignore[no-untyped-def]
        proc = real_spawn(role)
        spawned.append(proc.pid)
        return proc

    monkeypatch.setattr(child, "spawn", spawn)

    def emit(event: Event) -> None:
        if isinstance(event, Progress) and event.done > 0 and spawned:
            os.kill(spawned.pop(), signal.SIGKILL)

    with pytest.raises(SetupError) as caught:
        run_in_child(plan, catalog, settings, emit, Control())
    problem = caught.value.problem
    assert problem.code == Code.INTERNAL
    assert "ended unexpectedly" in problem.message and "resume" in problem.hint


def test_the_child_cancels_when_its_parent_goes_away(world: World, demo_catalog: Path, mirror: MirrorServer,
                                                     tmp_path: Path) -> None:
    plan, catalog, settings, root = slow_coco_plan(demo_catalog, mirror, tmp_path)
    proc = child.spawn("run")
    assert proc.stdin is not None and proc.stdout is not None
    child.write_frame(proc.stdin, ("task", RunTask(plan, catalog, settings)))
    while True:  # until the download has started
        message = child.read_frame(proc.stdout)
        if message[0] == "events" and any(isinstance(e, Progress) and e.done > 0 for e in message[1]):
            break
    proc.stdin.close()  # what a parent that crashed or was killed leaves behind
    replies = []
    while True:
        try:
            replies.append(child.read_frame(proc.stdout))
        except child.ChildGone:
            break
    assert proc.wait(60) == 0
    assert replies[-1][0] == "result" and replies[-1][1].cancelled
    assert any((root / ".sharegpt4v-setup/downloads").glob("*.part"))
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()


def test_unknown_role_and_broken_frames_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        child.command("nope")
    assert child.main("nope", []) == 2
    path = tmp_path / "frame"
    path.write_bytes(b"\xff" * 8)  # a length far beyond MAX_FRAME
    with path.open("rb") as f, pytest.raises(child.ChildGone):
        child.read_frame(f)
    path.write_bytes(b"\x03\x00\x00\x00\x00\x00\x00\x00abc")  # not a pickle
    with path.open("rb") as f, pytest.raises(child.ChildGone):
        child.read_frame(f)


def test_a_cancelled_plan_in_the_child_is_killed_not_waited_for(demo_catalog: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Quit while the progress page works out its plan: the window closed at once, but the process
    waited for the plan child to finish reading the annotation JSONs (seconds on the 1.5 GB one).
    build_plan only reads the journal (a read-only open: it never heals it) and writes its caches
    atomically, as WarmTask's plan does: the child is killed, as WarmTask's is."""
    from wizard.engine.calls import PlanTask
    from wizard.engine.errors import Cancelled
    from wizard.engine.runchild import call_in_child

    procs: list[object] = []
    real_spawn = child.spawn

    def spawn(role: str):  # type: ignore[no-untyped-def]
        proc = real_spawn(role)
        procs.append(proc)
        return proc

    monkeypatch.setattr(child, "spawn", spawn)
    catalog = load_catalog(demo_catalog)
    root = tmp_path / "root"
    root.mkdir()
    control = Control()
    control.cancel()  # the quit came first: the child must not run the plan to its end
    with pytest.raises(Cancelled):
        call_in_child(PlanTask(root, catalog, catalog.resolve(None, COMPS), Settings(min_free_bytes=0)),
                      lambda event: None, control)
    assert [proc.returncode for proc in procs] == [-signal.SIGKILL]  # type: ignore[attr-defined]
