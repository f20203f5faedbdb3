"""The source-kind registry: one object per kind, asked by plan, disk budget, repair and the GUI."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wizard.engine.catalog import parse_catalog
from wizard.engine.errors import Code, SetupError
from wizard.engine.sources import KIND_NAMES, SourceKind, is_known, kind_of, required_keys

WIZARD = Path(__file__).resolve().parent.parent / "wizard"
SOURCES = WIZARD / "engine" / "sources"


def test_every_declared_kind_has_one_object_named_like_its_line() -> None:
    assert set(KIND_NAMES) == {"http", "hub", "drive", "sam-links", "ocrvqa", "local"}
    for name in KIND_NAMES:
        kind = kind_of(name)
        assert isinstance(kind, SourceKind) and kind.name == name
        assert kind_of(name) is kind  # loaded once


def test_an_unknown_kind_is_a_coded_problem() -> None:
    assert not is_known("ftp")
    with pytest.raises(SetupError) as caught:
        kind_of("ftp")
    assert caught.value.problem.code == Code.NO_SOURCE


def _catalog(source: dict[str, object]) -> dict[str, object]:
    return {"schema": 1, "component": [{"id": "c", "target": "c", "source": [source]}]}


@pytest.mark.parametrize("name", [n for n in KIND_NAMES if required_keys(n)])
def test_catalog_validation_asks_the_registry_for_required_keys(name: str) -> None:
    keys = required_keys(name)
    complete = {"kind": name, **{k: "https://example.org/x" if k == "url" else "x" for k in keys}}
    parse_catalog(_catalog(complete))
    for key in keys:
        broken = {k: v for k, v in complete.items() if k != key}
        with pytest.raises(SetupError) as caught:
            parse_catalog(_catalog(broken))
        assert caught.value.problem.code == Code.CATALOG_INVALID
        assert f"missing required key '{key}'" in caught.value.problem.message


def test_the_catalog_suggests_a_registered_kind_for_a_typo() -> None:
    with pytest.raises(SetupError) as caught:
        parse_catalog(_catalog({"kind": "sam-link", "name_format": "x"}))
    assert "did you mean 'sam-links'?" in caught.value.problem.message


def _is_str(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _kind_switches_and_source_imports(path: Path) -> list[str]:
    """Imports of a source module and comparisons of a ``.kind`` with a string, in one file."""
    found: list[str] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = [a.name for a in node.names]
            if module.endswith("sources") and any(n not in {"kind_of", "is_known", "SourceKind", "KIND_NAMES",
                                                            "required_keys", "local_copy"} for n in names):
                found.append(f"{path.name}:{node.lineno} imports {module}.{names}")
            if "sources" in module.split(".")[:-1] and not module.endswith("sources.registry"):
                found.append(f"{path.name}:{node.lineno} imports {module}")
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            kind_attr = any(isinstance(s, ast.Attribute) and s.attr == "kind" for s in sides)
            literal = any(_is_str(s) or (isinstance(s, (ast.Tuple, ast.Set, ast.List))
                                         and any(_is_str(e) for e in s.elts)) for s in sides)
            if kind_attr and literal:
                found.append(f"{path.name}:{node.lineno} compares .kind with a literal")
    return found


def test_no_module_outside_sources_switches_on_a_kind_or_imports_a_source_module() -> None:
    offenders: list[str] = []
    checked = 0
    for path in WIZARD.rglob("*.py"):
        if SOURCES in path.parents:
            continue
        checked += 1
        offenders += _kind_switches_and_source_imports(path)
    assert checked > 40
    assert offenders == []


def test_the_checker_sees_a_switch_and_a_direct_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from .sources.drive import partial_size\n"
                      "from .sources import samlinks\n"
                      "if source.kind == 'drive':\n    pass\n"
                      "if source.kind in ('http', 'hub'):\n    pass\n", encoding="utf-8")
    assert len(_kind_switches_and_source_imports(sample)) == 4


def test_the_registry_and_the_catalog_load_no_source_module() -> None:
    """Kinds are imported on first use: the catalog validates from the declarations alone."""
    code = (
        "import sys, wizard.engine.catalog as c, wizard.engine.sources as s\n"
        "c.load_catalog()\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('wizard.engine.sources.')\n"
        "                and m != 'wizard.engine.sources.registry')\n"
        "heavy = sorted(m for m in ('requests', 'gdown', 'huggingface_hub') if m in sys.modules)\n"
        "print(loaded, heavy); sys.exit(1 if loaded or heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_version_imports_no_transfer_library() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from wizard.entry import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--version'])\n"
        "heavy = sorted(m for m in ('requests', 'gdown', 'huggingface_hub', 'PySide6') if m in sys.modules)\n"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_wizard_opens_without_loading_the_transfer_libraries(tmp_path: Path) -> None:
    """The first window loads neither the runner nor any source kind (and so none of requests,
    gdown, huggingface_hub): kinds are asked when the components page shows, the runner when a
    run starts."""
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from wizard.gui.app import build_state, build_wizard\n"
        "app = QApplication(['t'])\n"
        "from pathlib import Path\n"
        f"wizard = build_wizard(build_state(prefs_path=Path({str(tmp_path / 'p.json')!r})))\n"
        "wizard.show(); app.processEvents()\n"
        "heavy = sorted(m for m in sys.modules if m in ('requests', 'gdown', 'huggingface_hub')\n"
        "               or m.startswith('wizard.engine.sources.') and m != 'wizard.engine.sources.registry')\n"
        "print(heavy); wizard.shutdown(); sys.exit(1 if heavy else 0)"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_module_with_a_kind_object_is_declared_and_vice_versa() -> None:
    """Adding a kind is one module ending in ``KIND = ...`` plus one registry line: neither alone."""
    from wizard.engine.sources import registry

    with_kind = set()
    for path in SOURCES.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "KIND" for t in n.targets)
               for n in tree.body):
            with_kind.add(path.stem)
    assert with_kind == {d.module for d in registry._DECLARED.values()}
