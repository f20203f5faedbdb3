"""Where the app finds its bundled resources and keeps its per-user settings."""

from __future__ import annotations

import sys
from pathlib import Path

APP_NAME = "sharegpt4v-setup"
#: Folder under the data root that holds the journal, lock, downloads and reports.
STATE_DIR_NAME = ".sharegpt4v-setup"


def resources_dir() -> Path:
    """The ``resources/`` folder: in a PyInstaller bundle, a wheel install, or a source checkout."""
    frozen = getattr(sys, "_MEIPASS", None)
    candidates = []
    if frozen:
        candidates.append(Path(frozen) / "resources")
    here = Path(__file__).resolve().parent
    candidates += [here / "resources", here.parent / "resources"]
    for candidate in candidates:
        if (candidate / "catalog.toml").is_file():
            return candidate
    raise FileNotFoundError("resources/catalog.toml not found next to the application")


def default_catalog_path() -> Path:
    return resources_dir() / "catalog.toml"
