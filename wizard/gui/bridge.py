"""The one bridge from the engine to Qt.

:class:`RunWorker` runs :meth:`Runner.run` (blocking) on a thread supplied by an
:class:`Executor` — by default in a child process (:func:`wizard.engine.runchild.run_in_child`),
so the run's download and extraction threads never hold the interpreter lock the GUI thread needs;
``EngineBridge(isolated=False)`` keeps the run in this process. The engine's events reach
``emit`` on that thread, and every event is re-emitted as a Qt signal carrying the event object.
:class:`EngineBridge` lives in the GUI thread and receives those signals through queued
connections, so its slots — and everything connected to its signals — run in the GUI thread.
Never connect a lambda that touches a widget to a :class:`RunWorker` signal: it would run in
the worker thread.

:meth:`EngineBridge.call` is the same bridge for any other engine function (``verify``,
``repair``): it runs ``task(emit, control)`` on the same executor — a :class:`~wizard.engine.calls.ChildTask`
in a child process too, when the bridge is isolated — and hands back a :class:`Call` whose
signals deliver the task's events, its return value or its :class:`Problem` in the GUI thread.
One piece of work — a run or a call — at a time.

The thread strategy is swappable: :class:`QThreadExecutor` (default, one QThread per run),
:class:`ThreadPoolExecutor` (a QThreadPool runnable) or :class:`InlineExecutor` (blocking, for
unit tests of the signal flow).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, QThread, QThreadPool, Signal, Slot

from ..engine.calls import ChildTask
from ..engine.control import Control
from ..engine.errors import Cancelled, Code, Problem, SetupError
from ..engine.events import Emit, Event, Progress

if TYPE_CHECKING:  # the runner (and requests with it) loads when the first run starts
    from PySide6.QtCore import Qt

    from ..engine.catalog import Catalog
    from ..engine.plan import Plan
    from ..engine.runner import RunResult
    from ..engine.settings import Settings

Work = Callable[[], None]
#: A callable for :meth:`EngineBridge.call`: gets the engine's observer and the cancel token.
Task = Callable[[Emit, Control], object]


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


class _Coalescing(QObject):
    """Hands engine events to the GUI thread in order, but at most one pending Progress per job.

    The engine reports progress every chunk — thousands of events a second at full speed. Only
    the newest Progress of a job matters, so it waits here until the GUI thread takes it. Other
    events go out at once as numbered batches, each taking its job's pending Progress along; a
    Progress is handed out only once the batch emitted before it has been delivered, so a job's
    events never change order. ``events_emitted`` carries ``(number, [events])``; an empty
    batch asks the GUI thread to call :meth:`take_progress`.
    """

    events_emitted = Signal(object)  # tuple[int, list[Event]], emitted from engine threads

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._latest: dict[str, tuple[int, Progress]] = {}  # job -> (batches sent before it, event)
        self._sent = 0
        self._flush_pending = False

    def emit_event(self, event: Event) -> None:
        """The engine's observer: called on engine threads; must not block."""
        with self._lock:
            if isinstance(event, Progress):
                self._latest[event.job] = (self._sent, event)
                if self._flush_pending:
                    return
                self._flush_pending = True
                batch: list[Event] = []
            else:
                job = getattr(event, "job", None)
                if job:
                    pending = self._latest.pop(job, None)
                    batch = [] if pending is None else [pending[1]]
                else:
                    batch = [p for _, p in self._latest.values()]
                    self._latest.clear()
                batch.append(event)
            self._sent += 1
            number = self._sent
        self.events_emitted.emit((number, batch))

    def take_progress(self, delivered: int) -> list[Event]:
        """The pending Progress events that may follow batch ``delivered`` (GUI thread)."""
        with self._lock:
            ready = [job for job, (after, _) in self._latest.items() if after <= delivered]
            taken: list[Event] = [self._latest.pop(job)[1] for job in ready]
            self._flush_pending = bool(self._latest)  # what is left goes with a later batch
            return taken

    def delivered(self, number: int, batch: list[Event]) -> list[Event]:
        """A batch as the GUI thread hands it on: its events, then the Progress now due."""
        return [*batch, *self.take_progress(number)]


class RunWorker(_Coalescing):
    """One run of the engine. :meth:`run` executes on the executor's thread."""

    finished = Signal(object)  # RunResult
    crashed = Signal(object)  # Problem: the run could not start or the engine raised

    def __init__(self, plan: Plan, catalog: Catalog, settings: Settings, control: Control,
                 isolated: bool = True) -> None:
        super().__init__()
        self._args = (plan, catalog, settings, control)
        self._isolated = isolated

    def run(self) -> None:
        try:
            plan, catalog, settings, control = self._args
            if self._isolated:  # the run's threads in a child process: the GUI thread never waits for them
                from ..engine.runchild import run_in_child

                result = run_in_child(plan, catalog, settings, self.emit_event, control)
            else:
                # Imported here, on the worker thread: the runner brings the HTTP stack, which the
                # first window does not need and whose import would stall the GUI thread.
                from ..engine.runner import Runner

                result = Runner(plan, catalog, settings, self.emit_event, control).run()
        except Exception as exc:  # every failure becomes a Problem for the GUI
            self.crashed.emit(problem_of(exc))
            return
        self.finished.emit(result)


def warm_up() -> threading.Thread:
    """Import what runs need in this process on a background thread, once the first window is up:
    the code that drives the engine child, and the modules of what comes back from it pickled (a
    run's result, a check's or a repair's report) — not at the start or end of a run, where an
    import would hold the interpreter lock the GUI thread is waiting for."""
    def work() -> None:
        import importlib

        for name in ("wizard.engine.runchild", "wizard.engine.runner", "wizard.engine.verify",
                     "wizard.engine.repair"):
            importlib.import_module(name)

    thread = threading.Thread(target=work, name="sharegpt4v-warm-up", daemon=True)
    thread.start()
    return thread


def problem_of(exc: BaseException) -> Problem:
    """The :class:`Problem` to show for an exception that escaped the engine: the command line's
    (a full disk is ``no-space``; a bug keeps its traceback in a crash log), or ``cancelled``."""
    if isinstance(exc, SetupError):
        return exc.problem
    if isinstance(exc, Cancelled):
        return Problem(Code.CANCELLED, "Cancelled.", "The work done so far is kept.")
    from ..failures import problem_for

    return problem_for(exc, None, "the wizard")[0]


class CallWorker(_Coalescing):
    """One :data:`Task` on the executor's thread; its outcome is re-emitted as signals."""

    returned = Signal(object)  # whatever the task returned
    raised = Signal(object)  # Problem

    def __init__(self, task: Task, control: Control, isolated: bool = True) -> None:
        super().__init__()
        self._task = task
        self._control = control
        self._isolated = isolated

    def run(self) -> None:
        try:
            if self._isolated and isinstance(self._task, ChildTask):  # a check or repair: in a child process
                from ..engine.runchild import call_in_child

                value = call_in_child(self._task, self.emit_event, self._control)
            else:
                value = self._task(self.emit_event, self._control)
        except Exception as exc:  # every failure becomes a Problem for the GUI
            self.raised.emit(problem_of(exc))
            return
        self.returned.emit(value)


class Call(QObject):
    """GUI-thread handle on one :meth:`EngineBridge.call`; all its signals arrive in the GUI thread.

    Exactly one of ``finished`` and ``failed`` is emitted, after the bridge is free again.
    """

    event_received = Signal(object)  # an engine event the task emitted
    finished = Signal(object)  # the task's return value
    failed = Signal(object)  # Problem (code CANCELLED when cancelled)


def _queued() -> Qt.ConnectionType:
    """``Qt.ConnectionType.QueuedConnection``, read when a run starts: the first use of PySide6's
    ``Qt`` namespace creates its ~90 enum types (tens of ms), which the first window need not wait for."""
    from PySide6.QtCore import Qt

    return Qt.ConnectionType.QueuedConnection


class EngineBridge(QObject):
    """GUI-thread façade over runs: start, pause, resume, cancel; events arrive as signals."""

    started = Signal()
    event_received = Signal(object)  # every engine event, in the GUI thread
    finished = Signal(object)  # RunResult
    crashed = Signal(object)  # Problem
    call_ended = Signal()  # a call finished or failed (after its own signal)

    def __init__(self, executor: Executor | None = None, parent: QObject | None = None, *,
                 isolated: bool = True) -> None:
        super().__init__(parent)
        self._executor: Executor = executor or QThreadExecutor()
        #: Runs go to a child process (engine/runchild.py); False keeps them on the executor's thread.
        self.isolated = isolated
        self._worker: RunWorker | None = None
        self._call: tuple[CallWorker, Call] | None = None
        self._control = Control()

    @property
    def running(self) -> bool:
        """A run of the engine (not a call) is in progress."""
        return self._worker is not None

    @property
    def calling(self) -> bool:
        return self._call is not None

    @property
    def busy(self) -> bool:
        """A run or a call is in progress: the executor is taken."""
        return self.running or self.calling

    @property
    def paused(self) -> bool:
        return self.busy and self._control.paused

    @property
    def cancelling(self) -> bool:
        return self.busy and self._control.cancelled

    @property
    def cancel_requested(self) -> bool:
        """The current or the last piece of work was asked to stop (also read after it ended)."""
        return self._control.cancelled

    def start(self, plan: Plan, catalog: Catalog, settings: Settings) -> None:
        if self.busy:
            raise RuntimeError("a run or a call is already in progress")
        self._control = Control()
        worker = RunWorker(plan, catalog, settings, self._control, self.isolated)
        queued = _queued()
        worker.events_emitted.connect(self._on_worker_events_emitted, queued)
        worker.finished.connect(self._on_worker_finished, queued)
        worker.crashed.connect(self._on_worker_crashed, queued)
        self._worker = worker
        self.started.emit()
        self._executor.start(worker.run)

    def call(self, task: Task) -> Call:
        """Run ``task(emit, control)`` on the executor; connect to the returned handle's signals.

        ``cancel`` (and ``pause``) act on the task's ``control``. Raises RuntimeError while busy.
        """
        if self.busy:
            raise RuntimeError("a run or a call is already in progress")
        self._control = Control()
        worker = CallWorker(task, self._control, self.isolated)
        handle = Call()  # the caller keeps it as long as it cares; the bridge until the call ends
        queued = _queued()
        worker.events_emitted.connect(self._on_call_worker_events_emitted, queued)
        worker.returned.connect(self._on_call_worker_returned, queued)
        worker.raised.connect(self._on_call_worker_raised, queued)
        self._call = (worker, handle)
        self._executor.start(worker.run)
        return handle

    def pause(self) -> None:
        if self.busy:
            self._control.pause()

    def resume(self) -> None:
        self._control.resume()

    def cancel(self) -> None:
        """Stop at the next checkpoint; everything on disk stays resumable."""
        if self.busy:
            self._control.cancel()

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the worker thread has returned (for shutdown)."""
        return self._executor.wait(msecs)

    @Slot(object)
    def _on_worker_events_emitted(self, numbered: tuple[int, list[Event]]) -> None:
        if self._worker is not None:
            for event in self._worker.delivered(*numbered):
                self.event_received.emit(event)

    @Slot(object)
    def _on_call_worker_events_emitted(self, numbered: tuple[int, list[Event]]) -> None:
        if self._call is not None:
            worker, handle = self._call
            for event in worker.delivered(*numbered):
                handle.event_received.emit(event)

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

    @Slot(object)
    def _on_call_worker_returned(self, value: object) -> None:
        self._end_call().finished.emit(value)
        self.call_ended.emit()

    @Slot(object)
    def _on_call_worker_raised(self, problem: Problem) -> None:
        self._end_call().failed.emit(problem)
        self.call_ended.emit()

    def _end_call(self) -> Call:
        assert self._call is not None
        _, handle = self._call
        self._call = None
        self._executor.wait(5_000)  # the task has returned; let the thread wind down
        return handle
