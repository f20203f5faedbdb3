"""The graphical setup wizard (PySide6).

This package is the only one that imports Qt. It observes the engine exactly like the CLI does:
``bridge.py`` runs :class:`wizard.engine.runner.Runner` off the GUI thread and turns its events
into queued Qt signals; ``jobmodel.py`` keeps the latest per-job state that the progress page
repaints on a timer; ``pages/`` holds one module per wizard page; ``app.py`` is the entry point.
"""

from .qtcompat import guard as _guard_pyside_refcounts

_guard_pyside_refcounts()
