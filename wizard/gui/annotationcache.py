"""Reading the annotation JSONs on disk before a plan needs them, off the GUI thread.

A plan shrinks its estimates to the images the selected JSONs reference; the first time it sees
a JSON it parses it (about 4 s for the 1.5 GB pretraining JSON) and caches the counts next to
the data. The components page runs :func:`warm_task` through the bridge first, so the plans it
then builds on the GUI thread only read that cache.
"""

from __future__ import annotations

from pathlib import Path

from ..engine.catalog import Catalog
from ..engine.control import Control
from ..engine.errors import SetupError
from ..engine.events import Emit
from ..engine.subset import counts_for, json_path
from .bridge import Task


def jsons_on_disk(root: Path, catalog: Catalog) -> list[Path]:
    """The catalog's annotation JSONs that are present under ``root``."""
    found = []
    for component in catalog.components:
        path = json_path(root, component)
        if path is not None and path.is_file():
            found.append(path)
    return found


def warm_task(root: Path, catalog: Catalog) -> Task:
    """A bridge task that fills the counts cache of every JSON on disk (a no-op when cached)."""
    def task(emit: Emit, control: Control) -> int:
        read = 0
        for path in jsons_on_disk(root, catalog):
            control.checkpoint()
            try:
                counts_for(root, path, catalog.components)
            except (SetupError, OSError):
                continue  # the plan reports a broken JSON itself
            read += 1
        return read

    return task
