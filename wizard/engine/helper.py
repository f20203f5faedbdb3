"""A helper process on the second core (a :mod:`.child` role), whose standard output carries
length-prefixed pickled values (:func:`send`) that a thread of the parent drains into memory,
compressed (zlib level 1: values with repeated text, such as paths, take a fifth of the memory).

``verify`` uses one: it stats the files whose size extraction recorded (:mod:`.sizes`) while the
parent parses the JSONs — work that a thread would serialize with the parse on the GIL. Not on
one core, or in the wizard's process (:func:`allowed`): a helper process left the wizard's verify
busy under Qt.
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
from collections.abc import Iterator
from typing import IO, Any

from . import child

_FRAME = child.FRAME


class HelperFailed(Exception):
    """The helper exited with an error (or was stopped): do its work here instead."""


def allowed() -> bool:
    """Whether a helper process may be started: more than one core, no Qt loaded."""
    return (os.cpu_count() or 1) > 1 and "PySide6.QtCore" not in sys.modules


class Helper:
    """The :mod:`.child` ``role`` with ``args``; a thread drains the values it sends."""

    def __init__(self, role: str, *args: str) -> None:
        self.proc = child.spawn(role, *args, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.frames: list[bytes] = []
        self.thread = threading.Thread(target=self._drain, name=f"helper-{role}", daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        out = self.proc.stdout
        assert out is not None
        with contextlib.suppress(OSError, struct.error):
            while head := out.read(_FRAME.size):
                (length,) = _FRAME.unpack(head)
                self.frames.append(out.read(length))

    def values(self) -> Iterator[Any]:
        """Each value the helper sent, once it has exited with status 0; else HelperFailed."""
        self.thread.join()
        if self.proc.wait() != 0 or not self.frames:
            raise HelperFailed(f"helper exited with status {self.proc.returncode}")
        frames, self.frames = self.frames, []
        for i, frame in enumerate(frames):
            frames[i] = b""
            yield pickle.loads(zlib.decompress(frame))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.thread.join()


def send(out: IO[bytes], value: Any) -> None:
    """Write one value for the parent's :meth:`Helper.values` (the helper's side)."""
    data = zlib.compress(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), 1)
    out.write(_FRAME.pack(len(data)))
    out.write(data)
