"""Entry point of the graphical wizard: ``main(demo)`` builds the application and shows the wizard.

``build_state`` and ``build_wizard`` are what tests and the screenshot script use to get the same
wizard without the application's event loop.

Start-up: the window opens with the welcome page alone and builds its other pages right after
the first frame (:meth:`SetupWizard.finish_build`); this module and the welcome page import
nothing else a later page or a run needs (``tests/test_gui_startup.py`` holds that).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from ..engine.settings import DEMO_MIN_FREE, Settings
from ..paths import default_demo_root, resources_dir, user_cache_dir
from .i18n import resolve_language, switch_language
from .prefs import Preferences, default_prefs_path
from .state import WizardState
from .wizard import SetupWizard

if TYPE_CHECKING:
    from ..demo.session import DemoSession
    from ..engine.catalog import Catalog
    from .bridge import Executor

# Chunk size for the demo: its files are a few KB, so progress needs small reads to be visible.
DEMO_CHUNK = 2048
#: The rest of the wizard is built after the first paint, or after this many ms if the window is
#: not painted by then (it opened minimised or hidden).
BUILD_FALLBACK_MS = 500


def demo_settings(session: DemoSession, base: Settings | None = None) -> Settings:
    """The settings the GUI uses against the demo mirror."""
    return replace(base or Settings(), hf_endpoint=session.base_url, sam_links=session.sam_links,
                   chunk_size=DEMO_CHUNK, demo=True,
                   min_free_bytes=min(DEMO_MIN_FREE, (base or Settings()).min_free_bytes))


def build_state(*, catalog: Catalog | None = None, session: DemoSession | None = None,
                prefs_path: Path | None = None, base_settings: Settings | None = None,
                demo_root: Path | None = None) -> WizardState:
    """The shared state, with preferences applied to the run settings. Without ``catalog`` (and
    outside the demo) the bundled catalog is read when a page first needs it, after the first paint."""
    prefs = Preferences.load(prefs_path)
    base = base_settings or Settings()
    if session is not None:
        catalog = session.catalog
        base = demo_settings(session, base)
    settings = replace(base, allow_mirrors=prefs.allow_mirrors, keep_archives=prefs.keep_archives,
                       full_archives=prefs.full_archives, concurrency=prefs.concurrency)
    if session is None:
        settings.hf_endpoint = base.hf_endpoint or prefs.hub_endpoint or None
        if base.sam_links is None and prefs.sam_links and Path(prefs.sam_links).is_file():
            settings.sam_links = Path(prefs.sam_links)
    loader = _bundled_catalog if catalog is None else partial(_given, catalog)
    state = WizardState(load_catalog=loader, prefs=prefs, prefs_path=prefs_path, demo=session, base_settings=base)
    state.settings = settings
    if session is not None and demo_root is not None:
        state.root = demo_root
    return state


def _bundled_catalog() -> Catalog:
    from ..engine.catalog import load_catalog

    return load_catalog()


def _given(catalog: Catalog) -> Catalog:
    return catalog


def build_wizard(state: WizardState, executor: Executor | None = None, *, complete: bool = True) -> SetupWizard:
    """The wizard over ``state``; ``executor`` swaps the thread strategy of its bridge.

    ``complete=False``: only the welcome page, as the application opens it; the rest comes with
    ``finish_build()`` (by itself after the first paint)."""
    if executor is None:  # the default bridge, made when first needed (not for the first frame)
        return SetupWizard(state, complete=complete)
    from .bridge import EngineBridge

    return SetupWizard(state, EngineBridge(executor), complete=complete)


def _demo_session(root: Path | None, prefs: Preferences) -> tuple[DemoSession, Path]:
    """The demo mirror, started, and the demo's data root: ``root``, else the last one, else a
    folder in the cache."""
    from ..demo.session import DemoSession

    local = "127.0.0.1,localhost"
    for var in ("NO_PROXY", "no_proxy"):  # the demo mirror is on loopback: never via a proxy
        os.environ[var] = ",".join(v for v in (os.environ.get(var), local) if v)
    session = DemoSession(world_dir=user_cache_dir() / "demo-world")
    session.start()
    return session, root or (Path(prefs.demo_root) if prefs.demo_root else default_demo_root())


def _warm_up() -> None:
    from .bridge import warm_up

    warm_up()


def show_unexpected(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """``sys.excepthook`` while the wizard runs: an exception escaping a slot becomes a coded
    problem in a message box (its traceback goes to the log), never a traceback on stderr."""
    if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: the default behaviour
        sys.__excepthook__(exc_type, exc, tb)
        return
    from PySide6.QtWidgets import QMessageBox

    from ..failures import problem_for

    problem, _code = problem_for(exc.with_traceback(tb), None, "the wizard")
    QMessageBox.critical(None, QCoreApplication.translate("App", "Problem"), problem.render())


def main(demo: bool = False, demo_root: Path | None = None) -> int:
    """Run the wizard; returns the process exit code. ``demo_root``: the demo's data root."""
    if QApplication.instance() is None:
        from ..syslibs import check_gui, report

        problem = check_gui()  # a readable message instead of Qt aborting on a missing library
        if problem is not None:
            report(problem)
            return 1
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    QCoreApplication.setApplicationName("sharegpt4v-setup")
    QGuiApplication.setDesktopFileName("sharegpt4v-setup")  # Wayland: the menu entry's icon and name
    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "sharegpt4v-setup.png")))
    prefs_path = default_prefs_path()
    switch_language(app, resolve_language(Preferences.load(prefs_path).language))
    session: DemoSession | None = None
    previous_hook = sys.excepthook
    sys.excepthook = show_unexpected
    try:
        if demo:
            session, demo_root = _demo_session(demo_root, Preferences.load(prefs_path))
        state = build_state(session=session, prefs_path=prefs_path, demo_root=demo_root)
        wizard = build_wizard(state, complete=False)
        # Then import the engine's HTTP stack in the background (not before: it would hold the GIL).
        wizard.built.connect(_warm_up)
        wizard.show()  # its first paint builds the other pages (Next waits for them)
        QTimer.singleShot(BUILD_FALLBACK_MS, wizard, wizard.finish_build)
        app.exec()
        wizard.shutdown()
        return wizard.exit_code
    except Exception as exc:  # never a traceback: a coded problem (an unexpected one goes to the log)
        from PySide6.QtWidgets import QMessageBox

        from ..failures import problem_for

        mapped, code = problem_for(exc, None, "the wizard")
        QMessageBox.critical(None, QCoreApplication.translate("App", "Cannot start"), mapped.render())
        return code
    finally:
        sys.excepthook = previous_hook
        if session is not None:
            session.stop()
        switch_language(app, "en")
