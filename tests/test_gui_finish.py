"""The finish page tells the truth and shows it in full: a headline that agrees with the check,
result rows without an empty column, a counts tree whose Note column is readable."""

from __future__ import annotations

from pathlib import Path

from gui_fixtures import (
    RUN_TIMEOUT_MS,
    HeldExecutor,
    WizardFactory,
    demo_session,
    expected_tree,
    go_next,
    make_wizard,
    start_run,
    wait_idle,
)
from PySide6.QtWidgets import QTreeWidget
from pytestqt.qtbot import QtBot

from wizard.demo.session import DemoSession
from wizard.gui.pageids import PageId
from wizard.gui.verifyview import COUNTS

__all__ = ["demo_session", "make_wizard"]  # fixtures used by name

IDS = ["json-cap100k", "coco-train2017", "llava-pretrain"]
NOTE = 1 + len(COUNTS)


def all_rows_visible(tree: QTreeWidget) -> bool:
    return tree.verticalScrollBar().maximum() == 0


def test_headline_agrees_with_the_check(qtbot: QtBot, make_wizard: WizardFactory, demo_session: DemoSession,
                                        tmp_path: Path) -> None:
    wizard = make_wizard()
    root = tmp_path / "root"
    start_run(qtbot, wizard, root, IDS)
    wait_idle(qtbot, wizard)
    (root / sorted(expected_tree(demo_session, ["coco-train2017"]))[0]).unlink()
    page = wizard.finish_page
    with qtbot.waitSignal(page.verify_panel.checked, timeout=RUN_TIMEOUT_MS):
        go_next(qtbot, wizard)
    assert wizard.currentId() == PageId.FINISH
    assert not page.verify_panel.last_report.ok  # type: ignore[union-attr]
    assert "Everything is in place" not in page.subTitle()
    assert "missing" in page.subTitle()
    with qtbot.waitSignal(page.verify_panel.checked, timeout=RUN_TIMEOUT_MS):
        page.verify_panel.repair_button.click()
    after = page.verify_panel.last_report
    assert after is not None
    assert page.subTitle().startswith("Everything is in place." if after.ok else "Everything you selected is in place")

    # every result row shown, no empty Details column
    results = page.results
    assert results.topLevelItemCount() == len(IDS)
    assert results.isColumnHidden(2)
    assert all_rows_visible(results)
    # the counts tree: every row shown and the Note column wide enough for its texts
    tree = page.verify_panel.view.tree
    assert all_rows_visible(tree)
    header = tree.header()
    assert header.sectionViewportPosition(NOTE) + header.sectionSize(NOTE) <= tree.viewport().width()


def test_finish_page_shows_a_problem_in_the_details_column(qtbot: QtBot, make_wizard: WizardFactory,
                                                           demo_session: DemoSession, tmp_path: Path) -> None:
    from urllib.parse import urlsplit

    from wizard.demo import Fault

    assert demo_session.server is not None
    url = demo_session.catalog.component("coco-train2017").sources[0].url
    demo_session.server.add_fault(urlsplit(url).path, Fault(status=404, times=None))
    wizard = make_wizard()
    start_run(qtbot, wizard, tmp_path / "root", ["coco-train2017"])
    wait_idle(qtbot, wizard)
    go_next(qtbot, wizard)
    page = wizard.finish_page
    assert not page.results.isColumnHidden(2)
    assert page.results.topLevelItem(0).text(2)  # type: ignore[union-attr]
    assert "not finished" in page.subTitle()


def test_the_training_argument_pastes_as_one_argument(qtbot: QtBot, make_wizard: WizardFactory,
                                                      tmp_path: Path) -> None:
    """"Give training this folder" is copied into a shell like the command under it: a root with a
    space or a shell character ("My Data & more") must stay one argument; it was not quoted."""
    import shlex

    held = HeldExecutor()  # the finish page's check never starts: only its texts matter here
    wizard = make_wizard(executor=held)
    root = tmp_path / "My Data & <more>"
    root.mkdir()
    wizard.state.root = root
    wizard.finish_page.initializePage()
    assert shlex.split(wizard.finish_page.folder.text()) == ["--image_folder", str(root)]
    args = shlex.split(wizard.finish_page.command.toPlainText())
    assert args[args.index("--root") + 1] == str(root)
    wizard.bridge.cancel()
    held.run_held()
