"""Walk every page of the wizard in demo mode in a real window and save screenshots.

Run under a display, e.g.::

    xvfb-run -a -s "-screen 0 1600x1200x24" .venv/bin/python scripts/screenshots.py

Writes ``docs/screenshots/01-welcome.png`` … ``07-finish.png`` plus two pages in Simplified Chinese.
The demo mirror is throttled so the progress page is caught mid-way, and one component is made
to fail (HTTP 500) so the progress and finish pages show an error with its hint and Retry.
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

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication, QWizard

from wizard.demo import Fault
from wizard.demo.session import DemoSession
from wizard.engine.context import Settings
from wizard.gui.app import build_state, build_wizard
from wizard.gui.i18n import install_translators, remove_translators
from wizard.gui.wizard import SetupWizard

PRESET = "sft"
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
    path = out / f"{name}.png"
    if not wizard.grab().save(str(path)):
        raise OSError(f"could not write {path}")
    print(f"wrote {path}")


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


def english_walk(app: QApplication, session: DemoSession, work: Path, out: Path) -> None:
    assert session.server is not None
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


def chinese_welcome(app: QApplication, session: DemoSession, work: Path, out: Path) -> None:
    translators = install_translators(app, "zh_CN")
    try:
        wizard = make_wizard(session, work / "zh")
        wizard.welcome_page.accept_box.setChecked(True)
        shoot(app, wizard, out, "08-welcome-zh_CN")
        press_next(app, wizard)
        press_next(app, wizard)
        wizard.components_page.choose_preset(PRESET)
        shoot(app, wizard, out, "09-components-zh_CN")
        wizard.close()
    finally:
        remove_translators(app, translators)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="sharegpt4v-shots-") as tmp:
        work = Path(tmp)
        (work / "zh").mkdir()
        session = DemoSession(world_dir=work / "demo-world")
        session.start()
        try:
            english_walk(app, session, work, args.out)
            chinese_welcome(app, session, work, args.out)
        finally:
            session.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
