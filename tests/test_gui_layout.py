"""The window fits small screens in both languages, and every page's controls can be reached."""

from __future__ import annotations

from collections.abc import Iterator
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
from PySide6.QtWidgets import QAbstractButton, QAbstractScrollArea, QApplication, QWidget, QWizard
from pytestqt.qtbot import QtBot

from wizard.gui.geometry import FRAME, fit_to, minimum_size, window_size
from wizard.gui.i18n import install_translators, remove_translators
from wizard.gui.pageids import PageId
from wizard.gui.wizard import SetupWizard

__all__ = ["demo_session", "make_wizard"]  # fixtures used by name

SCREENS = (QSize(1024, 600), QSize(1366, 768))
WIZARD_BUTTONS = (QWizard.WizardButton.BackButton, QWizard.WizardButton.NextButton,
                  QWizard.WizardButton.CommitButton, QWizard.WizardButton.FinishButton,
                  QWizard.WizardButton.CancelButton, QWizard.WizardButton.HelpButton)


@pytest.fixture(params=["en", "zh_CN"])
def language(request: pytest.FixtureRequest) -> Iterator[str]:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    translators = install_translators(app, request.param)
    assert bool(translators) == (request.param != "en")
    yield request.param
    remove_translators(app, translators)


def _in_scroll_area(widget: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea):
            return True
        parent = parent.parentWidget()
    return False


def unreachable(wizard: SetupWizard, available: QSize) -> list[str]:
    """What on the current page cannot be seen in full (scrolling to it is fine)."""
    app = QApplication.instance()
    assert app is not None
    app.processEvents()
    problems = []
    room = available - FRAME
    if wizard.width() > room.width() or wizard.height() > room.height():
        problems.append(f"window {wizard.width()}×{wizard.height()} > {room.width()}×{room.height()}")
    page = wizard.currentPage()
    need, got = page.minimumSizeHint(), page.size()
    if need.width() > got.width() or need.height() > got.height():
        problems.append(f"page {wizard.currentId()} needs {need.width()}×{need.height()}, "
                        f"gets {got.width()}×{got.height()}")
    window = wizard.rect()
    buttons = [wizard.button(which) for which in WIZARD_BUTTONS]
    buttons += [b for b in page.findChildren(QAbstractButton) if not _in_scroll_area(b)]
    for button in buttons:
        if not button.isVisibleTo(wizard):
            continue
        where = QRect(button.mapTo(wizard, QPoint(0, 0)), button.size())
        if not window.contains(where) or button.visibleRegion().boundingRect() != button.rect():
            problems.append(f"page {wizard.currentId()}: {button.text()!r} at {where} is cut off")
    return problems


@pytest.mark.parametrize("available", SCREENS, ids=lambda s: f"{s.width()}x{s.height()}")
def test_window_size_fits_the_screen(available: QSize) -> None:
    room = available - FRAME
    size, smallest = window_size(available), minimum_size(available)
    assert size.width() <= room.width() and size.height() <= room.height()
    assert smallest.width() <= size.width() and smallest.height() <= size.height()


def test_every_page_fits_1024x600(qtbot: QtBot, make_wizard: WizardFactory, language: str,
                                  tmp_path: Path) -> None:
    available = QSize(1024, 600)
    wizard = make_wizard()
    fit_to(wizard, QRect(QPoint(0, 0), available))
    problems = unreachable(wizard, available)
    wizard.welcome_page.accept_box.setChecked(True)
    to_components_page(qtbot, wizard, tmp_path / "root")
    wizard.components_page.choose_preset("sft")
    for _ in (PageId.COMPONENTS, PageId.OPTIONS, PageId.SUMMARY):
        problems += unreachable(wizard, available)
        go_next(qtbot, wizard)
    assert wizard.currentId() == PageId.PROGRESS
    problems += unreachable(wizard, available)
    wait_idle(qtbot, wizard)
    problems += unreachable(wizard, available)
    go_next(qtbot, wizard)
    qtbot.waitUntil(lambda: not wizard.finish_page.verify_panel.busy, timeout=RUN_TIMEOUT_MS)
    problems += unreachable(wizard, available)
    assert problems == []


def test_initial_window_fits_the_screen_it_opens_on(qtbot: QtBot, make_wizard: WizardFactory,
                                                    language: str) -> None:
    wizard = make_wizard()
    screen = wizard.screen()
    assert screen is not None
    available = screen.availableGeometry()
    assert wizard.width() <= available.width() and wizard.height() <= available.height()
    assert wizard.minimumWidth() <= available.width() and wizard.minimumHeight() <= available.height()


def test_options_page_fits_768_without_scrolling(qtbot: QtBot, language: str, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QScrollArea

    from wizard.engine.catalog import load_catalog
    from wizard.gui.app import build_state, build_wizard

    wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"))
    qtbot.addWidget(wizard)
    available = QSize(1366, 768)
    fit_to(wizard, QRect(QPoint(0, 0), available))
    wizard.show()
    to_components_page(qtbot, wizard, tmp_path / "root")
    wizard.components_page.choose_preset("all")  # every option group is shown
    wizard.components_page.override.setChecked(True)
    go_next(qtbot, wizard)
    page = wizard.options_page
    assert page.sam_box.isVisible() and page.hub_box.isVisible() and page.local.isVisible()
    assert unreachable(wizard, available) == []
    scroll = page.findChild(QScrollArea)
    assert scroll is not None and scroll.verticalScrollBar().maximum() == 0
    spin = page.concurrency
    assert spin.width() <= spin.sizeHint().width(), "the Jobs at once box is not full width"


def test_job_table_columns_stay_put_and_names_elide(qtbot: QtBot) -> None:
    from wizard.engine.events import JobQueued, Progress, Stage, StageChanged
    from wizard.gui.jobmodel import JobBoard
    from wizard.gui.jobtable import JobTable

    board = JobBoard(clock=lambda: 0.0)
    long_name = "A component with a very long name that would wrap over three lines " * 3
    board.apply(JobQueued("a", long_name, 10_000))
    board.apply(JobQueued("b", "Short", 10_000_000_000))
    table = JobTable()
    qtbot.addWidget(table)
    table.resize(900, 300)
    table.show()
    table.refresh(board, 0.0, set())
    app = QApplication.instance()
    assert app is not None
    app.processEvents()
    row = table.rows["a"]

    def columns() -> list[int]:
        return [w.x() for w in (row.stage, row.bar, row.bytes, row.speed, row.eta)]

    before = columns()
    line = row.name.fontMetrics().height()
    assert row.name.height() < 2 * line, "the name wraps"
    assert row.name.elided().endswith("…") and row.name.toolTip() == long_name
    for event in (StageChanged("b", Stage.DOWNLOADING), Progress("b", Stage.DOWNLOADING, 5_000_000_000, None),
                  StageChanged("a", Stage.PLACING)):
        board.apply(event)
        table.refresh(board, 0.0, set())
        app.processEvents()
        assert columns() == before, f"columns moved after {event}"
