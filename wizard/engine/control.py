"""Cooperative pause and cancel: one token shared by every job of a run.

Workers call :meth:`Control.checkpoint` once per chunk or archive member. Pausing blocks the
worker there (its partial file stays consistent); cancelling raises :class:`Cancelled`, which
leaves everything on disk resumable.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from .errors import Cancelled


class Control:
    """Pause/cancel token. Thread-safe; cheap to check."""

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._hooks: dict[int, Callable[[], None]] = {}
        self._hooks_lock = threading.Lock()
        self._next_hook = 0
        self._listeners: list[Callable[[str], None]] = []

    def listen(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener("pause" | "resume" | "cancel")`` (in the calling thread) on each change.

        Used to relay this token to a run in another process (:mod:`.runchild`). Returns the
        function that stops the listening.
        """
        with self._hooks_lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._hooks_lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)
        return stop

    def _tell(self, change: str) -> None:
        with self._hooks_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            with contextlib.suppress(Exception):
                listener(change)

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()  # wake paused workers so they can see the cancel
        self._tell("cancel")
        with self._hooks_lock:
            hooks = list(self._hooks.values())
        for hook in hooks:  # e.g. shut the socket a worker is blocked reading (a stalled link)
            with contextlib.suppress(Exception):
                hook()

    @contextlib.contextmanager
    def on_cancel(self, hook: Callable[[], None]) -> Iterator[None]:
        """Run ``hook`` (in the cancelling thread) if the run is cancelled inside this block.

        A worker blocked in a read does not reach its next :meth:`checkpoint` until data or the
        read timeout arrives; the hook unblocks it at once (see ``http.abort_response``).
        """
        with self._hooks_lock:
            key = self._next_hook
            self._next_hook += 1
            self._hooks[key] = hook
        try:
            if self._cancel.is_set():
                with contextlib.suppress(Exception):
                    hook()
            yield
        finally:
            with self._hooks_lock:
                self._hooks.pop(key, None)

    @property
    def cancel_hooks(self) -> int:
        """How many blocking operations would be interrupted by a cancel right now."""
        with self._hooks_lock:
            return len(self._hooks)

    def pause(self) -> None:
        self._running.clear()
        self._tell("pause")

    def resume(self) -> None:
        self._running.set()
        self._tell("resume")

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
