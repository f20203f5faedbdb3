"""Plain HTTP(S) files: one URL, one file, through the resumable fetcher in :mod:`wizard.engine.net`."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

from ..catalog import Catalog, Component, Source
from ..context import JobContext
from ..net.transfer import download
from .registry import SourceKind


def fetch(ctx: JobContext, component: Component, source: Source, catalog: Catalog) -> Iterator[Path]:
    """Source module entry point for ``kind = "http"``: one URL, one file."""
    name = source.file_name
    if ctx.item_done(name):
        return
    yield download(ctx, source.url, ctx.downloads / name, size=source.size, sha256=source.sha256)


class HttpKind(SourceKind):
    """``kind = "http"``: one URL, one file; a zip on a server that honours Range is read remotely."""

    name = "http"

    def fetch(self, ctx: JobContext, component: Component, source: Source, catalog: Catalog, *,
              only: Collection[str] | None = None) -> Iterator[Path]:
        return fetch(ctx, component, source, catalog)

    def remote_file(self, ctx: JobContext, source: Source, catalog: Catalog) -> tuple[str, dict[str, str]] | None:
        return source.url, {}


KIND = HttpKind()
