"""The offline demo: a miniature ShareGPT4V world served on 127.0.0.1.

The demo mode and the tests use the same pieces: :func:`build_world` writes the miniature
(every catalog component, real archive layouts, a few KB each), :class:`MirrorServer` serves it
with byte ranges, Hub routes and injectable faults, and :meth:`World.write_catalog` points a
copy of the real catalog at the server. No Qt here.
"""

from __future__ import annotations

from .server import HUB_COMMIT, Fault, MirrorServer, RequestRecord
from .world import ServedFile, World, build_world

__all__ = ["HUB_COMMIT", "Fault", "MirrorServer", "RequestRecord", "ServedFile", "World", "build_world"]
