"""Annotation-driven subsets: which images each component must provide for the selected JSONs.

Once an annotation JSON is on disk, the engine knows exactly which files each image component
must produce (e.g. the few thousand LLaVA-Pretrain images the SFT mixture uses, not all 558K).
Extraction then writes only those members and the plan's disk estimate shrinks. Per-JSON counts
are cached under the state folder (keyed on the JSON's size and mtime) so the plan stays fast.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import TypeVar

from .annotations import check_path, iter_image_paths, normalize
from .catalog import Catalog, Component
from .errors import SetupError
from .journal import state_dir
from .safefs import loads_json, read_state_text, write_text_atomic

T = TypeVar("T")
#: What was read from the JSONs lately, kept in this process: a plan (the wizard makes one on
#: every click, on its GUI thread) never reads a 1.5 GB JSON twice, nor its cache files again, and
#: a cache that could not be written (a full disk) does not mean a new read every time.
_REMEMBERED = 8
_memo: OrderedDict[Hashable, object] = OrderedDict()
_memo_lock = threading.Lock()


def remembered(key: Hashable, read: Callable[[], T]) -> T:
    """``read()``'s value for ``key`` (which names the JSON's size and mtime), read once while
    among the last :data:`_REMEMBERED` asked for; a JSON that cannot be read (a
    :class:`SetupError`: truncated, not a list...) raises the same error again without a new read."""
    with _memo_lock:
        if key in _memo:
            _memo.move_to_end(key)
            known = _memo[key]
            if isinstance(known, SetupError):
                raise SetupError.of(known.problem)
            return known  # type: ignore[return-value]
    try:
        value = read()
    except SetupError as exc:
        _keep(key, exc)
        raise
    _keep(key, value)
    return value


def _keep(key: Hashable, outcome: object) -> None:
    with _memo_lock:
        _memo[key] = outcome
        while len(_memo) > _REMEMBERED:
            _memo.popitem(last=False)


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


def jsons_on_disk(root: Path, catalog: Catalog) -> list[Path]:
    """The catalog's annotation JSONs that are present under ``root``."""
    found = []
    for component in catalog.components:
        path = json_path(root, component)
        if path is not None and path.is_file():
            found.append(path)
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
    targets = remembered(("counts", str(path.absolute()), st.st_size, st.st_mtime_ns),
                         lambda: _folder_counts(root, path, [st.st_size, st.st_mtime_ns]))
    return _per_component(targets, components)


def _folder_counts(root: Path, path: Path, key: list[int]) -> dict[str, int]:
    """Distinct images per folder a JSON references: from its cache file, else read (and cached)."""
    cache = state_dir(root) / "index" / (path.name + ".counts.json")
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
    return targets


def _per_component(targets: dict[str, int], components: Iterable[Component]) -> dict[str, int]:
    out: dict[str, int] = {}
    for comp in components:
        prefix = comp.target + "/"
        out[comp.id] = sum(n for folder, n in targets.items()
                           if folder == comp.target or folder.startswith(prefix))
    return out
