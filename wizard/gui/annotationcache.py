"""Reading the annotation JSONs on disk before a plan needs them, in the engine child.

A plan shrinks its estimates to the images the selected JSONs reference; the first time it sees
a JSON it parses it (4-20 s for the 1.5 GB pretraining JSON) and caches what it found next to
the data. The components page runs :func:`warm_task` through the bridge first — in the engine's
child process, whose parsing never holds this process's interpreter lock (in a thread here it
froze the window for up to a second) — so the plans it then builds on the GUI thread only read
those caches (once: this process keeps what it read, :func:`wizard.engine.subset.remembered`).
"""

from __future__ import annotations

from pathlib import Path

from ..engine.calls import WarmTask
from ..engine.catalog import Catalog, Component
from ..engine.settings import Settings
from ..engine.subset import jsons_on_disk

__all__ = ["jsons_on_disk", "warm_task"]


def warm_task(root: Path, catalog: Catalog, components: list[Component], settings: Settings) -> WarmTask:
    """A bridge task that reads every JSON on disk as the plans of ``components`` will."""
    return WarmTask(root, catalog, components, settings)
