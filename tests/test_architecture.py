"""The engine stays Qt-free: the GUI and the CLI are two observers of one engine."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "wizard" / "engine"


def test_engine_sources_import_no_qt() -> None:
    offenders = []
    for path in ENGINE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module if node.level == 0 else "." * node.level + node.module]
            for name in names:
                if name.startswith(("PySide6", "PyQt", "shiboken", "wizard.gui")) or ".gui" in name:
                    offenders.append(f"{path.name}: {name}")
    assert ENGINE.is_dir() and list(ENGINE.rglob("*.py"))
    assert offenders == []


def test_importing_the_engine_loads_no_qt() -> None:
    code = (
        "import sys, wizard.engine.runner, wizard.engine.plan, wizard.cli\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
