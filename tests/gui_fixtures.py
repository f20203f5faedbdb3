"""Fixtures and helpers for the GUI tests: a demo session per test and a wizard factory.

Import the fixtures into a test module with ``from gui_fixtures import demo_session, make_wizard``.
Every wizard made here is shut down (run cancelled, worker thread joined) before the demo
mirror stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from wizard.demo.session import DemoSession, tree_of
from wizard.engine.catalog import Catalog
from wizard.engine.context import Settings
from wizard.gui.app import build_state, build_wizard
from wizard.gui.bridge import Executor
from wizard.gui.pageids import PageId
from wizard.gui.wizard import SetupWizard

#: Short back-offs so injected faults fail in milliseconds, not minutes.
FAST: dict[str, object] = {"backoff": 0.01, "backoff_cap": 0.05, "retries": 1,
                           "connect_timeout": 5.0, "read_timeout": 10.0}
RUN_TIMEOUT_MS = 20_000

WizardFactory = Callable[..., SetupWizard]


@pytest.fixture
def demo_session(tmp_path: Path) -> Iterator[DemoSession]:
    session = DemoSession(world_dir=tmp_path / "demo-world")
    session.start()
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture
def make_wizard(qtbot: QtBot, demo_session: DemoSession, tmp_path: Path) -> Iterator[WizardFactory]:

    def make(*, catalog: Catalog | None = None, executor: Executor | None = None,
             **settings: object) -> SetupWizard:
        base = Settings(**{**FAST, **settings})  # type: ignore[arg-type]
        if catalog is None:
            state = build_state(session=demo_session, prefs_path=tmp_path / "prefs.json", base_settings=base)
        else:
            state = build_state(catalog=catalog, prefs_path=tmp_path / "prefs.json", base_settings=base)
        wizard = build_wizard(state, executor)
        wizard.confirm_stop = lambda: True  # type: ignore[method-assign]
        # pytest-qt closes and deletes the window after the test: stop its work first (a check the
        # finish page started runs in the engine child; its answer must reach a bridge that exists).
        qtbot.addWidget(wizard, before_close_func=settle)
        wizard.show()
        return wizard

    def settle(wizard: SetupWizard) -> None:
        wizard.bridge.cancel()
        wizard.bridge.resume()
        qtbot.waitUntil(lambda: not wizard.bridge.busy, timeout=RUN_TIMEOUT_MS)

    yield make


class HeldExecutor:
    """An executor that holds the work until the test lets it run (in the test's thread)."""

    def __init__(self) -> None:
        self.work: list[Callable[[], None]] = []

    def start(self, work: Callable[[], None]) -> None:
        self.work.append(work)

    def wait(self, msecs: int) -> bool:
        return not self.work

    def run_held(self) -> None:
        while self.work:
            self.work.pop(0)()


# -- driving the wizard ------------------------------------------------------------------------
def click(qtbot: QtBot, button: object) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QAbstractButton

    assert isinstance(button, QAbstractButton)
    assert button.isVisible(), f"{button.text()!r} is not visible"
    assert button.isEnabled(), f"{button.text()!r} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def next_button(wizard: SetupWizard) -> object:
    from PySide6.QtWidgets import QWizard

    page = wizard.currentPage()
    which = QWizard.WizardButton.CommitButton if page is not None and page.isCommitPage() \
        else QWizard.WizardButton.NextButton
    return wizard.button(which)


def go_next(qtbot: QtBot, wizard: SetupWizard) -> None:
    before = wizard.currentId()
    click(qtbot, next_button(wizard))
    assert wizard.currentId() != before


def to_root_page(qtbot: QtBot, wizard: SetupWizard, root: Path) -> None:
    assert wizard.currentId() == PageId.WELCOME
    wizard.welcome_page.accept_box.setChecked(True)
    go_next(qtbot, wizard)
    wizard.root_page.path.set_text(str(root))


def to_components_page(qtbot: QtBot, wizard: SetupWizard, root: Path) -> None:
    to_root_page(qtbot, wizard, root)
    go_next(qtbot, wizard)
    assert wizard.currentId() == PageId.COMPONENTS
    # JSONs already in the root are read off the GUI thread first; the plan follows
    qtbot.waitUntil(lambda: not wizard.components_page.reading_annotations, timeout=RUN_TIMEOUT_MS)


def start_run(qtbot: QtBot, wizard: SetupWizard, root: Path, ids: list[str]) -> None:
    """From the welcome page to a started run of ``ids`` on ``root``."""
    to_components_page(qtbot, wizard, root)
    wizard.components_page.set_selection(ids)
    go_next(qtbot, wizard)
    assert wizard.currentId() == PageId.OPTIONS
    go_next(qtbot, wizard)
    assert wizard.currentId() == PageId.SUMMARY
    with qtbot.waitSignal(wizard.bridge.started, timeout=RUN_TIMEOUT_MS):
        go_next(qtbot, wizard)
    assert wizard.currentId() == PageId.PROGRESS


def wait_idle(qtbot: QtBot, wizard: SetupWizard) -> None:
    qtbot.waitUntil(lambda: not wizard.bridge.running and wizard.progress_page.isComplete(),
                    timeout=RUN_TIMEOUT_MS)


def data_tree(root: Path) -> set[str]:
    return tree_of(root)


def expected_tree(session: DemoSession, ids: list[str], *, full_archives: bool = False) -> set[str]:
    """What a correct run of ``ids`` leaves (the engine's default: only referenced images)."""
    return session.expected_tree(ids, full_archives=full_archives)
