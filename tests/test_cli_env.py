"""The command line as it is started on remote machines: stdin closed or not a terminal (cron,
``nohup … <&-``, a CI step), where a prompt must neither hang nor crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _close_stdin() -> None:
    os.close(0)


@pytest.mark.parametrize("stdin", ["closed", "devnull"])
def test_run_without_yes_and_without_a_terminal_asks_for_yes(tmp_path: Path, stdin: str) -> None:
    root = tmp_path / "root"
    proc = subprocess.run([sys.executable, "-m", "wizard", "run", "--demo", "--root", str(root), "--components",
                           "gqa"], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL if stdin == "devnull" else None,
                          preexec_fn=_close_stdin if stdin == "closed" else None)
    assert proc.returncode == 2, proc.stderr
    assert "[cancelled] Not starting without confirmation." in proc.stderr
    assert "hint: Pass --yes to start without asking." in proc.stderr
    assert "internal" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (root / "gqa").exists()  # nothing was started
