"""Small things a user meets: Open folder without a file manager, the command line with a preset,
the demo's own remembered root, Stop for a repair, HF_ENDPOINT, JSONs read off the GUI thread."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from gui_fixtures import (
    RUN_TIMEOUT_MS,
    WizardFactory,
    demo_session,
    go_next,
    make_wizard,
    start_run,
    to_components_page,
    to_root_page,
    wait_idle,
)
from PySide6.QtCore import QTimer
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from wizard.engine.catalog import load_catalog
from wizard.engine.context import Settings
from wizard.engine.control import Control
from wizard.gui.app import build_state, build_wizard
from wizard.gui.commandline import cli_command
from wizard.gui.pageids import PageId

__all__ = ["demo_session", "make_wizard"]  # fixtures used by name


def test_open_folder_without_a_file_manager_says_so(qtbot: QtBot, make_wizard: WizardFactory, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    wizard = make_wizard()
    root = tmp_path / "root"
    start_run(qtbot, wizard, root, ["coco-train2017"])
    wait_idle(qtbot, wizard)
    go_next(qtbot, wizard)
    page = wizard.finish_page
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: False))
    page.open_button.click()
    assert page.open_status.isVisible()
    assert "No file manager" in page.open_status.text() and str(root) in page.open_status.text()


def test_command_line_names_the_preset() -> None:
    presets = {"sft": ["a", "b", "c"], "small": ["a"]}
    root, settings = Path("/r"), Settings()
    assert cli_command(root, ["a", "b", "c"], settings, presets=presets) == \
        "sharegpt4v-setup run --root /r --preset sft --yes"
    assert cli_command(root, ["a", "b", "c", "d"], settings, presets=presets) == \
        "sharegpt4v-setup run --root /r --preset sft --components d --yes"
    assert cli_command(root, ["b", "d"], settings, presets=presets) == \
        "sharegpt4v-setup run --root /r --components b,d --yes"


def test_demo_honours_a_given_root_and_remembers_it(qtbot: QtBot, platformdirs_isolated: Path,
                                                    tmp_path: Path) -> None:
    from wizard.gui import app as app_module
    from wizard.gui.wizard import SetupWizard

    qapp = QApplication.instance()
    assert isinstance(qapp, QApplication)
    seen: list[str] = []

    def go_through_root_page() -> None:
        # app.main builds the pages after the welcome page once the window has painted
        wizards = [w for w in qapp.topLevelWidgets() if isinstance(w, SetupWizard) and w.isVisible() and w.is_built]
        if not wizards:
            QTimer.singleShot(50, go_through_root_page)
            return
        wizard = wizards[0]
        wizard.welcome_page.accept_box.setChecked(True)
        wizard.next()
        seen.append(wizard.root_page.path.text())
        wizard.next()  # the root is accepted: the demo remembers it
        wizard.close()

    chosen = tmp_path / "my-demo-root"
    for root in (chosen, None):
        QTimer.singleShot(0, go_through_root_page)
        assert app_module.main(demo=True, demo_root=root) == 0
    assert seen == [str(chosen), str(chosen)]
    prefs = json.loads(next(platformdirs_isolated.rglob("settings.json")).read_text())
    assert prefs["demo_root"] == str(chosen) and prefs["last_root"] == ""


def test_repair_can_be_stopped(qtbot: QtBot, make_wizard: WizardFactory, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    import wizard.engine.verify as verify_module

    wizard = make_wizard()
    start_run(qtbot, wizard, tmp_path / "root", ["coco-train2017"])
    wait_idle(qtbot, wizard)
    panel = wizard.finish_page.verify_panel

    def slow_verify(*args: object, control: Control, **kwargs: object) -> object:
        while True:  # a long check: it ends only through the cancel token
            control.checkpoint()
            threading.Event().wait(0.01)

    monkeypatch.setattr(verify_module, "verify", slow_verify)
    wizard.bridge.isolated = False  # the patched check runs in this process (engine child: test_runchild)
    go_next(qtbot, wizard)
    assert panel.busy and panel.stop_button.isVisible() and panel.stop_button.isEnabled()
    with qtbot.waitSignal(panel.busy_changed, timeout=RUN_TIMEOUT_MS):
        panel.stop_button.click()
    assert not panel.busy and not panel.stop_button.isVisible()
    assert "Stopped" in panel.view.verdict.text()


def test_hf_endpoint_host_is_shown(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.example")
    wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"))
    qtbot.addWidget(wizard)
    wizard.show()
    assert "hf-mirror.example" in wizard.options_page.endpoint.itemText(0)
    from wizard.gui.pages.components import COL_HOST

    to_components_page(qtbot, wizard, tmp_path / "root")

    item = wizard.components_page._items["json-pt"]
    assert item.text(COL_HOST) == "hf-mirror.example"


def test_json_on_disk_is_read_off_the_gui_thread(qtbot: QtBot, make_wizard: WizardFactory, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import wizard.engine.subset as subset

    wizard = make_wizard()
    catalog = wizard.state.catalog
    root = tmp_path / "root"
    json_path = subset.json_path(root, catalog.component("json-cap100k"))
    assert json_path is not None
    json_path.parent.mkdir(parents=True)
    json_path.write_text(json.dumps([{"id": "1", "image": "coco/train2017/000000000009.jpg",
                                      "conversations": []}]), encoding="utf-8")
    readers: list[threading.Thread] = []
    real = subset.image_paths

    def recording(path: Path) -> set[str]:
        readers.append(threading.current_thread())
        return real(path)

    monkeypatch.setattr(subset, "image_paths", recording)
    to_components_page(qtbot, wizard, root)
    page = wizard.components_page
    page.set_selection(["json-cap100k", "coco-train2017"])
    qtbot.waitUntil(lambda: not page.reading_annotations and page.isComplete(), timeout=RUN_TIMEOUT_MS)
    # read in the engine child (a thread here would hold the interpreter lock the window needs)
    assert readers == []
    assert list((subset.state_dir(root) / "index").glob("*.counts.json")), "the JSON was read"
    go_next(qtbot, wizard)
    assert wizard.currentId() == PageId.OPTIONS


def test_nothing_keeps_the_process_alive_after_finish(qtbot: QtBot, platformdirs_isolated: Path) -> None:
    """After Finish, main() returns with no non-daemon thread left: the interpreter exits at once."""
    from wizard.gui import app as app_module
    from wizard.gui.wizard import SetupWizard

    qapp = QApplication.instance()
    assert isinstance(qapp, QApplication)
    finished: list[bool] = []

    def drive() -> None:
        wizards = [w for w in qapp.topLevelWidgets() if isinstance(w, SetupWizard) and w.isVisible()]
        if wizards:
            wizard = wizards[0]
            page = wizard.currentId()
            if page == PageId.WELCOME:
                wizard.welcome_page.accept_box.setChecked(True)
                wizard.next()
            elif page == PageId.ROOT:
                wizard.next()
            elif page == PageId.COMPONENTS:
                if not wizard.components_page.selected():
                    wizard.components_page.set_selection(["json-cap100k", "coco-train2017"])
                if wizard.components_page.isComplete():
                    wizard.next()
            elif page in (PageId.OPTIONS, PageId.SUMMARY) or (
                    page == PageId.PROGRESS and wizard.progress_page.isComplete()):
                wizard.next()
            elif page == PageId.FINISH and wizard.finish_page.isComplete():
                finished.append(True)
                wizard.accept()  # Finish
                return
        QTimer.singleShot(50, drive)

    QTimer.singleShot(0, drive)
    assert app_module.main(demo=True) == 0
    assert finished == [True]
    lingering = [t.name for t in threading.enumerate()
                 if t is not threading.main_thread() and t.is_alive() and not t.daemon
                 and not t.name.startswith("pytest_timeout")]  # the test runner's own watchdog
    assert lingering == []


def test_the_root_page_keeps_demo_and_real_roots_apart(qtbot: QtBot, make_wizard: WizardFactory,
                                                       tmp_path: Path) -> None:
    from wizard.engine import demoroot
    from wizard.engine.journal import Journal

    real = tmp_path / "real"
    real.mkdir()
    Journal(real).close()  # a root a real run used
    wizard = make_wizard()  # the demo
    to_root_page(qtbot, wizard, real)
    assert not wizard.root_page.isComplete()
    assert "real data" in wizard.root_page.status.text()

    demo = tmp_path / "demo"
    demo.mkdir()
    demoroot.mark(demo)
    real_wizard = make_wizard(catalog=load_catalog())  # not the demo
    to_root_page(qtbot, real_wizard, demo)
    assert not real_wizard.root_page.isComplete()
    assert "placeholder" in real_wizard.root_page.status.text()
    real_wizard.root_page.path.set_text(str(tmp_path / "elsewhere"))
    assert real_wizard.root_page.isComplete()
