"""Annotation-driven subsets: which images each component must provide for the selected JSONs.

Once an annotation JSON is on disk, the engine knows exactly which files each image component
must produce (e.g. the few thousand LLaVA-Pretrain images the SFT mixture uses, not all 558K).
Extraction then writes only those members and the plan's disk estimate shrinks. Per-JSON counts
are cached under the state folder (keyed on the JSON's size and mtime) so the plan stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from .annotations import check_path, iter_image_paths, normalize
from .catalog import Component
from .journal import state_dir
from .safefs import loads_json, read_state_text, write_text_atomic


def json_path(root: Path, component: Component) -> Path | None:
    """Where an annotation component's JSON lives under the root (None for image components)."""
    if component.group != "annotations":
        return None
    source = component.sources[0]
    return root / component.target / source.file_name


def image_paths(path: Path) -> set[str]:
    """The distinct, valid image paths an annotation JSON references."""
    found: set[str] = set()
    for image in iter_image_paths(path):
        if image and check_path(image) is None:
            found.add(normalize(image))
    return found


def split_by_component(paths: Iterable[str], components: Iterable[Component]) -> dict[str, set[str]]:
    """Image paths grouped by the component whose target holds them, relative to that target."""
    prefixes = [(c.target + "/", c.id) for c in components if c.group != "annotations"]
    out: dict[str, set[str]] = {cid: set() for _, cid in prefixes}
    for path in paths:
        for prefix, cid in prefixes:
            if path.startswith(prefix):
                out[cid].add(path[len(prefix):])
    return out


def counts_for(root: Path, path: Path, components: Iterable[Component]) -> dict[str, int]:
    """How many images of each component a JSON references (cached by size and mtime)."""
    st = path.stat()
    cache = state_dir(root) / "index" / (path.name + ".counts.json")
    key = [st.st_size, st.st_mtime_ns]
    targets: dict[str, int] | None = None
    try:
        data = loads_json(read_state_text(cache))
        if data.get("key") == key:
            targets = {str(k): int(v) for k, v in data["targets"].items()}
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        targets = None
    if targets is None:
        targets = {}
        for p in image_paths(path):
            head = p.rsplit("/", 1)[0]
            targets[head] = targets.get(head, 0) + 1
        try:  # only a cache: a read-only root or a full disk just means counting again next time
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(cache, json.dumps({"key": key, "targets": targets}))
        except OSError:
            pass
    return _per_component(targets, components)


def _per_component(targets: dict[str, int], components: Iterable[Component]) -> dict[str, int]:
    out: dict[str, int] = {}
    for comp in components:
        prefix = comp.target + "/"
        out[comp.id] = sum(n for folder, n in targets.items()
                           if folder == comp.target or folder.startswith(prefix))
    return out
