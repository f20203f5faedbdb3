"""The Finish page's check against the annotations, its Repair, and the bridge's generic ``call``."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from gui_fixtures import (
    RUN_TIMEOUT_MS,
    WizardFactory,
    click,
    demo_session,
    expected_tree,
    go_next,
    make_wizard,
    start_run,
    to_components_page,
    wait_idle,
)
from PySide6.QtCore import QObject, QThread, Slot
from pytestqt.qtbot import QtBot

from wizard.demo.session import DemoSession
from wizard.engine.control import Control
from wizard.engine.errors import Code, SetupError
from wizard.engine.events import Emit, Event, Log
from wizard.engine.verify import verify
from wizard.gui.bridge import EngineBridge, InlineExecutor, QThreadExecutor, ThreadPoolExecutor
from wizard.gui.pageids import PageId
from wizard.gui.verifypanel import VerifyPanel
from wizard.gui.wizard import SetupWizard

__all__ = ["demo_session", "make_wizard"]  # fixtures used by name

CAP = "sharegpt4v_instruct_gpt4-vision_cap100k.json"
#: json-cap100k and every component whose images it references in the demo world.
CAP_FULL = ["json-cap100k", "coco-train2017", "llava-pretrain", "sam-9k", "sam-tars", "share-textvqa",
            "web-celebrity", "web-landmark", "wikiart"]
COUNTS = ("referenced", "present", "missing", "unreadable")


def to_finish(qtbot: QtBot, wizard: SetupWizard, root: Path, ids: list[str]) -> VerifyPanel:
    """Run ``ids`` and open the Finish page; returns its panel once the automatic check is shown."""
    start_run(qtbot, wizard, root, ids)
    wait_idle(qtbot, wizard)
    panel = wizard.finish_page.verify_panel
    with qtbot.waitSignal(panel.checked, timeout=RUN_TIMEOUT_MS):
        go_next(qtbot, wizard)
    assert wizard.currentId() == PageId.FINISH
    return panel


def assert_shows_what_verify_finds(panel: VerifyPanel, root: Path) -> None:
    direct = verify(root, [root / "sharegpt4v" / CAP])
    (result,) = direct.results
    assert panel.view.counts(CAP) == {c: getattr(result.totals, c) for c in COUNTS}
    for folder in result.folders:
        assert panel.view.counts(CAP, folder.key) == {c: getattr(folder, c) for c in COUNTS}


def test_finish_page_checks_finds_a_deleted_image_and_repairs_it(
        qtbot: QtBot, make_wizard: WizardFactory, demo_session: DemoSession, tmp_path: Path) -> None:
    wizard = make_wizard()
    root = tmp_path / "root"
    panel = to_finish(qtbot, wizard, root, CAP_FULL)
    assert_shows_what_verify_finds(panel, root)
    assert panel.view.counts(CAP)["missing"] == 0
    assert panel.view.verdict.text().startswith("✔ Every image the annotations reference is in place")
    assert not panel.repair_button.isEnabled() and not panel.view.lists.isVisible()

    victim = root / sorted(expected_tree(demo_session, ["coco-train2017"]))[0]
    data = victim.read_bytes()
    victim.unlink()
    with qtbot.waitSignal(panel.checked, timeout=RUN_TIMEOUT_MS):
        click(qtbot, panel.check_button)
    assert_shows_what_verify_finds(panel, root)
    assert panel.view.counts(CAP, "coco")["missing"] == 1
    assert panel.view.counts(CAP)["missing"] == 1
    assert panel.view.verdict.text() == "✖ 1 image(s) missing"
    assert "missing-sharegpt4v_instruct_gpt4-vision_cap100k.txt" in panel.view.lists.text()

    busy: list[tuple[bool, bool, bool]] = []
    panel.busy_changed.connect(lambda b: busy.append((b, panel.busy_bar.isVisible(),
                                                      wizard.finish_page.isComplete())))
    with qtbot.waitSignal(panel.repaired, timeout=RUN_TIMEOUT_MS) as blocker:
        click(qtbot, panel.repair_button)
    assert busy == [(True, True, False), (False, False, True)]
    report = blocker.args[0]
    assert report.restored == 1 and report.unrecoverable == {}
    assert victim.read_bytes() == data
    assert panel.view.counts(CAP)["missing"] == 0
    assert panel.view.verdict.text().startswith("✔ Every image")
    assert "repairing 1 file(s)" in panel.log.toPlainText()
    assert not panel.view.unrecoverable.isVisible()
    assert not panel.busy_bar.isVisible() and wizard.finish_page.isComplete()
    assert not panel.repair_button.isEnabled()


def test_finish_page_counts_folders_of_unselected_parts(
        qtbot: QtBot, make_wizard: WizardFactory, tmp_path: Path) -> None:
    wizard = make_wizard()
    root = tmp_path / "root"
    panel = to_finish(qtbot, wizard, root, ["json-cap100k", "coco-train2017"])
    assert_shows_what_verify_finds(panel, root)
    assert panel.view.counts(CAP, "coco")["missing"] == 0
    assert panel.view.counts(CAP, "llava")["missing"] > 0
    top = panel.view.tree.topLevelItem(0)
    assert top is not None
    notes = {top.child(i).text(0): top.child(i).text(5) for i in range(top.childCount())}
    assert notes["coco"] == "" and notes["llava"] == "not selected in this run"
    assert panel.repair_button.isEnabled()


# -- EngineBridge.call ----------------------------------------------------------------------
class _Probe(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.in_gui_thread: list[bool] = []

    @Slot(object)
    def on_event(self, event: Event) -> None:
        self.in_gui_thread.append(QThread.currentThread() is self.thread())


@pytest.mark.parametrize("executor_type", [QThreadExecutor, ThreadPoolExecutor, InlineExecutor])
def test_call_delivers_events_and_result_in_the_gui_thread(qtbot: QtBot, executor_type: type) -> None:
    bridge = EngineBridge(executor_type())
    probe = _Probe()
    threads: list[threading.Thread] = []

    def task(emit: Emit, control: Control) -> int:
        threads.append(threading.current_thread())
        emit(Log("info", "working"))
        return 42

    call = bridge.call(task)
    call.event_received.connect(probe.on_event)
    with qtbot.waitSignal(call.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        pass
    assert blocker.args == [42]
    assert probe.in_gui_thread == [True]
    assert not bridge.busy
    if executor_type is not InlineExecutor:
        assert threads[0] is not threading.main_thread()


def test_call_reports_errors_and_cancel_as_problems(qtbot: QtBot) -> None:
    bridge = EngineBridge()

    def failing(emit: Emit, control: Control) -> None:
        raise SetupError(Code.ROOT_MISSING, "gone", "make it")

    call = bridge.call(failing)
    with pytest.raises(RuntimeError):
        bridge.call(failing)  # one piece of work at a time
    with qtbot.waitSignal(call.failed, timeout=RUN_TIMEOUT_MS) as blocker:
        pass
    assert blocker.args[0].code == Code.ROOT_MISSING

    started = threading.Event()

    def waiting(emit: Emit, control: Control) -> None:
        started.set()
        while True:
            control.sleep(0.01)

    call = bridge.call(waiting)
    assert started.wait(5)
    with qtbot.waitSignal(call.failed, timeout=RUN_TIMEOUT_MS) as blocker:
        bridge.cancel()
    assert blocker.args[0].code == Code.CANCELLED
    with qtbot.waitSignal(bridge.call_ended, timeout=RUN_TIMEOUT_MS):
        call = bridge.call(lambda emit, control: None)
    assert not bridge.busy


def test_summary_page_names_the_exact_sam_tars_once_a_run_learned_them(
        qtbot: QtBot, make_wizard: WizardFactory, demo_session: DemoSession, tmp_path: Path) -> None:
    """The plan text the GUI shows comes from the same plan: "up to" first, then the learned tars."""
    import shutil

    from wizard.cli import main

    root = tmp_path / "root"
    ids = list(demo_session.catalog.preset("cap100k").components)
    assert main(["run", "--catalog", str(demo_session.catalog_path), "--hf-endpoint", demo_session.base_url,
                 "--sam-links", str(demo_session.sam_links), "--root", str(root), "--components",
                 "json-cap100k", "--yes", "--quiet"]) == 0
    # Not the demo mode: the runs above are real runs against the demo's mirror (a demo-mode wizard
    # would refuse their root), so the wizard is too.
    wizard = make_wizard(catalog=demo_session.catalog, hf_endpoint=demo_session.base_url,
                         sam_links=demo_session.sam_links)
    to_components_page(qtbot, wizard, root)
    wizard.components_page.set_selection(ids)
    go_next(qtbot, wizard)
    go_next(qtbot, wizard)
    assert wizard.currentId() == PageId.SUMMARY
    assert "stop once they are all in place: up to" in wizard.summary_page.text.toPlainText()

    assert main(["run", "--catalog", str(demo_session.catalog_path), "--hf-endpoint", demo_session.base_url,
                 "--sam-links", str(demo_session.sam_links), "--root", str(root), "--preset", "cap100k",
                 "--yes", "--quiet"]) == 0
    shutil.rmtree(root / "sam")
    wizard.back()
    go_next(qtbot, wizard)
    text = wizard.summary_page.text.toPlainText()
    assert "places the 3 not in place in 2 tar(s): sa_000000.tar, sa_000001.tar" in text
