"""The wizard under hostile input and small screens: what the user types, what the screen allows."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_fixtures import (
    RUN_TIMEOUT_MS,
    WizardFactory,
    demo_session,
    go_next,
    make_wizard,
    to_components_page,
    wait_idle,
)
from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtWidgets import QApplication, QWidget, QWizard
from pytestqt.qtbot import QtBot

from wizard.engine.catalog import load_catalog
from wizard.gui.app import build_state, build_wizard
from wizard.gui.geometry import fit_to
from wizard.gui.wizard import SetupWizard

__all__ = ["demo_session", "make_wizard"]  # fixtures used by name


def _at_root_page(qtbot: QtBot, tmp_path: Path) -> SetupWizard:
    """A wizard on the bundled catalog, its welcome page accepted, at the root page (the caller
    keeps the wizard: the page dies with it)."""
    wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"))
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.welcome_page.accept_box.setChecked(True)
    wizard.next()
    return wizard


def test_root_page_names_a_too_long_folder_name(qtbot: QtBot, tmp_path: Path) -> None:
    """A name longer than the filesystem allows (a paste gone wrong) is a message under the field,
    on every keystroke and on Next, not an exception escaping the page."""
    wizard = _at_root_page(qtbot, tmp_path)
    page = wizard.root_page
    for text in (str(tmp_path / ("a" * 300)), str(tmp_path / ("a" * 300) / "data")):
        page.path.set_text(text)
        assert not page.isComplete()
        assert page.status.property("statusKind") == "error" and "too long" in page.status.text()
    assert not page.validatePage()
    assert "too long" in page.status.text()


#: 1366×768 at 200 % (QT_SCALE_FACTOR=2), or 1024×600 at 150 %: the screen in logical pixels.
SCALED_SCREEN = QSize(683, 384)


def squeezed(widget: QWidget) -> bool:
    """Laid out smaller than it needs: its texts overlap or are cut."""
    need = widget.minimumSizeHint()
    return widget.height() < need.height() or widget.width() < need.width()


def test_a_scaled_small_screen_shows_presets_and_job_rows(qtbot: QtBot, make_wizard: WizardFactory,
                                                          tmp_path: Path) -> None:
    """On a small screen at 150-200 % the pages scroll instead of squeezing: the preset buttons
    keep their height, and the progress page shows several job rows, not only the header."""
    wizard = make_wizard()
    fit_to(wizard, QRect(QPoint(0, 0), SCALED_SCREEN))
    to_components_page(qtbot, wizard, tmp_path / "root")
    wizard.components_page.choose_preset("sft")
    app = QApplication.instance()
    assert app is not None
    app.processEvents()
    page = wizard.components_page
    assert not squeezed(page.presets_box), "the preset buttons overlap"
    tree = page.tree
    assert tree.viewport().height() >= 4 * tree.sizeHintForRow(0), "fewer than 4 components shown"
    go_next(qtbot, wizard)
    go_next(qtbot, wizard)
    with qtbot.waitSignal(wizard.bridge.started, timeout=RUN_TIMEOUT_MS):
        go_next(qtbot, wizard)
    wait_idle(qtbot, wizard)
    app.processEvents()
    table = wizard.progress_page.table
    rows = list(table.rows.values())
    assert len(rows) >= 3
    viewport = table.parentWidget()
    assert viewport is not None
    third = rows[2].bar
    bottom = third.mapTo(viewport, QPoint(0, third.height())).y()
    assert bottom <= viewport.height(), f"the third job row is not in view ({bottom} > {viewport.height()})"
    for button in (wizard.button(QWizard.WizardButton.NextButton), wizard.button(QWizard.WizardButton.CancelButton)):
        assert wizard.rect().contains(QRect(button.mapTo(wizard, QPoint(0, 0)), button.size()))


def test_a_full_disk_under_the_journal_is_no_space_not_a_bug(tmp_path: Path) -> None:
    """A run whose journal cannot be written because the disk is full (in the engine child, or
    on the wizard's own thread) is the same no-space problem the command line shows, with its
    hint, not "Unexpected error … This is a bug"."""
    import sqlite3
    from dataclasses import dataclass

    from wizard.engine.calls import ChildTask
    from wizard.engine.control import Control
    from wizard.engine.errors import Code
    from wizard.engine.events import Event
    from wizard.engine.runchild import _reply
    from wizard.gui.bridge import problem_of

    full = sqlite3.OperationalError("database or disk is full")

    @dataclass(frozen=True)
    class JournalOnAFullDisk(ChildTask):
        root: Path

        def __call__(self, emit: object, control: Control) -> object:
            raise full

    def ignore(event: Event) -> None:
        pass

    outcome = _reply(JournalOnAFullDisk(tmp_path), ignore, Control())
    assert outcome[0] == "problem"
    in_child = outcome[1]
    in_thread = problem_of(full)
    for problem in (in_child, in_thread):
        assert problem.code == Code.NO_SPACE, problem
        assert "Free some space" in problem.hint
    assert str(tmp_path) in in_child.message
    assert problem_of(OSError(28, "No space left on device")).code == Code.NO_SPACE


def test_a_run_that_cannot_start_can_be_run_again(qtbot: QtBot, make_wizard: WizardFactory,
                                                  tmp_path: Path) -> None:
    """A run stopped before its first job (the root is locked by another run, the disk is full
    under the journal) says why and offers Run again: once the cause is gone the user need not
    restart the wizard."""
    from gui_fixtures import click, start_run

    from wizard.engine.errors import Code
    from wizard.engine.journal import RootLock
    from wizard.gui.pageids import PageId

    wizard = make_wizard()
    root = tmp_path / "root"
    root.mkdir()
    page = wizard.progress_page
    with RootLock(root):
        start_run(qtbot, wizard, root, ["json-sft", "gqa"])
        wait_idle(qtbot, wizard)
    assert Code.ROOT_LOCKED.value in page.log.toPlainText()
    assert page.status.property("statusKind") == "error"
    click(qtbot, page.again_button)  # the other run has ended
    qtbot.waitUntil(lambda: wizard.bridge.running, timeout=RUN_TIMEOUT_MS)
    wait_idle(qtbot, wizard)
    assert {s.stage.value for s in wizard.state.board.jobs.values()} == {"done"}
    assert wizard.currentId() == PageId.PROGRESS


def test_ctrl_q_quits_and_asks_while_work_runs(qtbot: QtBot, make_wizard: WizardFactory, tmp_path: Path) -> None:
    """Ctrl+Q, the desktop's Quit key, does what the Quit button does: asks while a run works."""
    from gui_fixtures import start_run
    from PySide6.QtCore import Qt

    wizard = make_wizard()
    wizard.activateWindow()
    qtbot.waitActive(wizard)
    asked: list[bool] = []

    def refuse() -> bool:
        asked.append(True)
        return False

    wizard.confirm_stop = refuse  # type: ignore[method-assign]
    start_run(qtbot, wizard, tmp_path / "root", ["json-sft"])
    wizard.bridge.pause()  # the run is still there when the key is pressed
    qtbot.keyClick(wizard, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert asked == [True] and wizard.isVisible()
    wizard.bridge.resume()
    wait_idle(qtbot, wizard)
    qtbot.keyClick(wizard, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=2_000)


def test_a_job_waiting_for_disk_space_says_why_on_its_row(qtbot: QtBot) -> None:
    """Before a job starts the engine waits while the disk is short of space; the row says so
    (how much is free and needed), not a bare "Waiting" with the reason only in the hidden log.
    Once the space is there and the job moves on, the note goes."""
    from wizard.engine.events import JobQueued, Stage, StageChanged
    from wizard.gui.jobmodel import JobBoard
    from wizard.gui.jobtable import JobTable

    board = JobBoard(clock=lambda: 0.0)
    table = JobTable()
    qtbot.addWidget(table)
    table.show()
    reason = "Only 4.1 MB free on /data; waiting for space (need 536.9 MB)"
    board.apply(JobQueued("gqa", "GQA images", 7_635))
    board.apply(StageChanged("gqa", Stage.WAITING, reason))
    table.refresh(board, 0.0, set())
    row = table.rows["gqa"]
    assert row.error.isVisible() and reason in row.error.text()
    assert not row.retry.isVisible()  # it carries on by itself once there is space
    board.apply(StageChanged("gqa", Stage.DOWNLOADING, "gqa-images.zip"))
    table.refresh(board, 0.0, set())
    assert not row.error.isVisible()


def test_a_job_retrying_an_unreachable_server_says_so_on_its_row(qtbot: QtBot) -> None:
    """While the engine retries (the server is down, the connection drops) the row shows its
    last warning instead of a silent "Downloading 0 B"; bytes arriving again clear it."""
    from wizard.engine.events import JobQueued, Log, Progress, Stage, StageChanged
    from wizard.gui.jobmodel import JobBoard
    from wizard.gui.jobtable import JobTable

    board = JobBoard(clock=lambda: 0.0)
    table = JobTable()
    qtbot.addWidget(table)
    table.show()
    warning = "train2017.zip: connection failed; retrying in 1.3 s (attempt 2/6)"
    board.apply(JobQueued("coco", "COCO train2017", 10_650))
    board.apply(StageChanged("coco", Stage.DOWNLOADING, "train2017.zip"))
    board.apply(Progress("coco", Stage.DOWNLOADING, 0, 10_650))
    board.apply(Log("warning", warning, "coco"))
    board.apply(Log("info", "GET … -> ConnectionError", "coco"))  # not a warning: not shown
    table.refresh(board, 0.0, set())
    row = table.rows["coco"]
    assert row.error.isVisible() and warning in row.error.text()
    board.apply(Progress("coco", Stage.DOWNLOADING, 4_096, 10_650))
    table.refresh(board, 0.0, set())
    assert not row.error.isVisible()


def test_every_scroll_area_a_tab_stop_has_a_name(qtbot: QtBot, tmp_path: Path) -> None:
    """A screen reader names each Tab stop: the job table's scroll area says what it holds, and a
    page's own scroll area is no Tab stop at all (Tab reaches the controls in it, and the page
    scrolls to the focused one)."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QAbstractItemView, QAbstractScrollArea, QPlainTextEdit, QTextEdit

    wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"))
    qtbot.addWidget(wizard)
    unnamed = []
    for page_id in wizard.pageIds():
        page = wizard.page(page_id)
        for area in page.findChildren(QAbstractScrollArea):
            if isinstance(area, QAbstractItemView | QPlainTextEdit | QTextEdit):
                continue  # views and text boxes: the other accessibility test
            if area.focusPolicy() & Qt.FocusPolicy.TabFocus and not area.accessibleName():
                unnamed.append(f"{type(page).__name__}: {type(area).__name__}")
    assert unnamed == []


def test_the_demo_mirror_keeps_its_validators_across_starts(tmp_path: Path) -> None:
    """The wizard's demo builds its world afresh on every start: the same bytes must keep the
    same ETag and Last-Modified, or a download stopped by quitting starts over from byte 0 on the
    next start ("the file changed upstream") instead of resuming."""
    import requests

    from wizard.demo.session import DemoSession

    def validators() -> dict[str, tuple[str, str]]:
        session = DemoSession(world_dir=tmp_path / "demo-world")
        session.start()
        try:
            out = {}
            for cid in ("coco-train2017", "json-sft", "gqa"):
                source = session.catalog.component(cid).sources[0]
                url = source.url or f"{session.base_url}/datasets/{source.repo}/resolve/{source.revision}/{source.path}"
                resp = requests.head(url, timeout=10, allow_redirects=True, proxies={"http": "", "https": ""})
                out[cid] = (resp.headers["ETag"], resp.headers["Last-Modified"])
            return out
        finally:
            session.stop()

    first = validators()
    assert validators() == first


def test_the_finish_headline_does_not_say_checking_after_the_check_ended(
        qtbot: QtBot, make_wizard: WizardFactory, tmp_path: Path) -> None:
    """The check on the Finish page can end without a report (the root gone, the disk failing,
    the user pressed Stop): the headline then says the check did not finish, not "Checking…"
    forever."""
    import shutil

    from gui_fixtures import start_run

    wizard = make_wizard()
    root = tmp_path / "root"
    start_run(qtbot, wizard, root, ["json-sft", "gqa"])
    wait_idle(qtbot, wizard)
    shutil.rmtree(root)  # deleted behind the wizard's back
    go_next(qtbot, wizard)
    page = wizard.finish_page
    qtbot.waitUntil(lambda: not page.verify_panel.busy, timeout=RUN_TIMEOUT_MS)
    assert page.verify_panel.last_report is None
    assert "Checking" not in page.subTitle() and "did not finish" in page.subTitle()


def test_root_page_says_what_to_do_about_a_blocked_state_folder(qtbot: QtBot, tmp_path: Path) -> None:
    """A file where the root's state folder belongs: the page shows the engine's problem with
    its "What to do" (move it aside), as every other page shows problems, not the message alone."""
    root = tmp_path / "root"
    root.mkdir()
    (root / ".sharegpt4v-setup").write_text("not a folder", encoding="utf-8")
    wizard = _at_root_page(qtbot, tmp_path)
    page = wizard.root_page
    page.path.set_text(str(root))
    assert not page.isComplete()
    assert "not a folder" in page.status.text() and "Move it aside" in page.status.text()


def test_the_pages_scroll_only_when_they_must(qtbot: QtBot, make_wizard: WizardFactory, tmp_path: Path) -> None:
    """At 1366×768 and 150 % (911×512 logical) the components and progress pages fit without
    scrolling: their tree and table take the room left, not their preferred height."""
    from PySide6.QtWidgets import QScrollArea

    wizard = make_wizard()
    fit_to(wizard, QRect(QPoint(0, 0), QSize(911, 512)))
    to_components_page(qtbot, wizard, tmp_path / "root")
    wizard.components_page.choose_preset("sft")
    app = QApplication.instance()
    assert app is not None

    def page_scrolls() -> bool:
        app.processEvents()
        page = wizard.currentPage()
        outer = next(a for a in page.findChildren(QScrollArea) if a.parentWidget() is page)
        return outer.verticalScrollBar().maximum() > 0

    assert not page_scrolls()
    go_next(qtbot, wizard)
    go_next(qtbot, wizard)
    with qtbot.waitSignal(wizard.bridge.started, timeout=RUN_TIMEOUT_MS):
        go_next(qtbot, wizard)
    wait_idle(qtbot, wizard)
    assert not page_scrolls()


def _tiny_disk(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    """Every filesystem reports ``free`` bytes available (what statvfs says; disk_usage asks it)."""
    import os

    real = os.statvfs

    def statvfs(path: object) -> os.statvfs_result:
        st = real(path)  # type: ignore[call-overload]
        fields = list(st)
        fields[4] = free // st.f_frsize  # f_bavail
        return os.statvfs_result(fields)

    monkeypatch.setattr(os, "statvfs", statvfs)


def test_the_demo_runs_on_a_disk_with_only_tens_of_mb_free(qtbot: QtBot, make_wizard: WizardFactory,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's whole world is about 1 MB, yet its plan asked for the 512 MB reserve of real
    runs: on a small disk (40 MB free) the wizard refused Next ("Not enough space") and a forced
    run waited for space for good. The demo's reserve is small; the wizard and the headless demo
    both go through."""
    from gui_fixtures import start_run

    from wizard.cli import main

    _tiny_disk(monkeypatch, 40 << 20)
    assert main(["run", "--demo", "--root", str(tmp_path / "headless"), "--components", "json-sft,gqa",
                 "--yes", "-q"]) == 0
    wizard = make_wizard()
    start_run(qtbot, wizard, tmp_path / "root", ["json-sft", "gqa"])  # Next is enabled: the plan fits
    assert "Not enough space" not in wizard.components_page.budget.text()
    wait_idle(qtbot, wizard)
    assert {s.stage.value for s in wizard.state.board.jobs.values()} == {"done"}
