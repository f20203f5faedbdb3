"""The one bridge from the engine to Qt.

:class:`RunWorker` runs :meth:`Runner.run` (blocking) on a thread supplied by an
:class:`Executor`; the engine calls its ``emit`` from its own worker threads, and every event is
re-emitted as a Qt signal carrying the event object. :class:`EngineBridge` lives in the GUI
thread and receives those signals through queued connections, so its slots — and everything
connected to its signals — run in the GUI thread. Never connect a lambda that touches a widget
to a :class:`RunWorker` signal: it would run in the worker thread.

The thread strategy is swappable: :class:`QThreadExecutor` (default, one QThread per run),
:class:`ThreadPoolExecutor` (a QThreadPool runnable) or :class:`InlineExecutor` (blocking, for
unit tests of the signal flow).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject, Qt, QThread, QThreadPool, Signal, Slot

from ..engine.catalog import Catalog
from ..engine.context import Settings
from ..engine.control import Control
from ..engine.errors import Code, Problem, SetupError
from ..engine.events import Event
from ..engine.plan import Plan
from ..engine.runner import Runner, RunResult

Work = Callable[[], None]


class Executor(Protocol):
    """Where a run's blocking work executes."""

    def start(self, work: Work) -> None: ...

    def wait(self, msecs: int) -> bool:
        """Block until the work has returned (True) or ``msecs`` passed (False)."""
        ...


class _WorkThread(QThread):
    def __init__(self, work: Work) -> None:
        super().__init__()
        self._work = work

    def run(self) -> None:
        self._work()


class QThreadExecutor:
    """Each run on its own QThread."""

    def __init__(self) -> None:
        self._thread: _WorkThread | None = None

    def start(self, work: Work) -> None:
        if self._thread is not None:
            self._thread.wait()
        self._thread = _WorkThread(work)
        self._thread.setObjectName("sharegpt4v-run")
        self._thread.start()

    def wait(self, msecs: int) -> bool:
        return True if self._thread is None else self._thread.wait(msecs)


class ThreadPoolExecutor:
    """Runs on a QThreadPool (the global one unless given)."""

    def __init__(self, pool: QThreadPool | None = None) -> None:
        self._pool = pool or QThreadPool.globalInstance()

    def start(self, work: Work) -> None:
        self._pool.start(work)

    def wait(self, msecs: int) -> bool:
        return self._pool.waitForDone(msecs)


class InlineExecutor:
    """Runs the work in the calling thread and returns when it is done (tests only)."""

    def start(self, work: Work) -> None:
        work()

    def wait(self, msecs: int) -> bool:
        return True


class RunWorker(QObject):
    """One run of the engine. :meth:`run` executes on the executor's thread."""

    event_emitted = Signal(object)  # an engine event, emitted from engine threads
    finished = Signal(object)  # RunResult
    crashed = Signal(object)  # Problem: the run could not start or the engine raised

    def __init__(self, plan: Plan, catalog: Catalog, settings: Settings, control: Control) -> None:
        super().__init__()
        self._runner = Runner(plan, catalog, settings, self.emit_event, control)

    def emit_event(self, event: Event) -> None:
        """The engine's observer: called on engine threads; must not block."""
        self.event_emitted.emit(event)

    def run(self) -> None:
        try:
            result = self._runner.run()
        except SetupError as exc:
            self.crashed.emit(exc.problem)
            return
        except Exception as exc:  # a bug in the engine: report it, keep the window alive
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self.crashed.emit(Problem(Code.INTERNAL, f"Unexpected error: {detail}",
                                      "This is a bug; the work so far is kept. Please report it."))
            return
        self.finished.emit(result)


class EngineBridge(QObject):
    """GUI-thread façade over runs: start, pause, resume, cancel; events arrive as signals."""

    started = Signal()
    event_received = Signal(object)  # every engine event, in the GUI thread
    finished = Signal(object)  # RunResult
    crashed = Signal(object)  # Problem

    def __init__(self, executor: Executor | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor: Executor = executor or QThreadExecutor()
        self._worker: RunWorker | None = None
        self._control = Control()

    @property
    def running(self) -> bool:
        return self._worker is not None

    @property
    def paused(self) -> bool:
        return self.running and self._control.paused

    @property
    def cancelling(self) -> bool:
        return self.running and self._control.cancelled

    def start(self, plan: Plan, catalog: Catalog, settings: Settings) -> None:
        if self._worker is not None:
            raise RuntimeError("a run is already in progress")
        self._control = Control()
        worker = RunWorker(plan, catalog, settings, self._control)
        queued = Qt.ConnectionType.QueuedConnection
        worker.event_emitted.connect(self._on_worker_event_emitted, queued)
        worker.finished.connect(self._on_worker_finished, queued)
        worker.crashed.connect(self._on_worker_crashed, queued)
        self._worker = worker
        self.started.emit()
        self._executor.start(worker.run)

    def pause(self) -> None:
        if self.running:
            self._control.pause()

    def resume(self) -> None:
        self._control.resume()

    def cancel(self) -> None:
        """Stop at the next checkpoint; everything on disk stays resumable."""
        if self.running:
            self._control.cancel()

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the worker thread has returned (for shutdown)."""
        return self._executor.wait(msecs)

    @Slot(object)
    def _on_worker_event_emitted(self, event: Event) -> None:
        self.event_received.emit(event)

    @Slot(object)
    def _on_worker_finished(self, result: RunResult) -> None:
        self._end_run()
        self.finished.emit(result)

    @Slot(object)
    def _on_worker_crashed(self, problem: Problem) -> None:
        self._end_run()
        self.crashed.emit(problem)

    def _end_run(self) -> None:
        self._worker = None
        self._executor.wait(5_000)  # the work function has returned; let the thread wind down
