"""One module per source kind, one shape for all.

Each source module exposes ``fetch(ctx, component, source, catalog) -> Iterator[Path]``: a
generator that downloads (resumably) and verifies each file the source provides and yields its
local path, complete and verified. The pipeline extracts/places each yielded file before the
generator goes on to the next one, so a 51-tar source never holds more than one tar on disk.
A source that places files itself (OCR-VQA images) yields nothing. Files already processed in an
earlier run are skipped by checking ``ctx.item_done(name)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from ..catalog import Catalog, Component, Source
from ..context import JobContext
from ..errors import Code, SetupError

FetchFn = Callable[[JobContext, Component, Source, Catalog], Iterator[Path]]

#: Source kinds this version can fetch.
SUPPORTED_KINDS = frozenset({"http", "hub", "drive", "sam-links", "ocrvqa", "local"})


def fetcher_for(kind: str) -> FetchFn:
    """The fetch function of a source kind (imported lazily: gdown is slow to import)."""
    if kind == "http":
        from . import http

        return http.fetch
    if kind == "hub":
        from . import hub

        return hub.fetch
    if kind == "drive":
        from . import drive

        return drive.fetch
    if kind == "sam-links":
        from . import samlinks

        return samlinks.fetch
    if kind == "ocrvqa":
        from . import ocrvqa

        return ocrvqa.fetch
    if kind == "local":
        from . import local

        return local.fetch
    raise SetupError(Code.NO_SOURCE, f"Source kind '{kind}' is not supported by this version.",
                     "Choose another source for this component or update sharegpt4v-setup.")
