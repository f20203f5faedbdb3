"""Cooperative pause and cancel: one token shared by every job of a run.

Workers call :meth:`Control.checkpoint` once per chunk or archive member. Pausing blocks the
worker there (its partial file stays consistent); cancelling raises :class:`Cancelled`, which
leaves everything on disk resumable.
"""

from __future__ import annotations

import threading

from .errors import Cancelled


class Control:
    """Pause/cancel token. Thread-safe; cheap to check."""

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()  # wake paused workers so they can see the cancel

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def checkpoint(self) -> None:
        """Block while paused; raise :class:`Cancelled` once cancelled."""
        if not self._running.is_set():
            self._running.wait()
        if self._cancel.is_set():
            raise Cancelled()

    def sleep(self, seconds: float) -> None:
        """Sleep that a cancel interrupts (used for retry back-off)."""
        if self._cancel.wait(seconds):
            raise Cancelled()
