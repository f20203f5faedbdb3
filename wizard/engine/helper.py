"""A helper process on the second core (a :mod:`.child` role), whose standard output carries
length-prefixed pickled values (:func:`send`) that a thread of the parent drains into memory,
compressed (zlib level 1: values with repeated text, such as paths, take a fifth of the memory).

``verify`` uses one: it stats the files whose size extraction recorded (:mod:`.sizes`) while the
parent parses the JSONs — work that a thread would serialize with the parse on the GIL — and
sends each folder's result as it has it, so that the parent, its parse done, can take folders
from the other end. Not on one core, or in the wizard's process (:func:`allowed`): a helper
process left the wizard's verify busy under Qt.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import subprocess
import sys
import threading
import zlib
from typing import IO, Any

from . import child

_FRAME = child.FRAME


def allowed() -> bool:
    """Whether a helper process may be started: more than one core, no Qt loaded."""
    return (os.cpu_count() or 1) > 1 and "PySide6.QtCore" not in sys.modules


class Helper:
    """The :mod:`.child` ``role`` with ``args``; a thread drains the values it sends, which
    :meth:`take` hands over as they come."""

    def __init__(self, role: str, *args: str) -> None:
        self.proc = child.spawn(role, *args, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._frames: list[bytes] = []
        self._arrived = threading.Condition()
        self._ended = False
        self.thread = threading.Thread(target=self._drain, name=f"helper-{role}", daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            with contextlib.suppress(OSError, ValueError, struct.error):
                while head := out.read(_FRAME.size):
                    (length,) = _FRAME.unpack(head)
                    frame = out.read(length)
                    if len(frame) < length:
                        break  # cut short: the helper died mid-frame
                    with self._arrived:
                        self._frames.append(frame)
                        self._arrived.notify_all()
        finally:
            with self._arrived:
                self._ended = True
                self._arrived.notify_all()

    @property
    def ended(self) -> bool:
        """Whether the helper's output has ended (it exited, finished or not): nothing more will come."""
        return self._ended

    def take(self, wait: bool = False) -> list[Any]:
        """The values the helper sent since the last call, in order; with ``wait``, first waits until
        there is one or the output has ended. A value the helper could not finish never appears."""
        with self._arrived:
            if wait:
                self._arrived.wait_for(lambda: self._frames or self._ended)
            frames, self._frames = self._frames, []
        values = []
        for frame in frames:
            try:
                values.append(pickle.loads(zlib.decompress(frame)))
            except (zlib.error, pickle.UnpicklingError, EOFError, ValueError):
                break  # not ours after all: what came before still counts
        return values

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.thread.join()


def send(out: IO[bytes], value: Any) -> None:
    """Write one value for the parent's :meth:`Helper.take` (the helper's side)."""
    data = zlib.compress(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), 1)
    out.write(_FRAME.pack(len(data)))
    out.write(data)
