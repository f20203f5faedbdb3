"""Collect the licenses of everything a frozen build ships: Python and each runtime dependency.

The PyInstaller spec calls :func:`collect` with a list of the distributions it left out; the
result (a ``THIRD-PARTY-NOTICES.txt`` index plus each distribution's license files) goes into
the bundle under ``resources/licenses/third-party/``, where the About dialog finds it. Qt and
PySide6 ship no license files in their wheels: their LGPL-3.0 text and source note are in
``resources/licenses/`` already.

Run it alone to see what it finds::

    .venv/bin/python packaging/third_party.py build/third-party
"""

from __future__ import annotations

import importlib.metadata as md
import re
import shutil
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement

APP = "sharegpt4v-setup"
_LICENSE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure(root: str = APP, skip: Iterable[str] = ()) -> dict[str, md.Distribution]:
    """``root`` and every distribution it needs at run time (no extras), by normalized name."""
    skipped = {normalize(s) for s in skip}
    found: dict[str, md.Distribution] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        key = normalize(name)
        if key in found or key in skipped:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        found[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


def license_of(dist: md.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression
    text = (meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) < 80:
        return text
    classifiers = [c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return ", ".join(classifiers) or "see the license files"


def license_files(dist: md.Distribution) -> list[Path]:
    files = []
    for entry in dist.files or []:
        parts = Path(str(entry)).parts
        if parts and parts[0].endswith(".dist-info") and _LICENSE_FILE.match(parts[-1]):
            files.append(Path(str(dist.locate_file(entry))))
    return [f for f in files if f.is_file()]


def collect(dest: Path, skip: Iterable[str] = ()) -> Path:
    """Write the notices index and the license files under ``dest``; returns the index path."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    lines = [f"Third-party software shipped with {APP}", "=" * 60, "",
             "Each entry: name, version, license (SPDX where the package declares one) and the folder",
             "below holding its license files as published by the project.", ""]
    python_license = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    version = ".".join(map(str, sys.version_info[:3]))
    lines.append(f"Python {version:<28} PSF-2.0{'':<30} python/")
    if python_license.is_file():
        (dest / "python").mkdir()
        shutil.copyfile(python_license, dest / "python" / "LICENSE.txt")
    for key, dist in sorted(runtime_closure(skip=skip).items()):
        if key == normalize(APP):
            continue
        folder = f"{key}/"
        files = license_files(dist)
        if files:
            (dest / key).mkdir()
            for file in files:
                shutil.copyfile(file, dest / key / file.name)
        elif key in ("pyside6-essentials", "shiboken6"):
            folder = "../LGPL-3.0.txt, ../Qt-PySide6-SOURCE.txt"
        else:
            folder = "(no license file in the package)"
        lines.append(f"{dist.metadata['Name'] + ' ' + dist.version:<35} {license_of(dist):<37} {folder}")
    lines += ["", "PySide6/Shiboken6 (Qt for Python) and the Qt libraries are used under LGPL-3.0; see",
              "../LGPL-3.0.txt and ../Qt-PySide6-SOURCE.txt for the text and where to get the source."]
    index = dest / "THIRD-PARTY-NOTICES.txt"
    index.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return index


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "build/third-party")
    print(collect(target).read_text(encoding="utf-8"))
