"""Quitting while work runs: the "Stop and quit?" question may outlive the run it asks about."""

from __future__ import annotations

from pathlib import Path

from gui_fixtures import RUN_TIMEOUT_MS, HeldExecutor, WizardFactory, demo_session, make_wizard, start_run
from pytestqt.qtbot import QtBot

__all__ = ["demo_session", "make_wizard"]  # fixtures used by name


def test_quit_answered_after_the_run_finished_closes(qtbot: QtBot, make_wizard: WizardFactory,
                                                     tmp_path: Path) -> None:
    wizard = make_wizard()
    start_run(qtbot, wizard, tmp_path / "root", ["json-cap100k", "coco-train2017"])
    asked: list[bool] = []

    def answer_yes_after_the_run_ended() -> bool:
        # The question box is modal: the run finishes while it is open, then the user says Yes.
        qtbot.waitUntil(lambda: not wizard.bridge.busy, timeout=RUN_TIMEOUT_MS)
        asked.append(True)
        return True

    wizard.confirm_stop = answer_yes_after_the_run_ended  # type: ignore[method-assign]
    wizard.reject()
    assert asked == [True]
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=2_000)



def test_quit_while_the_components_page_reads_the_jsons_does_not_ask(
        qtbot: QtBot, make_wizard: WizardFactory, tmp_path: Path) -> None:
    """Reading the annotation JSONs already in the root loses nothing when stopped: Quit closes at
    once (the read is cancelled) instead of asking "Stop and quit?" about data being prepared."""
    from wizard.engine.subset import json_path
    from wizard.gui.pageids import PageId

    held = HeldExecutor()
    wizard = make_wizard(executor=held)
    root = tmp_path / "root"
    for component in wizard.state.catalog.components:
        path = json_path(root, component)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text('[{"id": "1", "image": "coco/train2017/1.jpg", "conversations": []}]')
    asked: list[bool] = []

    def ask() -> bool:
        asked.append(True)
        return True

    wizard.confirm_stop = ask  # type: ignore[method-assign]
    wizard.welcome_page.accept_box.setChecked(True)
    wizard.next()
    wizard.root_page.path.set_text(str(root))
    wizard.next()
    assert wizard.currentId() == PageId.COMPONENTS
    assert wizard.components_page.reading_annotations and wizard.bridge.busy
    wizard.reject()
    assert asked == []
    assert not wizard.isVisible()
    assert wizard.bridge.cancel_requested
    held.run_held()  # the read starts only now: cancelled, it ends at once
    qtbot.waitUntil(lambda: not wizard.bridge.busy, timeout=RUN_TIMEOUT_MS)


def test_quit_while_the_finish_page_only_checks_the_images_does_not_ask(
        qtbot: QtBot, make_wizard: WizardFactory, tmp_path: Path) -> None:
    """The check after a run only reads: Quit closes at once (the check is cancelled) instead of
    saying "Data is still being prepared"; a repair (which writes) still asks."""
    held = HeldExecutor()
    wizard = make_wizard(executor=held)
    asked: list[bool] = []

    def ask() -> bool:
        asked.append(True)
        return False

    wizard.confirm_stop = ask  # type: ignore[method-assign]
    wizard.state.root = tmp_path / "root"
    wizard.state.root.mkdir()
    panel = wizard.finish_page.verify_panel
    panel.start_repair()
    assert wizard.bridge.busy and panel.busy
    wizard.reject()
    assert asked == [True] and wizard.isVisible()
    wizard.bridge.cancel()
    held.run_held()
    qtbot.waitUntil(lambda: not wizard.bridge.busy, timeout=RUN_TIMEOUT_MS)
    panel.start_check()
    assert panel.busy
    wizard.reject()
    assert asked == [True]
    assert not wizard.isVisible() and wizard.bridge.cancel_requested
    held.run_held()
    qtbot.waitUntil(lambda: not wizard.bridge.busy, timeout=RUN_TIMEOUT_MS)
