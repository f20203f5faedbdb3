"""GUI pieces in isolation: rate meter, job board, CLI command, preferences, the bridge's threads,
the translation, the PySide6 refcount guard and ``app.main`` in demo mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from gui_fixtures import FAST, RUN_TIMEOUT_MS, demo_session
from PySide6.QtCore import QCoreApplication, QLocale, QObject, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from wizard.demo.session import DemoSession
from wizard.engine.context import Settings
from wizard.engine.errors import Code, Problem
from wizard.engine.events import Event, JobDone, JobQueued, Progress, Stage, StageChanged
from wizard.engine.journal import RootLock
from wizard.engine.plan import build_plan
from wizard.gui import qtcompat
from wizard.gui.app import build_state, build_wizard, demo_settings
from wizard.gui.bridge import EngineBridge, InlineExecutor, QThreadExecutor, ThreadPoolExecutor
from wizard.gui.commandline import cli_command
from wizard.gui.i18n import install_translators, remove_translators, resolve_language, translations_dir
from wizard.gui.jobmodel import JobBoard, RateMeter
from wizard.gui.prefs import Preferences

__all__ = ["demo_session"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_meter_uses_a_rolling_window_and_decays() -> None:
    clock = FakeClock()
    meter = RateMeter(window=10.0, clock=clock)
    assert meter.rate() is None
    for _ in range(20):
        meter.add(int((clock.now - 100.0) * 1000))
        clock.now += 1.0
    assert meter.rate() == pytest.approx(1000, rel=0.15)
    clock.now += 30  # nothing arrives: the speed falls towards zero
    rate = meter.rate()
    assert rate is not None and rate < 500
    meter.add(5)  # the counter went back: a restart, not a negative speed
    assert meter.rate() is None


def test_job_board_overall_progress_and_eta() -> None:
    clock = FakeClock()
    board = JobBoard(clock=clock)
    events: list[Event] = [JobQueued("a", "A", 1000), JobQueued("b", "B", 3000),
                           StageChanged("a", Stage.DOWNLOADING), StageChanged("b", Stage.DOWNLOADING)]
    for event in events:
        board.apply(event)
    for second in range(1, 6):
        clock.now += 1
        board.apply(Progress("b", Stage.DOWNLOADING, second * 200, 3000))
    board.apply(JobDone("a"))
    done, total = board.overall()
    assert (done, total) == (1000 + 1000, 4000)
    eta = board.overall_eta()
    assert eta is not None and eta == pytest.approx(2000 / 200, rel=0.3)
    assert board.jobs["b"].eta() == pytest.approx(2000 / 200, rel=0.3)
    assert board.counts()["done"] == 1
    board.apply(JobQueued("a", "A", 1000))  # a retry starts the job afresh
    assert board.jobs["a"].stage == Stage.QUEUED


def test_cli_command_carries_the_options() -> None:
    settings = Settings(hf_endpoint="https://hf-mirror.com", allow_mirrors=True, keep_archives=True,
                        sam_links=Path("/data/links file.txt"), local={"gqa": Path("/dl/gqa.zip")},
                        concurrency=5, force=True, hf_token="secret")
    command = cli_command(Path("/data/root"), ["json-pt", "sam-tars"], settings,
                          default_endpoint="https://huggingface.co")
    assert command == ("sharegpt4v-setup run --root /data/root --components json-pt,sam-tars --yes "
                       "--hf-endpoint https://hf-mirror.com --sam-links '/data/links file.txt' "
                       "--allow-mirrors --keep-archives --local gqa=/dl/gqa.zip --concurrency 5 --force")
    assert "secret" not in command
    plain = cli_command(Path("/r"), ["gqa"], Settings(hf_endpoint="https://huggingface.co"),
                        default_endpoint="https://huggingface.co")
    assert plain == "sharegpt4v-setup run --root /r --components gqa --yes"


def test_preferences_round_trip_and_survive_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "settings.json"
    prefs = Preferences(last_root="/data", language="zh_CN", concurrency=4, allow_mirrors=True)
    prefs.save(path)
    assert Preferences.load(path) == prefs
    path.write_text("{not json", encoding="utf-8")
    assert Preferences.load(path) == Preferences()
    path.write_text('{"language": "klingon", "concurrency": "many"}', encoding="utf-8")
    loaded = Preferences.load(path)
    assert loaded.language == "system" and loaded.concurrency == 3


def test_preferences_that_are_no_settings_file_fall_back_to_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")  # nested past the parser's depth
    assert Preferences.load(path) == Preferences()
    path.write_text('{"last_root": "/data"}' + " " * (4 << 20), encoding="utf-8")  # 4 MB: not a settings file
    assert Preferences.load(path) == Preferences()
    path.unlink()
    os.mkfifo(path)  # opening it to read would wait for a writer for ever: done in a child with a guard
    code = ("import sys; from pathlib import Path; from wizard.gui.prefs import Preferences; "
            "sys.exit(Preferences.load(Path(sys.argv[1])) != Preferences())")
    done = subprocess.run([sys.executable, "-c", code, str(path)], timeout=120, check=False)
    assert done.returncode == 0


def test_root_choice_is_remembered(qtbot: QtBot, tmp_path: Path, demo_session: DemoSession) -> None:
    from wizard.engine.catalog import load_catalog

    prefs_path = tmp_path / "prefs.json"
    state = build_state(catalog=load_catalog(), prefs_path=prefs_path)
    wizard = build_wizard(state)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.welcome_page.accept_box.setChecked(True)
    wizard.next()
    wizard.root_page.path.set_text(str(tmp_path / "data"))
    wizard.next()
    assert Preferences.load(prefs_path).last_root == str(tmp_path / "data")
    again = build_wizard(build_state(catalog=load_catalog(), prefs_path=prefs_path))
    qtbot.addWidget(again)
    again.show()
    again.welcome_page.accept_box.setChecked(True)
    again.next()
    assert again.root_page.path.text() == str(tmp_path / "data")


def test_root_page_rejects_a_file_and_a_missing_parent(qtbot: QtBot, tmp_path: Path) -> None:
    from wizard.engine.catalog import load_catalog

    wizard = build_wizard(build_state(catalog=load_catalog()))
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.welcome_page.accept_box.setChecked(True)
    wizard.next()
    page = wizard.root_page
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    page.path.set_text(str(afile))
    assert not page.isComplete() and "file, not a folder" in page.status.text()
    page.path.set_text(str(tmp_path / "no" / "such" / "root"))
    assert not page.isComplete() and "parent" in page.status.text()
    page.path.set_text(str(tmp_path / "new"))
    assert page.isComplete() and "free" in page.status.text()


class ThreadProbe(QObject):
    """Records, for every event the bridge delivers, whether it arrived in the GUI thread."""

    def __init__(self) -> None:
        super().__init__()
        self.in_gui_thread: list[bool] = []

    @Slot(object)
    def on_event(self, event: Event) -> None:
        app = QCoreApplication.instance()
        assert app is not None
        self.in_gui_thread.append(QThread.currentThread() is app.thread())


@pytest.mark.parametrize("executor_type", [QThreadExecutor, ThreadPoolExecutor, InlineExecutor])
def test_bridge_delivers_engine_events_in_the_gui_thread(
        qtbot: QtBot, demo_session: DemoSession, tmp_path: Path, executor_type: type) -> None:
    catalog = demo_session.catalog
    settings = demo_settings(demo_session, Settings(**FAST))  # type: ignore[arg-type]
    plan = build_plan(tmp_path, catalog, catalog.resolve(None, ["json-cap100k", "gqa"]), settings)
    bridge = EngineBridge(executor_type())
    probe = ThreadProbe()
    bridge.event_received.connect(probe.on_event)
    with qtbot.waitSignal(bridge.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        bridge.start(plan, catalog, settings)
    assert blocker.args is not None and blocker.args[0].ok
    assert probe.in_gui_thread and all(probe.in_gui_thread)
    assert not bridge.running


def test_bridge_reports_a_locked_root(qtbot: QtBot, demo_session: DemoSession, tmp_path: Path) -> None:
    catalog = demo_session.catalog
    settings = demo_settings(demo_session)
    plan = build_plan(tmp_path, catalog, catalog.resolve(None, ["gqa"]), settings)
    bridge = EngineBridge()
    with RootLock(tmp_path), qtbot.waitSignal(bridge.crashed, timeout=RUN_TIMEOUT_MS) as blocker:
        bridge.start(plan, catalog, settings)
    assert blocker.args is not None
    problem = blocker.args[0]
    assert isinstance(problem, Problem) and problem.code == Code.ROOT_LOCKED


class Pinger(QObject):
    ping = Signal(object)


def test_many_signals_do_not_corrupt_reference_counts(qtbot: QtBot) -> None:
    """PySide6 6.12.0 on CPython 3.11 aborts after a few hundred emits without the guard."""
    pinger = Pinger()
    received: list[int] = []
    pinger.ping.connect(received.append)
    for n in range(20_000):
        pinger.ping.emit(n)
    assert len(received) == 20_000
    assert sys.getrefcount(True) > 0 and sys.getrefcount(None) > 0
    # The guard only acts where the bug is (it measures it); elsewhere it leaves things alone.
    assert qtcompat.guard() is (qtcompat._applied or qtcompat.emit_drops_true())


def test_language_resolution() -> None:
    assert resolve_language("zh_CN") == "zh_CN"
    assert resolve_language("en", QLocale("zh_CN")) == "en"
    assert resolve_language("system", QLocale("zh_CN")) == "zh_CN"
    assert resolve_language("system", QLocale("zh_TW")) == "en"
    assert resolve_language("system", QLocale("de_DE")) == "en"


def test_simplified_chinese_translation_loads(qtbot: QtBot, demo_session: DemoSession, tmp_path: Path) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    assert (translations_dir() / "sharegpt4v_setup_zh_CN.qm").is_file()
    translators = install_translators(app, "zh_CN")
    try:
        assert translators, "the .qm file did not load"
        state = build_state(session=demo_session, prefs_path=tmp_path / "prefs.json")
        wizard = build_wizard(state)
        qtbot.addWidget(wizard)
        assert wizard.welcome_page.title() == "设置 ShareGPT4V 训练数据"
        assert wizard.progress_page.pause_button.text() == "暂停(&P)"
        assert "离线演示" in wizard.windowTitle()
    finally:
        remove_translators(app, translators)
    english = build_wizard(build_state(session=demo_session, prefs_path=tmp_path / "prefs.json"))
    qtbot.addWidget(english)
    assert english.welcome_page.title() == "Set up the ShareGPT4V training data"


def test_main_in_demo_mode_opens_the_demo_and_exits(qtbot: QtBot, platformdirs_isolated: Path) -> None:
    from wizard.gui import app as app_module
    from wizard.gui.wizard import SetupWizard

    seen: dict[str, str] = {}
    qapp = QApplication.instance()
    assert isinstance(qapp, QApplication)

    def close_it() -> None:
        # app.main builds the pages after the welcome page once the window has painted
        wizards = [w for w in qapp.topLevelWidgets() if isinstance(w, SetupWizard) and w.isVisible() and w.is_built]
        if not wizards:
            QTimer.singleShot(50, close_it)
            return
        wizard = wizards[0]
        seen["title"] = wizard.windowTitle()
        wizard.welcome_page.accept_box.setChecked(True)
        wizard.next()
        seen["root"] = wizard.root_page.path.text()
        wizard.close()

    QTimer.singleShot(0, close_it)
    safety = QTimer()
    safety.setSingleShot(True)
    safety.timeout.connect(qapp.quit)
    safety.start(30_000)
    assert app_module.main(demo=True) == 0
    safety.stop()
    assert "demo" in seen["title"]
    assert seen["root"].endswith("demo-root")
    assert str(platformdirs_isolated) in seen["root"]


def test_controls_have_accessible_names_and_buttons_mnemonics(qtbot: QtBot, tmp_path: Path) -> None:
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QAbstractSpinBox,
        QComboBox,
        QHeaderView,
        QLineEdit,
        QPlainTextEdit,
        QProgressBar,
        QTextEdit,
        QWidget,
    )

    from wizard.engine.catalog import load_catalog

    wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"))
    qtbot.addWidget(wizard)
    unnamed, no_mnemonic = [], []
    kinds = (QLineEdit, QComboBox, QAbstractSpinBox, QAbstractItemView, QPlainTextEdit, QTextEdit, QProgressBar)
    for page_id in wizard.pageIds():
        page = wizard.page(page_id)
        for widget in page.findChildren(QWidget):
            ancestors, parent = [], widget.parentWidget()
            while parent is not None:
                ancestors.append(parent)
                parent = parent.parentWidget()
            if isinstance(widget, QHeaderView) or any(isinstance(a, QAbstractSpinBox | QComboBox)
                                                      for a in ancestors):
                continue  # the parts inside a spin box or combo box; a view's header
            if isinstance(widget, kinds) and not widget.accessibleName():
                unnamed.append(f"{type(page).__name__}: {type(widget).__name__}")
            if isinstance(widget, QAbstractButton) and widget.text() and "&" not in widget.text():
                no_mnemonic.append(f"{type(page).__name__}: {widget.text()}")
    assert unnamed == []
    assert no_mnemonic == []
