"""A guard against a reference-counting bug of PySide6 6.12.0 on CPython 3.11.

PySide6 6.12.0 drops one reference to ``True`` on every ``SignalInstance.emit()`` and one to
``None`` on many slot calls (the bool it returns / the slot's return value) without having
taken them. On CPython 3.12+ those objects are immortal and nothing happens; on 3.11 the
interpreter aborts ("bool_dealloc: deallocating True or False" / "none_dealloc") after a few
hundred signals. PySide6 6.11.3 does not have the bug.

:func:`guard` detects the bug with a probe signal and, only when it is present, gives the three
singletons a very large reference count — what CPython 3.12 does for them by design — so the
stray decrements can never reach zero. It is a no-op everywhere else.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

_IMMORTAL = 1 << 40
_applied = False


class _Probe(QObject):
    ping = Signal()


def emit_drops_true() -> bool:
    """Whether ``emit()`` loses a reference to True (measured on a probe signal)."""
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(8):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    if lost > 0:  # give back what the probe itself took
        import ctypes  # only where the bug is: not loaded with every start

        for _ in range(lost):
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
    return lost >= 8


def guard() -> bool:
    """Apply the workaround if this PySide6 has the bug; True when it was applied."""
    global _applied
    if _applied:
        return True
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    if not emit_drops_true():
        return False
    import ctypes

    for singleton in (True, False, None):
        ctypes.c_ssize_t.from_address(id(singleton)).value += _IMMORTAL
    _applied = True
    return True
