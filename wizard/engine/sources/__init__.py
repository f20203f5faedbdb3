"""One module per source kind, one shape for all.

Each source module exposes ``fetch(ctx, component, source, catalog) -> Iterator[Path]``: a
generator that downloads (resumably) and verifies each file the source provides and yields its
local path, complete and verified. The pipeline extracts/places each yielded file before the
generator goes on to the next one, so a 51-tar source never holds more than one tar on disk.
A source that places files itself (OCR-VQA images) yields nothing. Files already processed in an
earlier run are skipped by checking ``ctx.item_done(name)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

from ..catalog import Catalog, Component, Source
from ..context import JobContext
from ..errors import Code, SetupError

FetchFn = Callable[[JobContext, Component, Source, Catalog], Iterator[Path]]

#: Source kind -> the module (in this package) that fetches it.
_MODULES = {"http": "http", "hub": "hub", "drive": "drive", "sam-links": "samlinks", "ocrvqa": "ocrvqa",
            "local": "local"}
#: Source kinds this version can fetch.
SUPPORTED_KINDS = frozenset(_MODULES)


def fetcher_for(kind: str) -> FetchFn:
    """The fetch function of a source kind (imported lazily: gdown is slow to import)."""
    module = _MODULES.get(kind)
    if module is None:
        raise SetupError(Code.NO_SOURCE, f"Source kind '{kind}' is not supported by this version.",
                         "Choose another source for this component or update sharegpt4v-setup.")
    fetch: FetchFn = importlib.import_module(f"{__name__}.{module}").fetch
    return fetch
