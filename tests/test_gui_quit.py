"""Quitting while work runs: the "Stop and quit?" question may outlive the run it asks about."""

from __future__ import annotations

from pathlib import Path

from gui_fixtures import RUN_TIMEOUT_MS, WizardFactory, demo_session, make_wizard, start_run
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

