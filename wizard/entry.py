"""The program's entry point (``sharegpt4v-setup``, ``python -m wizard``, the frozen bundle).

Everything goes to :func:`wizard.cli.main`, which is handed the ``--self-test`` runner: the
self-test drives the CLI itself (``run --demo``), so the CLI must not import it — this module
sits above both and wires them, keeping the layers free of cycles.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from . import __version__


def self_test() -> int:
    """``--self-test``: the offline demo through the engine and the wizard (exit code)."""
    from .selftest import main as selftest_main

    return selftest_main()


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:  # answered before the CLI and the engine are imported: start-up time
        print(f"sharegpt4v-setup {__version__}")
        return 0
    if len(args) >= 2 and args[0] == "--engine-child":  # engine work in a child of ours (engine/child.py)
        from .engine.child import main as child_main

        return child_main(args[1], args[2:])
    from .cli import main as cli_main

    return cli_main(argv, self_test=self_test)
