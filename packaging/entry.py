"""Entry script of the frozen (PyInstaller) application: ``sharegpt4v-setup`` with the same CLI.

Two things differ from ``python -m wizard``:

* A windowed build has no console: on Windows and macOS ``sys.stdout``/``sys.stderr`` are None,
  and anything that prints (argparse, tqdm, logging's last-resort handler) would crash. They
  are pointed at a log file under the user log folder (``platformdirs.user_log_path``), or at
  ``os.devnull`` when that cannot be opened.
* Before the graphical wizard starts, the system libraries Qt needs are checked
  (:mod:`wizard.syslibs`), so a missing ``libEGL.so.1`` or ``libxcb-cursor.so.0`` gives a
  readable message naming the packages instead of a Qt abort. Headless subcommands skip it.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import TextIO


def _open_log() -> TextIO:
    try:
        from platformdirs import user_log_path

        folder = user_log_path("sharegpt4v-setup", appauthor=False)
        folder.mkdir(parents=True, exist_ok=True)
        return open(folder / "sharegpt4v-setup.log", "a", encoding="utf-8", buffering=1)
    except OSError:
        return open(os.devnull, "w", encoding="utf-8")


def ensure_streams() -> None:
    """Give the process a stdout and a stderr when the platform started it without."""
    if sys.stdout is not None and sys.stderr is not None:
        return
    log = _open_log()
    if sys.stdout is None:
        sys.stdout = log
    if sys.stderr is None:
        sys.stderr = log


def opens_window(argv: list[str]) -> bool:
    """Whether these arguments open the graphical wizard (no subcommand, no --self-test)."""
    from wizard.cli import build_parser

    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            args = build_parser().parse_args(argv)
    except SystemExit:
        return False  # --help, --version or a usage error: the real parse prints it
    return args.command is None and not args.self_test


def main() -> int:
    ensure_streams()
    argv = sys.argv[1:]
    if argv[:1] != ["--engine-child"] and opens_window(argv):  # a child of ours (wizard.engine.child) has no window
        from wizard.syslibs import check_gui, report

        problem = check_gui()
        if problem is not None:
            report(problem)
            return 1
    from wizard.entry import main as entry_main

    return entry_main(argv)


if __name__ == "__main__":
    sys.exit(main())
