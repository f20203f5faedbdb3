"""The wizard's own small settings file (last data root, language, run options).

Stored as JSON under platformdirs' ``user_config_path``; unreadable or unknown content falls
back to defaults, so a broken file never stops the app from starting. The Hub token is never
stored.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from platformdirs import PlatformDirs

from ..engine.safefs import loads_json, read_regular
from ..engine.settings import MAX_JOBS
from ..paths import APP_NAME

LANGUAGES = ("system", "en", "zh_CN")
#: A settings file is a few hundred bytes; anything past this is not one.
MAX_PREFS_BYTES = 1 << 20


def app_dirs() -> PlatformDirs:
    return PlatformDirs(APP_NAME, appauthor=False)


def default_prefs_path() -> Path:
    return app_dirs().user_config_path / "settings.json"


@dataclass
class Preferences:
    """What the wizard remembers between runs."""

    last_root: str = ""
    language: str = "system"  # one of LANGUAGES
    hub_endpoint: str = ""  # "" = the catalog's default endpoint
    allow_mirrors: bool = False
    keep_archives: bool = False
    full_archives: bool = False
    concurrency: int = 3
    sam_links: str = ""  # the last SA-1B links file chosen
    demo_root: str = ""  # the last data root of the offline demo (kept apart from last_root)

    @classmethod
    def load(cls, path: Path | None) -> Preferences:
        if path is None:
            return cls()
        try:  # never a FIFO (it would hang the start), never more than a settings file can be
            data: Any = loads_json(read_regular(path, MAX_PREFS_BYTES, "the settings file"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        prefs = cls()
        for f in fields(cls):
            value = data.get(f.name)
            if isinstance(value, type(getattr(prefs, f.name))):
                setattr(prefs, f.name, value)
        if prefs.language not in LANGUAGES:
            prefs.language = "system"
        prefs.concurrency = min(MAX_JOBS, max(1, prefs.concurrency))
        return prefs

    def save(self, path: Path | None) -> None:
        """Write atomically; a read-only config folder is not worth an error dialog."""
        if path is None:
            return
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
            os.replace(tmp, path)
