"""What the wizard's pages share: the catalog, the user's choices so far, the run's job board."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..engine.settings import Settings, hub_endpoint
from .prefs import Preferences

if TYPE_CHECKING:
    from ..demo.session import DemoSession
    from ..engine.catalog import Catalog, Component, Source
    from ..engine.plan import Plan
    from ..engine.sources import SourceKind
    from .jobmodel import JobBoard


@dataclass
class WizardState:
    """Shared, mutable state of one wizard window.

    ``load_catalog`` is called once, when a page first needs the catalog: the first window (the
    welcome page) is painted before the catalog module is even imported."""

    load_catalog: Callable[[], Catalog]
    prefs: Preferences = field(default_factory=Preferences)
    prefs_path: Path | None = None
    demo: DemoSession | None = None
    # Defaults the options page starts from (the demo and the tests tune retries, chunk size...).
    base_settings: Settings = field(default_factory=Settings)
    root: Path | None = None
    selection: list[str] = field(default_factory=list)
    # Set by the options page; ``force`` by the components page's override box.
    settings: Settings = field(default_factory=Settings)
    resume: bool = False
    _board: JobBoard | None = field(default=None, repr=False)
    _catalog: Catalog | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.settings = replace(self.base_settings)

    @property
    def catalog(self) -> Catalog:
        """The catalog (read when first asked for; a broken one raises its SetupError here)."""
        if self._catalog is None:
            self._catalog = self.load_catalog()
        return self._catalog

    @property
    def board(self) -> JobBoard:
        """The run's job board (made when the progress page first needs it, not for the first window)."""
        if self._board is None:
            from .jobmodel import JobBoard

            self._board = JobBoard()
        return self._board

    @property
    def is_demo(self) -> bool:
        return self.demo is not None

    def components(self) -> list[Component]:
        return self.catalog.resolve(None, self.selection)

    def available(self, component: Component) -> bool:
        """Whether the component can be selected (in the demo: whether the demo serves it)."""
        if self.demo is not None:
            return component.id in self.demo.components
        return True

    def supported(self, component: Component) -> bool:
        """Whether this version of the engine can fetch the component from any of its sources."""
        from ..engine.sources import is_known

        return any(is_known(s.kind) for s in component.sources)

    def hub_endpoint(self) -> str:
        """The endpoint runs will use: the options page's choice, else HF_ENDPOINT, else the catalog's."""
        return hub_endpoint(self.settings, self.catalog.hub_endpoint)

    def plan(self, components: list[Component] | None = None) -> Plan | None:
        """The plan for the current root and selection (local-only and fast)."""
        from ..engine.plan import build_plan  # not needed for the first window

        if self.root is None:
            return None
        return build_plan(self.root, self.catalog, self.components() if components is None else components,
                          self.settings)

    def save_prefs(self) -> None:
        self.prefs.save(self.prefs_path)


def source_kinds(components: list[Component]) -> list[tuple[SourceKind, Source]]:
    """The kind object of every known source of ``components`` (the GUI asks these, not names)."""
    from ..engine.sources import is_known, kind_of

    return [(kind_of(s.kind), s) for c in components for s in c.sources if is_known(s.kind)]


def first_source(component: Component) -> Source:
    official = component.official_sources()
    return official[0] if official else component.sources[0]
