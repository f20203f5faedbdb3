"""The dependency floors in pyproject.toml: the constraints file CI installs is generated from
them, and the floors the code is known to need are not lowered again."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _floors() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("min_constraints", ROOT / "scripts/min_constraints.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["min_constraints"] = module
    spec.loader.exec_module(module)
    lines = module.floors(ROOT / "pyproject.toml", {"pyside6-essentials"})
    assert all(line.count("==") == 1 for line in lines), lines  # every runtime dependency has a floor
    return dict(line.split("==") for line in lines)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def test_constraints_pin_every_runtime_dependency_to_its_floor() -> None:
    floors = _floors()
    assert set(floors) == {"requests", "gdown", "huggingface_hub", "platformdirs", "ijson", "pysimdjson"}
    assert _version(floors["gdown"]) >= (6, 4, 0)  # download(cancel=, hasher=, timeout=, cookies_file=)


def test_ci_installs_the_floors_and_runs_the_engine_tests_and_the_demo() -> None:
    text = (ROOT / ".ci/run").read_text(encoding="utf-8")
    assert "scripts/min_constraints.py" in text and "-r .venv-floors/wanted.txt" in text
    assert ".venv-floors/bin/python -m pytest" in text and "--ignore-glob='tests/test_gui*.py'" in text
    assert ".venv-floors/bin/python -m wizard run --demo" in text
