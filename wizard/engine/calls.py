"""The engine's work as plain-data objects that another process can run.

A front end that keeps its own process light (the wizard) hands one of these to
:func:`wizard.engine.runchild.call_in_child`: the object is pickled to a child of ours, called
there as ``task(emit, control)``, and its return value comes back the same way. So every class
here is a module-level dataclass of picklable values whose ``__call__`` imports what it needs.
``root`` names the data root, for the hint of a problem.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .control import Control
from .events import Emit

if TYPE_CHECKING:
    from .catalog import Catalog, Component
    from .plan import Plan
    from .repair import RepairReport
    from .runner import RunResult
    from .settings import Settings
    from .verify import VerifyReport


class ChildTask:
    """Work that can run in a child process (see the module docstring)."""

    root: Path
    #: Killing the child loses nothing (it only reads, and writes caches atomically): a cancel
    #: ends it at once instead of waiting for its next checkpoint (a 1.5 GB JSON's parse).
    killable = False

    def __call__(self, emit: Emit, control: Control) -> object:
        raise NotImplementedError


@dataclass(frozen=True)
class RunTask(ChildTask):
    """A run of the plan (``Runner(...).run()``)."""

    plan: Plan
    catalog: Catalog
    settings: Settings

    @property
    def root(self) -> Path:  # type: ignore[override]
        return self.plan.root

    def __call__(self, emit: Emit, control: Control) -> RunResult:
        from .runner import Runner

        return Runner(self.plan, self.catalog, self.settings, emit, control).run()


@dataclass(frozen=True)
class VerifyTask(ChildTask):
    """``verify`` of ``jsons`` (None: every JSON of the catalog found under the root)."""

    root: Path
    jsons: list[Path] | None
    catalog: Catalog

    def __call__(self, emit: Emit, control: Control) -> VerifyReport:
        from .verify import verify

        return verify(self.root, self.jsons, catalog=self.catalog, control=control)


@dataclass(frozen=True)
class RepairTask(ChildTask):
    """``repair`` of the root; the check after it shows only ``jsons`` when given (and found)."""

    root: Path
    catalog: Catalog
    settings: Settings
    jsons: list[Path] | None

    def __call__(self, emit: Emit, control: Control) -> RepairReport:
        from .repair import repair
        from .verify import VerifyReport

        report = repair(self.root, self.catalog, self.settings, emit, control)
        if self.jsons is not None and report.after is not None:
            after = report.after
            mine = tuple(r for r in after.results if r.json_path.absolute() in self.jsons)
            report.after = VerifyReport(after.root, after.deep, mine or after.results)
        return report


@dataclass(frozen=True)
class PlanTask(ChildTask):
    """The plan of ``components`` (``build_plan``), worked out where a first look at a large
    annotation JSON does not hold the caller's interpreter lock. Killable: build_plan opens the
    journal read-only (it never heals it; a run's writable open does) and writes only caches,
    atomically, as :class:`WarmTask`'s plan does."""

    root: Path
    catalog: Catalog
    components: list[Component]
    settings: Settings
    killable = True

    def __call__(self, emit: Emit, control: Control) -> Plan:
        from .plan import build_plan

        plan = build_plan(self.root, self.catalog, self.components, self.settings)
        control.checkpoint()
        return plan


@dataclass(frozen=True)
class WarmTask(ChildTask):
    """Read the annotation JSONs under the root as the plans of ``components`` will — their image
    counts, what their sources read ahead (the SA-1B images they reference, links file or not),
    then a plan of them all — so the caches beside the data are filled; returns how many JSONs
    were read."""

    root: Path
    catalog: Catalog
    components: list[Component]
    settings: Settings
    killable = True

    def __call__(self, emit: Emit, control: Control) -> int:
        from .errors import SetupError
        from .plan import build_plan
        from .sources import is_known, kind_of
        from .subset import counts_for, jsons_on_disk

        read: list[Path] = []
        for path in jsons_on_disk(self.root, self.catalog):
            control.checkpoint()
            try:
                counts_for(self.root, path, self.catalog.components)
            except (SetupError, OSError):
                continue  # the plan reports a broken JSON itself
            read.append(path)
        for component in self.components:
            for kind in {kind_of(s.kind) for s in component.sources if is_known(s.kind)}:
                control.checkpoint()
                with contextlib.suppress(SetupError, OSError):
                    kind.read_annotations(self.root, component, read)
        control.checkpoint()
        with contextlib.suppress(SetupError, OSError):  # the wizard's own plan says what is wrong
            build_plan(self.root, self.catalog, self.components, self.settings)
        return len(read)
