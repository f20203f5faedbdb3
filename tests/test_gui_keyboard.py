"""Keyboard access: no two controls on a page share a mnemonic (Alt+letter), in either language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_fixtures import WizardFactory, demo_session, go_next, make_wizard, to_components_page
from PySide6.QtWidgets import QAbstractButton, QApplication, QGroupBox, QLabel, QWidget, QWizard
from pytestqt.qtbot import QtBot

from wizard.engine.catalog import load_catalog
from wizard.gui.app import build_state, build_wizard
from wizard.gui.i18n import install_translators, remove_translators
from wizard.gui.wizard import SetupWizard

__all__ = ["demo_session", "make_wizard"]  # fixtures used by name

_MNEMONIC = re.compile(r"&([^&\s])")


@pytest.fixture(params=["en", "zh_CN"])
def language(request: pytest.FixtureRequest) -> Iterator[str]:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    translators = install_translators(app, request.param)
    yield request.param
    remove_translators(app, translators)


def mnemonic(text: str) -> str | None:
    found = _MNEMONIC.search(text.replace("&&", ""))
    return found.group(1).lower() if found else None


def _text(widget: QWidget) -> str:
    if isinstance(widget, QAbstractButton):
        return widget.text()
    if isinstance(widget, QLabel) and widget.buddy() is not None:
        return widget.text()
    if isinstance(widget, QGroupBox) and widget.isCheckable():
        return widget.title()
    return ""


def clashes(wizard: SetupWizard) -> dict[str, list[str]]:
    """Per page: the mnemonics used more than once, with the texts that use them."""
    found: dict[str, list[str]] = {}
    for page_id in wizard.pageIds():
        page = wizard.page(page_id)
        texts = [wizard.buttonText(which) for which in (
            QWizard.WizardButton.BackButton, QWizard.WizardButton.NextButton,
            QWizard.WizardButton.CancelButton, QWizard.WizardButton.HelpButton)]
        if page.isCommitPage():
            texts.append(page.buttonText(QWizard.WizardButton.CommitButton))
        if page.isFinalPage() or not wizard.page(page_id + 1):
            texts.append(wizard.buttonText(QWizard.WizardButton.FinishButton))
        texts += [t for t in (_text(w) for w in page.findChildren(QWidget)) if t]
        used: dict[str, list[str]] = {}
        for text in texts:
            key = mnemonic(text)
            if key is not None:
                used.setdefault(key, []).append(text)
        for key, users in used.items():
            if len(users) > 1:
                found[f"{type(page).__name__} {key}"] = users
    return found


def test_no_duplicate_mnemonic_on_any_page(qtbot: QtBot, language: str, tmp_path: Path) -> None:
    wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"))
    qtbot.addWidget(wizard)
    assert clashes(wizard) == {}


def test_mnemonic_finder() -> None:
    assert mnemonic("A&bout") == "b" and mnemonic("< &Back") == "b"
    assert mnemonic("关于(&B)") == "b" and mnemonic("Fish && chips") is None


def test_tab_reaches_the_retry_buttons_right_after_the_job_table(qtbot: QtBot, tmp_path: Path) -> None:
    """Job rows are made as jobs appear, after the page's own buttons: Tab must still go through
    the rows' Retry buttons in row order right after the table, then Pause, Cancel, Run again and
    the log — not reach Retry only after everything else."""
    from PySide6.QtCore import Qt

    from wizard.engine.errors import Code, Problem
    from wizard.engine.events import JobFailed, JobQueued, Stage, StageChanged
    from wizard.gui.pageids import PageId

    wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"))
    qtbot.addWidget(wizard)
    wizard.setStartId(int(PageId.PROGRESS))
    wizard.restart()  # no root chosen: the page shows without starting a run
    wizard.show()
    page, board = wizard.progress_page, wizard.state.board
    for job in ("coco", "gqa"):
        board.apply(JobQueued(job, job.upper(), 10))
        board.apply(StageChanged(job, Stage.FAILED))
        board.apply(JobFailed(job, Problem(Code.NETWORK, "The server did not answer.", "Retry later.")))
    page._end_run()
    page.log_toggle.setChecked(True)
    retries = [page.table.rows[job].retry for job in ("coco", "gqa")]
    assert all(r.isVisible() and r.isEnabled() for r in retries)
    stops: list[QWidget] = []
    widget: QWidget = page.table_scroll
    while widget not in stops:  # the Tab chain from the table around the window
        if widget.isVisible() and widget.isEnabled() and widget.focusPolicy() & Qt.FocusPolicy.TabFocus \
                and page.isAncestorOf(widget):
            stops.append(widget)
        widget = widget.nextInFocusChain()
    assert stops == [page.table_scroll, *retries, page.again_button, page.log_toggle, page.log]


def test_a_page_entered_gives_the_focus_to_a_control_in_view(qtbot: QtBot, make_wizard: WizardFactory,
                                                            tmp_path: Path) -> None:
    """QWizard focuses a new page's first focusable child even when the page hid it: on the options
    page without the SA-1B tars that was the hidden links-file field, so a keyboard user saw no
    focus and typed into a field no one sees. The focus goes to the first control in view."""
    wizard = make_wizard()
    to_components_page(qtbot, wizard, tmp_path / "root")
    wizard.components_page.set_selection(["json-sft", "gqa"])
    go_next(qtbot, wizard)
    page = wizard.options_page
    assert wizard.currentPage() is page and not page.sam_box.isVisible()
    focused = wizard.focusWidget()
    assert focused is not None and focused.isVisible() and page.isAncestorOf(focused)
