"""The second core for a zip of many small members: a helper process that writes some of them.

Inflating is zlib (which releases the GIL) but creating the files is syscalls wrapped in Python,
so two threads mostly wait for each other; a second process of ours (the ``zip-members`` role of
:mod:`wizard.engine.child`, :func:`wizard.engine.zipmembers.child_main`) does not. The extraction
plans every member itself (paths, folders, bounds) and hands the helper batches of planned tasks
from the far end of the archive while it writes from the near end, a few batches ahead, so
neither waits; the helper answers each batch once its members are on disk, and only then are they
counted and recorded in the size ledger. A kill -9 of either process leaves whole members, at
most one short one per process (replaced by the next run) and nothing recorded that is not whole.

:class:`MembersHelper` is the parent's end: frames out through the helper's stdin, answers in
through a thread that reads its stdout. Stopping (a cancel, an error) sends SIGTERM: the helper
answers for the members it finished and exits between two members.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import signal
import subprocess
import threading

from . import child
from .zipmembers import Task

log = logging.getLogger(__name__)

EXIT_WAIT = 30.0  # seconds a stopped helper gets to answer and exit before it is killed
POLL = 0.1  # seconds between cancel checks while waiting for the helper's answers

#: (batch id, one byte per member done in order: 1 written, 0 already complete; the exception
#: that stopped the batch, or None)
Answer = tuple[int, bytes, BaseException | None]


class MembersHelper:
    """A running ``zip-members`` helper writing tasks from ``archive`` into the folder ``dest``."""

    def __init__(self, archive: str, dest: str) -> None:
        self.proc = child.spawn("zip-members", archive, dest, stderr=subprocess.DEVNULL)
        self._answers: collections.deque[Answer] = collections.deque()
        self._cond = threading.Condition()
        self.gone = False  # its stdout ended: exited (answered or not) or killed
        self._thread = threading.Thread(target=self._read, name="zip-members-answers", daemon=True)
        self._thread.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            while True:
                answer = child.read_frame(stdout)
                with self._cond:
                    self._answers.append(answer)
                    self._cond.notify()
        except child.ChildGone:
            pass
        finally:
            with self._cond:
                self.gone = True
                self._cond.notify()

    def send(self, batch: int, tasks: list[Task]) -> bool:
        """Hand ``tasks`` to the helper as ``batch``; False if it is gone (its answers end)."""
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            child.write_frame(stdin, (batch, tasks))
        except (OSError, ValueError):
            return False
        return True

    def answers(self) -> list[Answer]:
        """The answers that arrived since the last call (does not wait)."""
        out = []
        with contextlib.suppress(IndexError):
            while True:
                out.append(self._answers.popleft())
        return out

    def wait(self, timeout: float = POLL) -> None:
        """Until an answer arrives, the helper is gone, or ``timeout`` seconds pass."""
        with self._cond:
            if not self._answers and not self.gone:
                self._cond.wait(timeout)

    def close(self, stop: bool = False) -> list[Answer]:
        """End the helper: with ``stop`` at its next member (SIGTERM), else once it has answered
        every batch sent. Returns the answers not yet taken."""
        if stop and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.send_signal(signal.SIGTERM)
        child.end(self.proc, EXIT_WAIT, "the zip-members helper")  # an idle helper reads the end and exits
        self._thread.join()
        if self.proc.stdout is not None:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdout.close()
        return self.answers()


def start_helper(archive: str, dest: str) -> MembersHelper | None:
    """A helper, or None when it cannot be started (the extraction then writes every member)."""
    try:
        return MembersHelper(archive, dest)
    except OSError as exc:
        log.warning("cannot start the zip-members helper (%s): extracting in one process", exc)
        return None
