"""Check that every place that states the app's version agrees with ``wizard/__init__.py``.

* ``pyproject.toml``: the version is dynamic, read from ``wizard.__version__`` (or, if someone
  makes it static, equal to it);
* ``packaging/sharegpt4v-setup.spec``: computes ``VERSION`` from ``wizard/__init__.py``
  (evaluated here exactly as the spec does it);
* ``packaging/windows/sharegpt4v-setup.iss``: ``#define MyAppVersion "..."``.

Exit 0 when they agree; otherwise print each mismatch and exit 1. Run by ``packaging/build.sh``
and by ``tests/test_packaging_build.py``.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def app_version(root: Path = ROOT) -> str:
    match = re.search(r'^__version__ = "([^"]+)"', (root / "wizard" / "__init__.py").read_text(), re.M)
    if match is None:
        raise ValueError("wizard/__init__.py has no __version__ = \"...\" line")
    return match.group(1)


def pyproject_version(root: Path = ROOT) -> str | None:
    """The version pyproject.toml gives the distribution (None: not determinable)."""
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project = data.get("project", {})
    if "version" in project:
        return str(project["version"])
    if "version" in project.get("dynamic", []):
        attr = data.get("tool", {}).get("setuptools", {}).get("dynamic", {}).get("version", {}).get("attr")
        if attr == "wizard.__version__":
            return app_version(root)
    return None


def spec_version(root: Path = ROOT) -> str | None:
    """Evaluate the spec's ``VERSION = ...`` line the way PyInstaller would."""
    text = (root / "packaging" / "sharegpt4v-setup.spec").read_text(encoding="utf-8")
    line = next((ln for ln in text.splitlines() if ln.startswith("VERSION = ")), None)
    if line is None:
        return None
    namespace: dict[str, object] = {"re": re, "ROOT": root, "Path": Path}
    exec(line, namespace)  # a line of our own spec: re.search(...) over wizard/__init__.py
    value = namespace.get("VERSION")
    return value if isinstance(value, str) else None


def iss_version(root: Path = ROOT) -> str | None:
    text = (root / "packaging" / "windows" / "sharegpt4v-setup.iss").read_text(encoding="utf-8")
    match = re.search(r'^#define MyAppVersion "([^"]+)"', text, re.M)
    return match.group(1) if match else None


def mismatches(root: Path = ROOT) -> list[str]:
    expected = app_version(root)
    found = {"pyproject.toml": pyproject_version(root), "packaging/sharegpt4v-setup.spec": spec_version(root),
             "packaging/windows/sharegpt4v-setup.iss": iss_version(root)}
    return [f"{where}: {value or 'no version found'} (wizard/__init__.py says {expected})"
            for where, value in found.items() if value != expected]


def main() -> int:
    problems = mismatches()
    for problem in problems:
        print(f"version mismatch: {problem}", file=sys.stderr)
    if not problems:
        print(f"versions agree: {app_version()}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
