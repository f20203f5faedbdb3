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


# -- layers you can draw: no import cycles in wizard/ ----------------------------------------------
WIZARD = ENGINE.parent


def _under_type_checking(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (those imports never run)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                skip.update(id(n) for n in ast.walk(sub))
    return skip


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports anywhere (functions included), by name."""
    modules: dict[str, tuple[Path, bool]] = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_pkg) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _under_type_checking(tree)
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here[: len(here) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), minus a package importing
    its own submodules (``wizard.engine`` -> ``wizard.engine.x`` is not a design cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)

    def nested(group: list[str]) -> bool:
        return all(any(o.startswith(m + ".") or m.startswith(o + ".") for o in group if o != m) for m in group)

    return [g for g in groups if not nested(g)]


def test_wizard_has_no_import_cycles() -> None:
    graph = import_graph(WIZARD)
    assert len(graph) > 50 and any(graph.values())
    assert import_cycles(graph) == []


def test_the_cycle_check_counts_function_imports_and_skips_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .b import g\n")
    (pkg / "b.py").write_text("from . import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .d import x\n")
    (pkg / "d.py").write_text("from .c import y\n")
    assert import_cycles(import_graph(pkg)) == [["pkg.a", "pkg.b"]]


def test_self_test_is_dispatched_without_cli_and_selftest_importing_each_other() -> None:
    graph = import_graph(WIZARD)
    assert "wizard.selftest" not in graph["wizard.cli"]
    assert {"wizard.cli", "wizard.selftest"} <= graph["wizard.entry"]
