"""Walk every page of the wizard in demo mode in a real window and save screenshots, in English
and in Simplified Chinese, at the size the wizard takes on the screen it runs on.

Run under a display of the size to document, e.g.::

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/screenshots.py
    xvfb-run -a -s "-screen 0 1024x600x24" .venv/bin/python scripts/screenshots.py

Writes ``docs/screenshots/<W>x<H>/01-welcome.png`` … ``07-finish.png`` and the same pages with a
``-zh_CN`` suffix (Chinese needs a CJK font: ``apt-get install fonts-noto-cjk``; the script
refuses to take boxes for glyphs). The demo mirror is throttled so the progress page is caught
mid-way, and one component is made to fail (HTTP 500) so the progress and finish pages show an
error with its hint and Retry. Each shot is checked: the window fits the screen and every
button of the wizard is inside it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QEventLoop, QPoint, QRect
from PySide6.QtWidgets import QApplication, QWizard

from wizard.demo import Fault
from wizard.demo.session import DemoSession
from wizard.engine.context import Settings
from wizard.gui.app import build_state, build_wizard
from wizard.gui.i18n import current_language, missing_font, switch_language
from wizard.gui.wizard import SetupWizard

PRESET = "sft"
SUFFIX = {"en": "", "zh_CN": "-zh_CN"}
FAILING = "textvqa"


def spin(app: QApplication, until: Callable[[], bool], timeout: float = 60.0,
         state: Callable[[], object] | None = None) -> None:
    """Run the event loop until ``until()`` holds (raises after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the wizard did not get there in time: {state() if state else ''}")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def settle(app: QApplication, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    spin(app, lambda: time.monotonic() >= end)


def shoot(app: QApplication, wizard: SetupWizard, out: Path, name: str) -> None:
    settle(app)
    check_fits(wizard)
    path = out / f"{name}{SUFFIX[current_language()]}.png"
    if not wizard.grab().save(str(path)):
        raise OSError(f"could not write {path}")
    print(f"wrote {path}")


def check_fits(wizard: SetupWizard) -> None:
    """The window lies within the screen's available area and its buttons within the window."""
    screen = wizard.screen()
    assert screen is not None
    available, frame = screen.availableGeometry(), wizard.frameGeometry()
    if not available.contains(frame):
        raise RuntimeError(f"page {wizard.currentId()}: window {frame} is not inside the screen {available}")
    for which in (QWizard.WizardButton.BackButton, QWizard.WizardButton.NextButton,
                  QWizard.WizardButton.CommitButton, QWizard.WizardButton.FinishButton,
                  QWizard.WizardButton.CancelButton, QWizard.WizardButton.HelpButton):
        button = wizard.button(which)
        if button.isVisible() and not wizard.rect().contains(QRect(button.mapTo(wizard, QPoint(0, 0)),
                                                                   button.size())):
            raise RuntimeError(f"page {wizard.currentId()}: {button.text()!r} is outside the window")


def press_next(app: QApplication, wizard: SetupWizard) -> None:
    page = wizard.currentPage()
    which = QWizard.WizardButton.CommitButton if page.isCommitPage() else QWizard.WizardButton.NextButton
    button = wizard.button(which)
    if not button.isEnabled():
        raise RuntimeError(f"{button.text()} is disabled on page {wizard.currentId()}")
    button.click()
    settle(app, 0.1)


def make_wizard(session: DemoSession, work: Path) -> SetupWizard:
    base = Settings(backoff=0.05, backoff_cap=0.2, retries=1)
    state = build_state(session=session, prefs_path=work / "prefs.json", base_settings=base,
                        demo_root=work / "demo-root")
    wizard = build_wizard(state)
    wizard.show()
    return wizard


def walk(app: QApplication, session: DemoSession, work: Path, out: Path) -> None:
    """Every page in the current language, a run with one failing part included."""
    assert session.server is not None
    work.mkdir(parents=True, exist_ok=True)
    session.server.clear_faults()
    wizard = make_wizard(session, work)
    wizard.welcome_page.accept_box.setChecked(True)
    shoot(app, wizard, out, "01-welcome")
    press_next(app, wizard)
    shoot(app, wizard, out, "02-root")
    press_next(app, wizard)
    wizard.components_page.choose_preset(PRESET)
    shoot(app, wizard, out, "03-components")
    press_next(app, wizard)
    shoot(app, wizard, out, "04-options")
    wizard.back()  # the pretraining preset needs the SA-1B links file: show its check too
    wizard.components_page.choose_preset("pt")
    wizard.components_page.override.setChecked(True)
    press_next(app, wizard)
    shoot(app, wizard, out, "04b-options-sam-links")
    wizard.back()
    wizard.components_page.choose_preset(PRESET)
    press_next(app, wizard)
    press_next(app, wizard)
    shoot(app, wizard, out, "05-summary")

    failing = urlsplit(session.catalog.component(FAILING).sources[0].url).path
    session.server.add_fault(failing, Fault(status=500, times=None))
    session.server.add_fault("/", Fault(rate=2_500, times=None))
    press_next(app, wizard)
    board = wizard.state.board
    spin(app, lambda: FAILING in board.jobs and board.jobs[FAILING].problem is not None
         and sum(1 for j in board.jobs.values() if j.downloaded > 0 and not j.finished) >= 2,
         state=lambda: [(j.job, j.stage.value, j.downloaded, j.problem) for j in board.jobs.values()])
    settle(app, 1.2)
    shoot(app, wizard, out, "06-progress")
    session.server.clear_faults()
    session.server.add_fault(failing, Fault(status=500, times=None))
    spin(app, lambda: not wizard.bridge.running)
    wizard.progress_page.log_toggle.setChecked(True)
    shoot(app, wizard, out, "06b-progress-finished")
    press_next(app, wizard)
    shoot(app, wizard, out, "07-finish")
    wizard.close()


def in_language(app: QApplication, language: str, session: DemoSession, work: Path, out: Path) -> None:
    if language != "en":
        package = missing_font(language)
        if package is not None:
            raise SystemExit(f"no font for {language}: install {package} (the shots would show boxes)")
    switch_language(app, language)
    try:
        walk(app, session, work / language, out)
    finally:
        switch_language(app, "en")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "screenshots",
                        help="folder for the <W>x<H> subfolder of the shots")
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    screen = app.primaryScreen().size()
    out = args.out / f"{screen.width()}x{screen.height()}"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sharegpt4v-shots-") as tmp:
        work = Path(tmp)
        session = DemoSession(world_dir=work / "demo-world")
        session.start()
        try:
            for language in ("en", "zh_CN"):
                in_language(app, language, session, work, out)
        finally:
            session.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
