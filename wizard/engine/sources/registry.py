"""The source-kind registry: one :class:`SourceKind` object per kind answers what the engine asks.

Plan, disk budget, pipeline, repair, the runner's host limits and the GUI ask the kind object of
a source (``kind_of(source.kind)``) instead of switching on the kind's name. Each line of
:data:`_DECLARED` declares a kind: its name, the module that implements it and the catalog keys
its sources must have. The catalog validates those keys from this table without importing any
source module; the module (and with it requests, gdown, huggingface_hub) is imported only when
the kind object is first asked for.

This module imports no other engine module at run time (only for type checking), so the
catalog, the lowest layer that needs it, can import it without a cycle.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ..catalog import Catalog, Component, Source
    from ..context import JobContext, Settings
    from ..errors import Problem
    from ..journal import JobRecord, Journal
    from ..plan import PlanItem
    from ..tarstream import Streamed
    from .samlinks import LinksFile


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Declaration:
    """What is known of a kind without importing its module."""

    module: str  # in this package
    required: tuple[str, ...] = ()  # catalog keys every source of this kind must have (strings)


#: Kind name -> its declaration. Adding a kind: one module in this package ending in
#: ``KIND = <SourceKind subclass>()``, plus one line here.
_DECLARED: dict[str, Declaration] = {
    "http": Declaration("http", ("url",)),
    "hub": Declaration("hub", ("repo", "path")),
    "drive": Declaration("drive", ("id",)),
    "sam-links": Declaration("samlinks", ("name_format",)),
    "ocrvqa": Declaration("ocrvqa", ("folder_id",)),
    "local": Declaration("local"),
}

#: Every kind this version can fetch, in declaration order.
KIND_NAMES: tuple[str, ...] = tuple(_DECLARED)

_loaded: dict[str, SourceKind] = {}


def is_known(name: str) -> bool:
    """Whether this version can fetch sources of kind ``name``."""
    return name in _DECLARED


def required_keys(name: str) -> tuple[str, ...]:
    """The catalog keys a source of kind ``name`` must have (no module import)."""
    return _DECLARED[name].required


def kind_of(name: str) -> SourceKind:
    """The kind object for ``name`` (its module is imported on first use)."""
    found = _loaded.get(name)
    if found is not None:
        return found
    declaration = _DECLARED.get(name)
    if declaration is None:
        from ..errors import Code, SetupError

        raise SetupError(Code.NO_SOURCE, f"Source kind '{name}' is not supported by this version.",
                         "Choose another source for this component or update sharegpt4v-setup.")
    module = importlib.import_module(f"{__package__}.{declaration.module}")
    kind: SourceKind = module.KIND
    if kind.name != name:  # pragma: no cover - a wiring mistake, caught by the tests
        raise RuntimeError(f"{module.__name__}.KIND is '{kind.name}', declared as '{name}'")
    _loaded[name] = kind
    log.debug("source kind %s loaded from %s", name, module.__name__)
    return kind


class SourceKind:
    """Base of every kind object: the questions the engine asks, with the common answers.

    Subclasses set :attr:`name` and implement :meth:`fetch`; they override only what differs.
    """

    name: ClassVar[str] = ""
    #: The GUI asks for Meta's links file when a selected component has a source of this kind.
    needs_links_file: ClassVar[bool] = False
    #: The GUI shows the Hub endpoint / token options when a selected source is of this kind.
    uses_hub: ClassVar[bool] = False
    #: A user's copy on disk (a path), not a download.
    is_local: ClassVar[bool] = False
    #: Its files stop once the images the selected JSONs want are in place (SA-1B tars), so the
    #: other components filling the same folder (the SAM 9K zip) run first and count.
    waits_for_siblings: ClassVar[bool] = False

    # -- fetching ---------------------------------------------------------------------------
    def fetch(self, ctx: JobContext, component: Component, source: Source, catalog: Catalog, *,
              only: Collection[str] | None = None) -> Iterator[Path | Streamed]:
        """Download (resumably) and verify each file of ``source``; yield each, complete.

        ``only``: the target-relative paths the run's annotation JSONs need (None: all). Kinds
        that place files themselves (OCR-VQA) use it to fetch just those; a streamed kind
        extracts just those while downloading and yields a :class:`Streamed` per file.
        """
        raise NotImplementedError

    def streams(self, component: Component, source: Source, settings: Settings) -> bool:
        """Whether the files are extracted while they download (never stored whole)."""
        return False

    def unusable(self, component: Component, source: Source, settings: Settings) -> Problem | None:
        """Why this run cannot use ``source`` (e.g. no links file given), or None."""
        return None

    def item_names(self, source: Source) -> list[str]:
        """The names of the files the source provides (journal ``items_done`` entries)."""
        return [source.file_name]

    def read_links_file(self, path: Path, needed: Collection[str] | None = None) -> LinksFile:
        """Parse and check a links file the user chose (kinds with :attr:`needs_links_file`);
        ``needed``: the files the selection uses (other rows are skipped, not refused)."""
        raise NotImplementedError(f"sources of kind '{self.name}' take no links file")

    # -- planning ---------------------------------------------------------------------------
    def refine_for_annotations(self, root: Path, item: PlanItem, record: JobRecord | None,
                               jsons: list[Path]) -> PlanItem:
        """The plan item once the selected annotation JSONs (on disk) are known: what they make
        this source download, with a note saying so. Default: unchanged."""
        return item

    def read_annotations(self, root: Path, component: Component, jsons: list[Path]) -> None:
        """Read ahead, off the wizard's GUI thread, what :meth:`refine_for_annotations` will read
        from the JSONs (whether or not this run can use the source yet). Default: nothing."""

    def pieces(self, source: Source) -> int:
        """How many files the source's planned size is split into (one archive on disk at a time)."""
        return 1

    def remaining_bytes(self, source: Source, downloads: Path, items_done: Collection[str]) -> int:
        """Bytes still to download, from what the downloads folder holds and what is done."""
        total = source.planned_size or 0
        have = 0
        for suffix in ("", ".part"):
            candidate = downloads / (source.file_name + suffix)
            if candidate.is_file():
                have = max(have, candidate.stat().st_size)
        return max(0, total - have)

    def leftovers(self, source: Source, downloads: Path) -> list[Path]:
        """Partial downloads of this source in the downloads folder (a transfer's ``.part`` and its
        sidecars): dropped once the component is done, whichever source finished it."""
        return [path for name in self.item_names(source)
                for path in (downloads / (name + suffix) for suffix in (".part", ".part.json", ".part.log"))
                if path.is_file()]

    def plan_notes(self, source: Source, settings: Settings, items_done: Collection[str],
                   remaining: int) -> tuple[str, ...]:
        """Warnings worth reading before starting (e.g. links that expire before the finish)."""
        return ()

    # -- hosts ------------------------------------------------------------------------------
    def host(self, source: Source, settings: Settings, catalog: Catalog) -> str:
        """The host the source talks to, for per-host concurrency limits."""
        return urlsplit(source.url).netloc if source.url else self.name

    def host_label(self, source: Source, hub_endpoint: str, catalog: Catalog) -> str:
        """The host as the GUI shows it (an English phrase when there is no one host)."""
        return urlsplit(source.url).netloc if source.url else self.name

    # -- repair -----------------------------------------------------------------------------
    def repair(self, ctx: JobContext, component: Component, source: Source, catalog: Catalog,
               only: set[str]) -> tuple[set[str], set[str]] | None:
        """Bring back ``only`` (target-relative paths) the kind's own way.

        Returns (found, left for the generic way: kept zip, remote zip, download again); None:
        the generic way for all of them.
        """
        return None

    def holds(self, root: Path, component: Component, source: Source) -> Callable[[str], bool | None] | None:
        """What earlier runs left to say whether the source's archives hold a target-relative
        path: a function answering True, False or None (unknown); None: nothing of its own."""
        return None

    def remote_file(self, ctx: JobContext, source: Source, catalog: Catalog) -> tuple[str, dict[str, str]] | None:
        """URL and headers to read the source's file with Range requests, or None."""
        return None

    def why_missing(self, journal: Journal, component: Component, path: str) -> str | None:
        """Why ``path`` cannot be had from this kind, in words the user can act on (None: generic)."""
        return None

    def known_gaps(self, root: Path, component: Component) -> set[str]:
        """Root-relative paths the kind's last run reported as impossible to get (dead links),
        read from its report on disk: a journal rebuilt from disk counts them as accounted for."""
        return set()
