"""``sharegpt4v-setup --self-test``: both checks pass on a good installation and fail loudly otherwise."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from wizard import selftest
from wizard.demo.session import DemoSession


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The self-test's work folder goes under the test's tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_self_test_passes_in_process(qtbot: QtBot, temp_root: Path) -> None:
    out = io.StringIO()
    assert selftest.run(out), out.getvalue()
    report = out.getvalue()
    assert "[1/2] engine (CLI: run --demo --preset all): OK" in report
    assert "holds exactly what the world expects" in report
    assert "[2/2] wizard (offscreen: json-cap100k, coco-train2017, vg-part2): OK" in report
    assert "welcome > root > components > options > summary > progress > finish" in report
    assert report.rstrip().endswith("Self-test passed.")
    assert not any(temp_root.glob("sharegpt4v-selftest-*")), "the work folder is removed after a pass"


def test_cli_flag_runs_it_and_exits_zero(tmp_path: Path) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-m", "wizard", "--self-test"], capture_output=True, text=True,
                          env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Self-test passed." in proc.stdout


def test_a_failing_engine_check_fails_the_self_test(temp_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_cli(argv: list[str]) -> int:
        print("Demo check FAILED: 1 missing, 0 unexpected.")
        print("  missing    coco/train2017/000000000009.jpg")
        return 1

    monkeypatch.setattr("wizard.cli.main", broken_cli)
    monkeypatch.setattr(selftest, "check_wizard",
                        lambda workdir: selftest.CheckResult("wizard", True, "skipped here", 0.0))
    out = io.StringIO()
    assert not selftest.run(out)
    report = out.getvalue()
    assert "[1/2] engine (CLI: run --demo --preset all): FAILED" in report
    assert "exit code 1; Demo check FAILED: 1 missing" in report
    assert "000000000009.jpg" in report  # the CLI's own words are shown
    assert "Self-test FAILED (files kept in" in report
    assert list(temp_root.glob("sharegpt4v-selftest-*")), "the work folder is kept for a look"


def test_the_wizard_check_compares_the_tree(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wizard's run is fine, but the expected tree names one more file: the check must say so."""
    real = DemoSession.expected_tree

    def one_more(self: DemoSession, ids: object, *, full_archives: bool = True) -> set[str]:
        return real(self, ids, full_archives=full_archives) | {"coco/train2017/not-there.jpg"}  # type: ignore[arg-type]

    monkeypatch.setattr(DemoSession, "expected_tree", one_more)
    result = selftest.check_wizard(tmp_path)
    assert not result.ok
    assert result.summary == "tree differs: 1 missing, 0 unexpected"
    assert "missing    coco/train2017/not-there.jpg" in result.details


def test_the_wizard_check_reports_missing_system_libraries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("wizard.syslibs.check_gui", lambda: "The graphical wizard cannot start: libEGL.so.1")
    result = selftest.check_wizard(tmp_path)
    assert not result.ok and result.summary == "Qt cannot start here"
    assert "libEGL.so.1" in result.details


def test_no_usable_temporary_folder_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/tmp full or read-only (the frozen app printed tempfile's FileNotFoundError traceback)."""
    not_a_folder = tmp_path / "tmp"
    not_a_folder.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_folder))
    out = io.StringIO()
    assert not selftest.run(out)
    report = out.getvalue()
    assert report.startswith("Self-test FAILED: it cannot make its work folder (")
    assert "TMPDIR=" in report
