"""Every exception that reaches a front end (CLI or GUI) becomes a coded problem with a hint.

Engine errors already are values (:class:`~wizard.engine.errors.SetupError`); this module words
the rest: ``OSError`` by its errno (a full disk, a read-only root, a file in the way, a name too
long), SQLite errors, running out of memory. Anything else is a bug: its traceback goes to the
run log (the file handler of the ``wizard`` logger, else a crash log in the per-user log folder)
and the user sees one line with that file's path — never a traceback.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import traceback
from logging import FileHandler
from pathlib import Path

from .engine.errors import Code, Problem, SetupError
from .engine.journal import problem_for_journal_error
from .engine.safefs import open_private_file, problem_for_os_error
from .paths import APP_NAME

log = logging.getLogger("wizard")

EXIT_FAILED, EXIT_USAGE, EXIT_SPACE = 1, 2, 3


def _log_files() -> list[Path]:
    """Files the ``wizard`` logger (or an ancestor) writes to."""
    found: list[Path] = []
    logger: logging.Logger | None = log
    while logger is not None:
        found += [Path(h.baseFilename) for h in logger.handlers
                  if isinstance(h, FileHandler) and h.baseFilename != os.devnull]
        logger = logger.parent if logger.propagate else None
    return found


def user_log_dir() -> Path:
    from platformdirs import PlatformDirs

    return PlatformDirs(APP_NAME, appauthor=False).user_log_path


def write_crash_log(exc: BaseException, where: str) -> Path | None:
    """Record ``exc``'s traceback; returns the file it went to (None if no file could be written)."""
    files = _log_files()
    if files:
        log.error("unexpected error in %s", where, exc_info=(type(exc), exc, exc.__traceback__))
        return files[0]
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        folder = user_log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}.log"
        with open_private_file(path, "a", encoding="utf-8") as out:
            out.write(f"unexpected error in {where}\n{text}")
        return path
    except OSError:
        return None


def problem_for(exc: BaseException, root: Path | None = None, where: str = "sharegpt4v-setup") -> tuple[Problem, int]:
    """The coded problem and the exit code for an exception a front end caught."""
    if isinstance(exc, SetupError):
        return exc.problem, EXIT_SPACE if exc.problem.code == Code.NO_SPACE else EXIT_USAGE
    if isinstance(exc, OSError):
        problem = problem_for_os_error(exc, root)
        return problem, EXIT_SPACE if problem.code == Code.NO_SPACE else EXIT_FAILED
    if isinstance(exc, sqlite3.Error):
        problem = problem_for_journal_error(exc, root)
        return problem, EXIT_SPACE if problem.code == Code.NO_SPACE else EXIT_FAILED
    if isinstance(exc, MemoryError):
        return Problem(Code.INTERNAL, "Ran out of memory.",
                       "A file given to the app is far larger than expected; check the paths passed "
                       "to it (links file, --local, JSONs)."), EXIT_FAILED
    path = write_crash_log(exc, where)
    detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    at = f" The details are in {path}." if path else ""
    return Problem(Code.INTERNAL, f"Unexpected error ({detail}).{at}",
                   "This is a bug in sharegpt4v-setup; the work so far is kept. Please report it "
                   "with that log."), EXIT_FAILED
