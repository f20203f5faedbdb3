"""Engine work in a child process of ours: how to start one, and the frames both ends exchange.

One way to start a child, frozen or not: the program itself with ``--engine-child ROLE``
(``wizard/entry.py`` answers that before anything else is imported), so a PyInstaller bundle
runs its own executable and a source checkout runs ``python -m wizard``. :data:`ROLES` names the
function each role runs. Both ends speak length-prefixed pickles over the child's stdin/stdout;
the pipe joins two processes of this program only (nothing from outside is unpickled).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pickle
import struct
import subprocess
import sys
from typing import IO, Any

log = logging.getLogger(__name__)

#: role -> "module:function" run in the child (it gets the arguments after the role, returns an exit code).
ROLES = {
    "run": "wizard.engine.runchild:child_main",  # a whole run, for the wizard
    "sizes": "wizard.engine.sizes:child_main",  # verify: the recorded sizes against the files
    "ocr-images": "wizard.engine.sources.ocrsplit:child_main",  # a share of the OCR-VQA images
    "zip-members": "wizard.engine.zipmembers:child_main",  # extract: small zip members on the 2nd core
}

#: Every frame's header: the length of the pickle that follows.
FRAME = struct.Struct("<Q")
#: A frame longer than this is not ours (a corrupt pipe): the reader stops.
MAX_FRAME = 1 << 30


class ChildGone(Exception):
    """The other end closed the pipe (or sent something that is not a frame)."""


def command(role: str, *args: str) -> list[str]:
    """The argv that starts the child for ``role`` with ``args``."""
    if role not in ROLES:
        raise ValueError(f"unknown child role {role!r}")
    if getattr(sys, "frozen", False):
        return [sys.executable, "--engine-child", role, *args]
    return [sys.executable, "-m", "wizard", "--engine-child", role, *args]


def environment() -> dict[str, str]:
    """The child's environment: ours, with this checkout first on the import path."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    if not getattr(sys, "frozen", False):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return env


def spawn(role: str, *args: str, stdin: int = subprocess.PIPE,
          stderr: int = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """Start the child for ``role``; its stdout is always a pipe (the frames)."""
    return subprocess.Popen(command(role, *args), env=environment(), stdin=stdin, stdout=subprocess.PIPE,
                            stderr=stderr, close_fds=True)


def end(proc: subprocess.Popen[bytes], wait: float, what: str) -> int:
    """Close our end of ``proc``'s stdin (a child of ours reads the end and leaves), wait up to
    ``wait`` seconds for it to exit, else kill it; returns its exit code. Its other pipes stay open
    for the threads that drain them."""
    with contextlib.suppress(OSError, ValueError):
        if proc.stdin is not None:
            proc.stdin.close()
    try:
        return proc.wait(wait)
    except subprocess.TimeoutExpired:
        log.warning("%s did not exit %.0f s after its pipe closed; killing it", what, wait)
        proc.kill()
        return proc.wait()


def write_frame(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(FRAME.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next message; raises :class:`ChildGone` at the end of the stream or on a broken frame."""
    head = stream.read(FRAME.size)
    if len(head) < FRAME.size:
        raise ChildGone("end of stream")
    (length,) = FRAME.unpack(head)
    if length > MAX_FRAME:
        raise ChildGone(f"frame of {length} bytes")
    data = stream.read(length)
    if len(data) < length:
        raise ChildGone("end of stream inside a frame")
    try:
        return pickle.loads(data)
    except Exception as exc:  # a frame we cannot read is as good as a closed pipe
        raise ChildGone(f"unreadable frame: {exc}") from exc


def main(role: str, args: list[str]) -> int:
    """``--engine-child ROLE ARGS...``: run the role's function (the child's side)."""
    target = ROLES.get(role)
    if target is None:
        print(f"sharegpt4v-setup: unknown engine child role {role!r}", file=sys.stderr)
        return 2
    module, _, function = target.partition(":")
    result: int = getattr(importlib.import_module(module), function)(args)
    return result
