"""The distribution ships every subpackage and the resources (catalog, translations)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "wizard").rglob("__init__.py")}
    assert found and found <= listed
    assert "wizard.resources" in listed and (ROOT / "resources" / "catalog.toml").is_file()
