"""The Qt-free engine: catalog, plan, sources, extraction, journal and runner.

Nothing in this package may import PySide6 or :mod:`wizard.gui`; the GUI and the CLI are two
observers of the same engine (``tests/test_architecture.py`` keeps it that way).
"""
