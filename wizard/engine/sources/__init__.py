"""One module per source kind, one shape for all, and the registry that finds them.

Each kind (``http``, ``hub``, ``drive``, ``sam-links``, ``ocrvqa``, ``local``) is one module in
this package ending in ``KIND = <a SourceKind subclass>()``: an object that answers everything
the rest of the engine asks of the kind — fetch (with the ``only`` subset), whether it streams,
the bytes still to download and the pieces it comes in (plan and disk budget), why a source
cannot be used, its host (per-host limits) and how the GUI names it, and how repair brings one
file back (:class:`~.registry.SourceKind`). Plan, disk budget, pipeline, repair, runner and the
GUI call :func:`kind_of` and never switch on a kind's name or import a source module.

``fetch`` is a generator that downloads (resumably) and verifies each file the source provides
and yields its local path, complete and verified. The pipeline extracts/places each yielded file
before the generator goes on to the next one, so a 51-tar source never holds more than one tar
on disk. A source that places files itself (OCR-VQA images) yields nothing. Files already
processed in an earlier run are skipped by checking ``ctx.item_done(name)``.

**Adding a kind** = one new module here (its ``fetch`` and, at the end, ``KIND = MyKind()``)
plus one line in :data:`~.registry._DECLARED` (name, module, required catalog keys). The registry
imports a kind's module only when it is first asked for (gdown, requests and huggingface_hub
are slow to import), and imports no other engine module at run time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .registry import KIND_NAMES, SourceKind, is_known, kind_of, required_keys

if TYPE_CHECKING:
    from ..catalog import Source


def local_copy(path: Path) -> Source:
    """The source standing for a copy the user already has at ``path`` (``--local``)."""
    from .local import copy_source

    return copy_source(path)


__all__ = ["KIND_NAMES", "SourceKind", "is_known", "kind_of", "local_copy", "required_keys"]
