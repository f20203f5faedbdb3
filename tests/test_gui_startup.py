"""A fast first window: ``sharegpt4v-setup`` paints the wizard with its welcome page before it
imports the download libraries, the other pages, the engine's run machinery or PySide6's ``Qt``
namespace; the other pages are built right after that first frame, and Next waits for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot

from wizard.engine.catalog import load_catalog
from wizard.engine.errors import Code, SetupError
from wizard.failures import EXIT_USAGE
from wizard.gui.app import build_state, build_wizard
from wizard.gui.pageids import PageId

HEAVY = ("requests", "urllib3", "huggingface_hub", "httpx", "gdown")
#: Modules the first window does without: they load with the pages built after its first paint.
LATER = ("wizard.gui.pages.root", "wizard.gui.pages.components", "wizard.gui.pages.options",
         "wizard.gui.pages.summary", "wizard.gui.pages.progress", "wizard.gui.pages.finish",
         "wizard.engine.plan", "wizard.engine.context", "wizard.engine.journal", "wizard.engine.runner",
         "wizard.failures", "wizard.gui.bridge", "wizard.engine.events",
         # the catalog (its usage terms fill the welcome page right after the first frame)
         "wizard.engine.catalog", "tomllib")

# What the command does (wizard.cli.main with no arguments), stopped at the first painted window.
PROBE = r"""
import json, os, sys
from wizard.cli import main
from PySide6 import QtCore
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and obj.isWidgetType() and obj.isWindow():
            loaded = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY or m in LATER)
            built = [w.is_built for w in QApplication.topLevelWidgets() if hasattr(w, "is_built")]
            # PySide6 creates a type (and its enums) when it is first read: "Qt" is not in the
            # module's dict until then.
            print(json.dumps({"loaded": loaded, "qt_namespace": "Qt" in vars(QtCore), "built": built}))
            sys.stdout.flush()
            os._exit(0)
        return False

app = QApplication(sys.argv[:1])
watch = FirstPaint()
app.installEventFilter(watch)
main([])
"""


def test_first_window_imports_only_what_it_shows(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "XDG_STATE_HOME": str(tmp_path / "state"),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                          os.environ.get("PYTHONPATH", "")])}
    code = f"HEAVY = {HEAVY!r}\nLATER = {LATER!r}\n" + PROBE
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    first_paint = json.loads(proc.stdout.strip().splitlines()[-1])
    assert first_paint == {"loaded": [], "qt_namespace": False, "built": [False]}


def test_the_rest_is_built_on_demand_and_next_waits_for_it(qtbot: QtBot, tmp_path: Path) -> None:
    wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"), complete=False)
    qtbot.addWidget(wizard)
    assert wizard.pageIds() == [PageId.WELCOME] and not wizard.is_built
    wizard.show()  # (its first paint would build the rest too: no events are processed here)
    wizard.welcome_page.accept_box.setChecked(True)
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    assert not next_button.isEnabled()  # the terms are accepted, but there is no page to go to yet
    built: list[bool] = []
    wizard.built.connect(lambda: built.append(True))
    wizard.finish_build()
    wizard.finish_build()  # once only
    assert wizard.pageIds() == [int(p) for p in PageId] and wizard.is_built and built == [True]
    assert next_button.isEnabled()


def test_the_first_paint_builds_the_rest(qtbot: QtBot, tmp_path: Path) -> None:
    wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"), complete=False)
    qtbot.addWidget(wizard)
    wizard.show()
    # Before the rest exists the button row is the one of a first page: Next (disabled), no Finish.
    assert wizard.button(QWizard.WizardButton.NextButton).isVisible()
    assert not wizard.button(QWizard.WizardButton.FinishButton).isVisible()
    with qtbot.waitSignal(wizard.built, timeout=10_000):
        pass
    wizard.welcome_page.accept_box.setChecked(True)
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.NextButton), Qt.MouseButton.LeftButton)
    assert wizard.currentId() == PageId.ROOT



def test_the_usage_terms_come_with_the_rest(qtbot: QtBot, tmp_path: Path) -> None:
    catalog = load_catalog()
    wizard = build_wizard(build_state(catalog=catalog, prefs_path=tmp_path / "prefs.json"), complete=False)
    qtbot.addWidget(wizard)
    usage = next(c.usage for c in catalog.components if c.usage)
    assert usage not in wizard.welcome_page.terms.toPlainText()  # the first frame does not read the catalog
    wizard.finish_build()
    assert usage in wizard.welcome_page.terms.toPlainText()


def test_a_catalog_that_cannot_be_read_closes_the_wizard_with_its_problem(
        qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append(f"{title}: {text}"))
    state = build_state(prefs_path=tmp_path / "prefs.json")

    def damaged() -> None:
        raise SetupError(Code.CATALOG_INVALID, "The catalog is not valid TOML.", "Reinstall the application.")

    state.load_catalog = damaged  # type: ignore[assignment]
    wizard = build_wizard(state, complete=False)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.finish_build()
    assert len(shown) == 1 and "not valid TOML" in shown[0] and "Reinstall" in shown[0]
    assert not wizard.isVisible() and wizard.exit_code == EXIT_USAGE
    assert wizard.pageIds() == [PageId.WELCOME]
