"""Start-up: ``--version`` imports no engine at all and ``plan`` no runner, Hub or Drive client or
GUI (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("requests", "urllib3", "huggingface_hub", "gdown", "PySide6", "wizard.engine.runner",
         "wizard.engine.pipeline", "wizard.gui")

PROBE = """
import contextlib, io, json, sys
from wizard.entry import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def run_cli(*args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parent.parent)
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def loaded(modules: object, names: tuple[str, ...]) -> list[str]:
    assert isinstance(modules, list)
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


def test_version_imports_no_http_stack_runner_or_gui() -> None:
    from wizard import __version__

    result = run_cli("--version")
    assert result["code"] == 0 and result["out"] == f"sharegpt4v-setup {__version__}\n"
    assert loaded(result["modules"], (*HEAVY, "wizard.engine", "wizard.cli")) == []


def test_plan_imports_no_runner_hub_drive_client_or_gui(tmp_path: Path) -> None:
    result = run_cli("plan", "--root", str(tmp_path), "--preset", "cap100k", "--json")
    assert result["code"] == 0
    plan = json.loads(str(result["out"]))
    assert [c["id"] for c in plan["components"]][:1] == ["json-cap100k"]  # the plan really was built
    assert loaded(result["modules"], ("huggingface_hub", "gdown", "PySide6", "wizard.engine.runner",
                                      "wizard.engine.pipeline", "wizard.gui")) == []
