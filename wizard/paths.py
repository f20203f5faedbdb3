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


def user_cache_dir() -> Path:
    """The per-user cache folder (``~/.cache/sharegpt4v-setup`` on Linux)."""
    from platformdirs import PlatformDirs

    return PlatformDirs(APP_NAME, appauthor=False).user_cache_path


def default_demo_root() -> Path:
    """Where the demo prepares its data when no root is given: in the user's own cache folder,
    never a fixed path in a shared /tmp that another local user could plant first."""
    return user_cache_dir() / "demo-root"
