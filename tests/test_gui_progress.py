"""Progress that never misleads: totals and the overall bar only move forward, units never mix,
paused rows say so."""

from __future__ import annotations

from pathlib import Path

from gui_fixtures import RUN_TIMEOUT_MS, WizardFactory, demo_session, make_wizard, start_run, wait_idle
from pytestqt.qtbot import QtBot

from wizard.demo import Fault
from wizard.demo.session import DemoSession
from wizard.engine.events import Event, JobDone, JobQueued, Progress, Stage, StageChanged
from wizard.gui.jobmodel import JobBoard
from wizard.gui.jobtable import JobRow
from wizard.gui.pageids import PageId

__all__ = ["demo_session", "make_wizard"]  # fixtures used by name


def test_totals_and_the_bar_never_go_back_during_a_demo_run(qtbot: QtBot, make_wizard: WizardFactory,
                                                            tmp_path: Path) -> None:
    wizard = make_wizard()
    page, board = wizard.progress_page, wizard.state.board
    seen: list[tuple[int, int, int]] = []
    rows: dict[str, list[int]] = {}

    def on_event(event: Event) -> None:  # connected after the page: the board has the event
        page.repaint_now()
        done, total = board.overall()
        seen.append((page.overall_bar.value(), done, total))
        for job, state in board.jobs.items():
            rows.setdefault(job, []).append(state.expected_bytes)

    wizard.bridge.event_received.connect(on_event)
    ids = wizard.components_page._preset_members("cap100k") + wizard.components_page._preset_members("sft")
    start_run(qtbot, wizard, tmp_path / "root", sorted(set(ids)))
    wait_idle(qtbot, wizard)
    assert len(seen) > 50
    bars, dones, totals = zip(*seen, strict=True)
    assert list(bars) == sorted(bars), "the overall bar went back"
    assert list(dones) == sorted(dones), "the bytes done went back"
    assert list(totals[len(board.jobs):]) == sorted(totals[len(board.jobs):]), "the total shrank"
    assert min(totals[len(board.jobs):]) == max(totals), "the plan's total changed during the run"
    for job, weights in rows.items():
        assert weights == sorted(weights), f"the total of {job} shrank"
    assert bars[-1] == page.overall_bar.maximum()
    ocr = page.table.rows["ocr-vqa"]
    assert "files" not in ocr.bytes.text()


def test_board_keeps_multi_file_and_item_jobs_moving_forward() -> None:
    board = JobBoard(clock=lambda: 0.0)
    events: list[Event] = [
        JobQueued("sam", "SAM", 2000), StageChanged("sam", Stage.DOWNLOADING),
        Progress("sam", Stage.DOWNLOADING, 600, 1000), Progress("sam", Stage.DOWNLOADING, 1000, 1000),
        Progress("sam", Stage.DOWNLOADING, 100, 1000),  # the second tar starts at 0
        JobQueued("ocr", "OCR", 900), StageChanged("ocr", Stage.DOWNLOADING),
        Progress("ocr", Stage.DOWNLOADING, 300, 300),  # dataset.json, in bytes
        Progress("ocr", Stage.DOWNLOADING, 0, 6, "files"), Progress("ocr", Stage.DOWNLOADING, 3, 6, "files"),
    ]
    fractions = []
    for event in events:
        board.apply(event)
        fractions.append(board.overall_fraction())
    assert fractions == sorted(fractions)
    assert board.jobs["sam"].counted == 1100 and board.jobs["sam"].fraction() == 1100 / 2000
    assert board.jobs["ocr"].counted == 450
    assert board.overall() == (1550, 2900)
    assert board.take_notes() == []


def test_board_explains_a_total_that_must_grow() -> None:
    board = JobBoard(clock=lambda: 0.0)
    for event in (JobQueued("a", "A", 1000), StageChanged("a", Stage.DOWNLOADING),
                  Progress("a", Stage.DOWNLOADING, 500, 1000)):
        board.apply(event)
    before = board.overall_fraction()
    board.apply(Progress("a", Stage.DOWNLOADING, 600, 4000))  # the server's file is bigger
    assert board.overall() == (600, 4000)
    assert board.overall_fraction() == before, "the bar holds instead of going back"
    [(job, why)] = board.take_notes()
    assert job == "a" and "4.0 KB" in why and "1.0 KB" in why
    board.apply(JobDone("a"))
    assert board.overall_fraction() == 1.0


def test_paused_rows_say_paused_without_speed_or_eta(qtbot: QtBot, make_wizard: WizardFactory,
                                                   demo_session: DemoSession, tmp_path: Path) -> None:
    assert demo_session.server is not None
    demo_session.server.add_fault("/", Fault(rate=4096, times=None))
    wizard = make_wizard()
    start_run(qtbot, wizard, tmp_path / "root", ["coco-train2017", "gqa"])
    board = wizard.state.board
    qtbot.waitUntil(lambda: any(s.stage == Stage.DOWNLOADING and s.downloaded for s in board.jobs.values()),
                    timeout=RUN_TIMEOUT_MS)
    wizard.progress_page.pause_button.click()
    wizard.progress_page.repaint_now()
    running: list[JobRow] = [row for job, row in wizard.progress_page.table.rows.items()
                             if not board.jobs[job].finished]
    assert running
    for row in running:
        assert row.stage.text() == "Paused"
        assert row.speed.text() == "" and row.eta.text() == ""
        assert row.bar.maximum() > 0, "no busy animation while paused"
    assert "paused" in wizard.progress_page.overall_text.text()
    wizard.progress_page.pause_button.click()
    demo_session.server.clear_faults()
    wait_idle(qtbot, wizard)
    assert wizard.currentId() == PageId.PROGRESS


def test_bridge_coalesces_progress_but_keeps_each_jobs_order(qtbot: QtBot) -> None:
    from wizard.engine.control import Control
    from wizard.engine.events import Emit, Log
    from wizard.gui.bridge import EngineBridge, QThreadExecutor

    bridge = EngineBridge(QThreadExecutor())

    def task(emit: Emit, control: Control) -> int:
        for stage in (Stage.DOWNLOADING, Stage.EXTRACTING):
            emit(StageChanged("a", stage))
            for n in range(1, 2001):
                emit(Progress("a", stage, n, 2000))
                emit(Progress("b", Stage.DOWNLOADING, n, 2000))
            emit(Log("info", f"{stage} over", "a"))
        return 0

    received: list[Event] = []
    call = bridge.call(task)
    call.event_received.connect(received.append)
    with qtbot.waitSignal(call.finished, timeout=RUN_TIMEOUT_MS):
        pass
    progress = [e for e in received if isinstance(e, Progress)]
    assert len(progress) < 4 * 2000, "progress reaches the GUI thread coalesced"
    a_events = [e for e in received if getattr(e, "job", None) == "a"]
    stage = None
    for event in a_events:  # a job's events keep their order: no progress of a stage before it starts
        if isinstance(event, StageChanged):
            stage = event.stage
        elif isinstance(event, Progress):
            assert event.stage == stage
    logs = [e for e in a_events if isinstance(e, Log)]
    for log in logs:  # the last progress of a stage arrives before the log that follows it
        before = a_events[:a_events.index(log)]
        last = [e for e in before if isinstance(e, Progress)][-1]
        assert last.done == 2000
    assert [e.done for e in progress if e.job == "b"][-1] == 2000
