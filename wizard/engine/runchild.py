"""The engine's work in a child process, driven like a call in a thread.

The wizard runs the engine this way — runs, checks and repairs — so that its GUI thread never
waits for the interpreter lock behind a dozen busy download and extraction threads or a JSON
parser (on a loaded machine that wait, not the work, froze the window for hundreds of
milliseconds), and so that the work may use helper processes of its own (:mod:`.helper`, off in
a process that has Qt loaded). :func:`call_in_child` takes a :class:`~.calls.ChildTask`, the
observer and the token: the child's events arrive through ``emit`` in order (the bytes-progress
of a job collapsed to its newest value, at most every :data:`INTERVAL` seconds), a pause, resume
or cancel of ``control`` reaches the child at once, and the task's return value — or its
:class:`Problem`, or :class:`Cancelled` — comes back as if the call had been local.
:func:`run_in_child` is the same for ``Runner(...).run()``. If the parent goes away, the child
sees its stdin close and cancels: everything on disk stays resumable either way.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal
import sqlite3
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from . import child
from .calls import ChildTask, RunTask
from .control import Control
from .errors import Cancelled, Code, Problem, SetupError
from .events import Emit, Event, Progress
from .journal import problem_for_journal_error
from .safefs import problem_for_os_error

if TYPE_CHECKING:
    from .catalog import Catalog
    from .context import Settings
    from .plan import Plan
    from .runner import RunResult

log = logging.getLogger(__name__)

#: Longest time a job's bytes-progress waits in the child before it is sent on.
INTERVAL = 0.05
#: How long the parent waits for the child to exit once the pipe has closed.
EXIT_WAIT = 30.0


def collapse(events: list[Event]) -> list[Event]:
    """``events`` in order, minus every Progress that a later Progress of the same job replaces with
    nothing of that job's in between (what a display would have drawn over at once)."""
    out: list[Event | None] = []
    latest: dict[str, int] = {}  # job -> index in out of its Progress that may still be replaced
    for event in events:
        if isinstance(event, Progress):
            index = latest.get(event.job)
            if index is not None:
                out[index] = None
            latest[event.job] = len(out)
        else:
            job = getattr(event, "job", None)
            if job is None:
                latest.clear()
            else:
                latest.pop(job, None)
        out.append(event)
    return [e for e in out if e is not None]


class Outbox:
    """The child's observer: gathers events from the engine's threads and sends them in batches.

    Anything but a Progress goes out at once (with the batch it ends); Progress alone waits up to
    :data:`INTERVAL`. ``send`` runs on the outbox's own thread only.
    """

    def __init__(self, send: Callable[[list[Event]], None], interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._send = send
        self._interval = interval
        self._clock = clock
        self._cond = threading.Condition()
        self._events: list[Event] = []
        self._urgent = False
        self._closed = False
        self.failed = False  # the pipe broke (the parent is gone)
        self._thread = threading.Thread(target=self._loop, name="sharegpt4v-outbox", daemon=True)
        self._thread.start()

    def put(self, event: Event) -> None:
        with self._cond:
            self._events.append(event)
            if not isinstance(event, Progress):
                self._urgent = True
                self._cond.notify()
            elif len(self._events) == 1:
                self._cond.notify()

    def _next_batch(self) -> list[Event] | None:
        with self._cond:
            while not self._events and not self._closed:
                self._cond.wait()
            due = self._clock() + self._interval
            while not self._urgent and not self._closed and (left := due - self._clock()) > 0:
                self._cond.wait(left)
            if not self._events:
                return None  # closed and drained
            batch, self._events, self._urgent = self._events, [], False
            return batch

    def _loop(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._send(collapse(batch))
            except (OSError, ValueError):  # the parent is gone; the run notices through its stdin
                self.failed = True

    def close(self) -> None:
        """Send what is left and stop."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()


def _drain_stderr(stream: IO[bytes], tail: collections.deque[str]) -> None:
    with contextlib.suppress(OSError, ValueError):
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                tail.append(line)
                log.debug("engine child: %s", line)


def run_in_child(plan: Plan, catalog: Catalog, settings: Settings, emit: Emit, control: Control) -> RunResult:
    """``Runner(plan, catalog, settings, emit, control).run()``, executed in a child process."""
    result: RunResult = call_in_child(RunTask(plan, catalog, settings), emit, control)
    return result


def call_in_child(task: ChildTask, emit: Emit, control: Control) -> Any:
    """``task(emit, control)``, executed in a child process (see the module docstring)."""
    proc = child.spawn("run")
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, stdout = proc.stdin, proc.stdout
    tail: collections.deque[str] = collections.deque(maxlen=20)
    drain = threading.Thread(target=_drain_stderr, args=(proc.stderr, tail), name="engine-child-stderr",
                             daemon=True)
    drain.start()
    send_lock = threading.Lock()

    def send(message: tuple[object, ...]) -> None:
        with send_lock, contextlib.suppress(OSError, ValueError):  # a child that is gone ends below
            child.write_frame(stdin, message)

    def tell(change: str) -> None:
        send((change,))
        if change == "cancel" and task.killable:  # nothing to lose: do not wait for its checkpoint
            with contextlib.suppress(OSError):
                proc.kill()

    send(("task", task))
    stop_listening = control.listen(tell)
    try:
        if control.paused:
            send(("pause",))
        if control.cancelled:
            tell("cancel")
        while True:
            try:
                message = child.read_frame(stdout)
            except child.ChildGone as exc:
                gone = str(exc)
                break
            what = message[0]
            if what == "events":
                for event in message[1]:
                    emit(event)
            elif what == "result":
                return message[1]
            elif what == "problem":
                raise SetupError.of(message[1])
            elif what == "cancelled":
                raise Cancelled()
    finally:
        stop_listening()
        code = _finish(proc, drain)
    if task.killable and control.cancelled:
        raise Cancelled()
    last = tail[-1] if tail else gone
    raise SetupError(Code.INTERNAL, f"The engine process ended unexpectedly (exit code {code}): {last}",
                     "The work so far is kept: start again to resume. The run log under "
                     f"{task.root}/.sharegpt4v-setup/logs/ has what it did until then.")


def _finish(proc: subprocess.Popen[bytes], drain: threading.Thread) -> int:
    """Close our end (a child still running sees it and cancels), then wait for it to exit."""
    code = child.end(proc, EXIT_WAIT, "the engine child")
    drain.join(5)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.close()
    return code


def _commands(stdin: IO[bytes], control: Control) -> None:
    """The child's side of the token: pause/resume/cancel from the parent; its end cancels."""
    actions = {"pause": control.pause, "resume": control.resume, "cancel": control.cancel}
    while True:
        try:
            message = child.read_frame(stdin)
        except child.ChildGone:
            control.cancel()  # the parent is gone: stop at the next checkpoint, keep the work
            return
        action = actions.get(message[0]) if isinstance(message, tuple) and message else None
        if action is not None:
            action()


def _reply(task: ChildTask, emit: Emit, control: Control) -> tuple[object, ...]:
    try:
        return ("result", task(emit, control))
    except SetupError as exc:
        return ("problem", exc.problem)
    except Cancelled:
        return ("cancelled",)
    except OSError as exc:
        return ("problem", problem_for_os_error(exc, task.root))
    except sqlite3.Error as exc:  # the journal: a full disk is no-space, as on the command line
        return ("problem", problem_for_journal_error(exc, task.root))
    except Exception as exc:  # a bug: the run log has the traceback (RunLog records it)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[0][:200]
        return ("problem", Problem(Code.INTERNAL, f"Unexpected error: {detail}",
                                   "This is a bug; the work so far is kept. Please report it with the run "
                                   f"log under {task.root}/.sharegpt4v-setup/logs/."))


def child_main(args: list[str]) -> int:
    """``--engine-child run`` (no arguments): read a :class:`ChildTask` from stdin, stream its events
    and its outcome to stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the parent's to handle
    # The pipes by descriptor (a windowed frozen build may have no sys.stdout object); our frames
    # alone on the parent's stdout: from here a stray print lands in the stderr pipe.
    stdin = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    try:
        first = child.read_frame(stdin)
    except child.ChildGone:
        return 2
    task = first[1] if isinstance(first, tuple) and len(first) == 2 and first[0] == "task" else None
    if not isinstance(task, ChildTask):
        return 2
    control = Control()
    threading.Thread(target=_commands, args=(stdin, control), name="engine-child-commands", daemon=True).start()
    outbox = Outbox(lambda batch: child.write_frame(out, ("events", batch)))
    reply = _reply(task, outbox.put, control)
    outbox.close()
    with contextlib.suppress(OSError, ValueError):
        child.write_frame(out, reply)
        out.close()
    return 0
