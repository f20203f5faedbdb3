"""Keep the offline demo's placeholder images and real data in separate roots.

The demo (``--demo``, the wizard's demo mode) fills a root with a few KB of generated images
under the real folder names, and its journal records those components as done. A later real
run on the same root would take them for the real thing ("in place") and training would fail
on missing images; a demo run on a root with real data would mix placeholders into it. So a
demo run marks its root (:func:`mark`), and :func:`check` refuses the other combination before
anything is written: a demo on a root that real runs used, a real plan or run on a demo root.
Roots of older versions' demos are known by the demo's own files in the state folder.
"""

from __future__ import annotations

from pathlib import Path

from .errors import Code, SetupError
from .journal import journal_path, state_dir
from .safefs import write_text_atomic

MARKER = "demo-root"
#: What a demo run of an earlier version left in the state folder (the marker's predecessors).
_OLDER = ("demo-port", "demo-world")
_TEXT = ("This data root was filled by sharegpt4v-setup's offline demo: its images are generated "
         "placeholders, not the ShareGPT4V data.\n")


def is_demo_root(root: Path) -> bool:
    state = state_dir(root)
    return any((state / name).exists() for name in (MARKER, *_OLDER))


def check(root: Path, demo: bool) -> None:
    """Raise ``demo-root`` when ``demo`` does not match what ``root`` holds (see the module)."""
    if demo:
        if not is_demo_root(root) and journal_path(root).exists():
            raise SetupError(Code.DEMO_ROOT, f"{root} holds data prepared from the real sources; the demo "
                             "would mix generated placeholder images into it.",
                             "Give the demo a folder of its own (or leave --root out: it uses one in your "
                             "cache folder).")
    elif is_demo_root(root):
        raise SetupError(Code.DEMO_ROOT, f"{root} was filled by the offline demo: its images are generated "
                         "placeholders that would pass for the real data.",
                         "Choose another folder for the real data, or delete this one first.")


def mark(root: Path) -> None:
    """Record that ``root`` is a demo root (idempotent)."""
    path = state_dir(root) / MARKER
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, _TEXT)
