"""``sharegpt4v-setup --self-test``: the offline demo end to end, headless, in this very installation.

Two checks, each on its own temporary data root against the loopback demo mirror:

1. **engine** — the CLI path (``run --demo --preset all --yes``); the CLI compares the tree on
   disk with what the demo world says a correct run leaves (``DemoSession.check_tree``).
2. **wizard** — the Qt wizard on the ``offscreen`` platform (unless ``QT_QPA_PLATFORM`` says
   otherwise), driven page by page to the progress page with a small selection; the event loop
   runs until the run finishes (or a timeout), then the tree on disk must equal the expected one.

It needs no pytest and reads nothing outside the installed package, so it is what the packaging
smoke-runs inside the frozen PyInstaller bundle. Exit 0 only when both checks pass.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from . import __version__

#: The components the wizard check selects: one annotation JSON and two image archives.
WIZARD_COMPONENTS = ("json-cap100k", "coco-train2017", "vg-part2")
#: How long the wizard's run may take before the check gives up (seconds).
WIZARD_TIMEOUT = 120.0


@dataclass
class CheckResult:
    """The outcome of one check, with the lines worth showing when it failed."""

    name: str
    ok: bool
    summary: str
    seconds: float
    details: str = ""


def _prepare_environment() -> None:
    """Loopback only, no telemetry, and a Qt platform that needs no screen."""
    local = "127.0.0.1,localhost"
    for var in ("NO_PROXY", "no_proxy"):
        os.environ[var] = ",".join(v for v in (os.environ.get(var), local) if v)
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def check_engine(workdir: Path) -> CheckResult:
    """Run the demo through the CLI, exactly as ``sharegpt4v-setup run --demo`` does."""
    from .cli import main as cli_main

    root = workdir / "engine-root"
    buffer = io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            code = cli_main(["run", "--demo", "--root", str(root), "--preset", "all", "--yes", "--quiet"])
        except Exception as exc:  # a self-test reports, it does not crash
            print(f"{type(exc).__name__}: {exc}")
            code = -1
    seconds = time.monotonic() - start
    output = buffer.getvalue()
    verdict = next((line for line in output.splitlines() if line.startswith("Demo check")), "")
    ok = code == 0 and verdict.startswith("Demo check: ")
    summary = verdict.removeprefix("Demo check: ") if ok else f"exit code {code}; {verdict or 'no demo check ran'}"
    return CheckResult("engine (CLI: run --demo --preset all)", ok, summary, seconds, "" if ok else output)


def check_wizard(workdir: Path, components: Sequence[str] = WIZARD_COMPONENTS,
                 timeout: float = WIZARD_TIMEOUT) -> CheckResult:
    """Drive the wizard offscreen from the welcome page to a finished run, then check the tree."""
    name = f"wizard ({os.environ.get('QT_QPA_PLATFORM', 'default')}: {', '.join(components)})"
    start = time.monotonic()
    from .syslibs import check_gui

    problem = check_gui()
    if problem is not None:
        return CheckResult(name, False, "Qt cannot start here", 0.0, problem)
    ok, summary, details = _drive_wizard(workdir, list(components), timeout)
    return CheckResult(name, ok, summary, time.monotonic() - start, details)


def _drive_wizard(workdir: Path, components: list[str], timeout: float) -> tuple[bool, str, str]:
    from PySide6.QtCore import QEventLoop, QMessageLogContext, QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from .demo.session import DemoSession, tree_of
    from .engine.context import Settings
    from .gui.app import build_state, build_wizard
    from .gui.pageids import PageId

    qt_messages: list[str] = []

    def on_qt_message(kind: QtMsgType, context: QMessageLogContext, text: str) -> None:
        # The offscreen plugin warns about window hints it ignores; keep Qt's words for a failure report.
        if "propagateSizeHints" not in text:
            qt_messages.append(f"Qt: {text}")

    def fail(summary: str, details: str = "") -> tuple[bool, str, str]:
        return False, summary, "\n".join([details.rstrip(), *qt_messages[-20:]]).strip()

    previous_handler = qInstallMessageHandler(on_qt_message)
    app = QApplication.instance() or QApplication(["sharegpt4v-setup"])
    assert isinstance(app, QApplication)
    session = DemoSession(world_dir=workdir / "wizard-world")
    wizard = None
    try:
        session.start()
        root = workdir / "wizard-root"
        base = Settings(retries=2, backoff=0.05, backoff_cap=0.2)
        state = build_state(session=session, prefs_path=workdir / "prefs.json", base_settings=base)
        wizard = build_wizard(state)
        wizard.show()
        steps: list[str] = []

        def step(expected: PageId, action: Callable[[], None] | None = None) -> None:
            if action is not None:
                action()
            wizard.next()  # what the Next / Commit button does (validatePage, then the next page)
            app.processEvents()
            steps.append(PageId(wizard.currentId()).name.lower())
            if wizard.currentId() != expected:
                raise RuntimeError(f"expected page {expected.name}, the wizard is on {steps[-1]}")

        step(PageId.ROOT, lambda: wizard.welcome_page.accept_box.setChecked(True))
        step(PageId.COMPONENTS, lambda: wizard.root_page.path.set_text(str(root)))
        step(PageId.OPTIONS, lambda: wizard.components_page.set_selection(components))
        step(PageId.SUMMARY)
        step(PageId.PROGRESS)  # the commit page: this starts the run

        # The progress page may first work out the plan's totals (a call on the worker thread),
        # then start the run: wait until a run has ended (finished or crashed) and the bridge is free.
        ended: list[object] = []
        wizard.bridge.finished.connect(ended.append)
        wizard.bridge.crashed.connect(ended.append)
        deadline = time.monotonic() + timeout
        while (not ended or wizard.bridge.busy) and time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            if not ended and not wizard.bridge.busy:
                time.sleep(0.01)  # nothing queued yet: the run is about to start
        app.processEvents()
        if not ended or wizard.bridge.running:
            return fail(f"the run did not finish within {timeout:.0f} s", wizard.progress_page.log.toPlainText())
        result = wizard.progress_page.last_result
        if result is None or not result.ok:
            return fail("the run did not succeed", wizard.progress_page.log.toPlainText())
        if not wizard.progress_page.isComplete():
            return fail("the progress page did not let the user go on")
        step(PageId.FINISH)

        expected = session.expected_tree(components, full_archives=state.settings.full_archives)
        actual = tree_of(root)
        if actual != expected:
            missing, extra = sorted(expected - actual), sorted(actual - expected)
            details = "\n".join([*(f"  missing    {p}" for p in missing[:20]),
                                 *(f"  unexpected {p}" for p in extra[:20])])
            return fail(f"tree differs: {len(missing)} missing, {len(extra)} unexpected", details)
        return True, f"pages {' > '.join(['welcome', *steps])}; {len(actual)} files as expected", ""
    except Exception as exc:
        import traceback

        return fail(f"{type(exc).__name__}: {exc}", traceback.format_exc())
    finally:
        qInstallMessageHandler(previous_handler)
        if wizard is not None:
            wizard.shutdown()
            wizard.close()
            wizard.deleteLater()
            app.processEvents()
        session.stop()


def run(out: TextIO | None = None, *, keep: bool = False) -> bool:
    """Run both checks and print a short report to ``out``; True when both pass."""
    stream = out or sys.stdout
    _prepare_environment()
    try:
        workdir = Path(tempfile.mkdtemp(prefix="sharegpt4v-selftest-"))
    except OSError as exc:  # /tmp full or read-only, TMPDIR unusable: say so, no traceback
        print(f"Self-test FAILED: it cannot make its work folder ({exc}).\n"
              "Point TMPDIR at a writable folder with some free space (about 10 MB), e.g.\n"
              "  TMPDIR=$HOME sharegpt4v-setup --self-test", file=stream)
        return False
    print(f"sharegpt4v-setup {__version__} self-test (offline demo, work folder {workdir})", file=stream)
    results = []
    for number, check in enumerate((check_engine, check_wizard), start=1):
        result = check(workdir)
        results.append(result)
        mark = "OK" if result.ok else "FAILED"
        print(f"[{number}/2] {result.name}: {mark} in {result.seconds:.1f} s — {result.summary}", file=stream)
        if result.details:
            print("\n".join("    " + line for line in result.details.rstrip().splitlines()[-40:]), file=stream)
    passed = all(r.ok for r in results)
    if passed and not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print("Self-test passed." if passed else f"Self-test FAILED (files kept in {workdir}).", file=stream)
    return passed


def main() -> int:
    """Entry point of ``sharegpt4v-setup --self-test``: exit code 0 when everything works."""
    return 0 if run() else 1
