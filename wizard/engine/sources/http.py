"""Plain HTTP(S) files: one URL, one file, through the resumable fetcher in :mod:`wizard.engine.net`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..catalog import Catalog, Component, Source
from ..context import JobContext
from ..net.transfer import download


def fetch(ctx: JobContext, component: Component, source: Source, catalog: Catalog) -> Iterator[Path]:
    """Source module entry point for ``kind = "http"``: one URL, one file."""
    name = source.file_name
    if ctx.item_done(name):
        return
    yield download(ctx, source.url, ctx.downloads / name, size=source.size, sha256=source.sha256)
