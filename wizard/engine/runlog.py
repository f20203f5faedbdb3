"""The run log: ``<root>/.sharegpt4v-setup/logs/run-<timestamp>.log`` for every run, the last 20 kept.

Engine modules log through module loggers under ``wizard`` (``log = logging.getLogger(__name__)``);
every request is logged by :mod:`wizard.engine.net.client` on ``wizard.engine.net.requests`` and
every retry by :mod:`wizard.engine.net.policy`. While a run (or a repair) is on, :class:`RunLog`
attaches two handlers to the ``wizard`` logger:

* a file handler (all levels) with :class:`RedactingFilter`, and
* :class:`EventFeed`, which hands the same records to the run's observer as :class:`Log` events,
  so the GUI's log pane and the CLI read the records the file gets: warnings and errors, and
  with ``verbose`` (``--verbose``) everything — every request and retry.

The run's events (stage changes, failures, the run's end, and the :meth:`JobContext.log` lines)
are written to the file too, through :meth:`RunLog.emit`, which wraps the observer. Tokens
(``hf_...``, ``Authorization``/``Bearer`` values) and URL query strings (signed links) never
reach a handler: :func:`redact` rewrites every record first.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from .events import Emit, Event, JobDone, JobFailed, JobQueued, Log, Progress, RunFinished, StageChanged
from .journal import state_dir
from .safefs import open_private

log = logging.getLogger(__name__)
#: The logger the run's events are written to.
events_log = logging.getLogger("wizard.run")

#: Run logs kept per root (the oldest are removed when a run starts).
KEEP = 20
LOG_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s [%(threadName)s] %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_EVENT = "sharegpt4v_event"  # records made from the run's own events (not fed back to it)

_QUERY = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s?#\"'<>]*)\?[^\s#\"'<>]+")
_AUTHORIZATION = re.compile(r"(authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,}]+", re.IGNORECASE)
_BEARER = re.compile(r"(bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{10,}")


def redact(text: str) -> str:
    """``text`` without URL query strings, Authorization/Bearer values or ``hf_...`` tokens."""
    text = _QUERY.sub(r"\1?<redacted>", text)
    text = _AUTHORIZATION.sub(r"\1<redacted>", text)
    text = _BEARER.sub(r"\1<redacted>", text)
    return _HF_TOKEN.sub("hf_<redacted>", text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, exception and stack text with :func:`redact` (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class EventFeed(logging.Handler):
    """Hands log records to a run's observer as :class:`Log` events (one source for the file, the
    GUI's log pane and the terminal)."""

    def __init__(self, emit: Emit, level: int) -> None:
        super().__init__(level)
        self._emit = emit
        self.addFilter(RedactingFilter())

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, _EVENT, False):
            return
        # Below WARNING a record reaches the observer only with --verbose: "debug", which the terminal
        # always prints (its "info" lines are for the job's own messages).
        level = "error" if record.levelno >= logging.ERROR else "warning" if record.levelno >= logging.WARNING \
            else "debug"
        try:
            self._emit(Log(level, record.getMessage(), getattr(record, "job", None)))
        except Exception:  # an observer that fails must not break the code that logged
            self.handleError(record)


def describe(event: Event) -> tuple[int, str] | None:
    """A log level and line for a run event (None: not logged, e.g. byte progress)."""
    if isinstance(event, Progress):
        return None
    if isinstance(event, StageChanged):
        return logging.INFO, f"[{event.job}] stage {event.stage.value}" + (f": {event.detail}" if event.detail else "")
    if isinstance(event, Log):
        level = {"error": logging.ERROR, "warning": logging.WARNING, "debug": logging.DEBUG}.get(event.level,
                                                                                              logging.INFO)
        return level, (f"[{event.job}] " if event.job else "") + event.text
    if isinstance(event, JobQueued):
        size = "?" if event.download_bytes is None else f"{event.download_bytes:,} bytes"
        return logging.INFO, f"[{event.job}] queued: {event.title} ({size})"
    if isinstance(event, JobFailed):
        return logging.ERROR, f"[{event.job}] {event.problem.render()}"
    if isinstance(event, JobDone):
        return logging.INFO, f"[{event.job}] done" + (f": {event.detail}" if event.detail else "")
    if isinstance(event, RunFinished):
        return logging.INFO, (f"run finished: {len(event.done)} done, failed {list(event.failed)}, "
                              f"waiting {list(event.waiting)}, cancelled {event.cancelled}")
    return logging.INFO, repr(event)  # pragma: no cover - every event type is named above


class _LogFile(logging.FileHandler):
    """The run log's file. A write that fails (the disk filled) is reported once through
    ``dropped`` and the file is left alone from then on: never a "Logging error" traceback on the
    terminal for each record, never an error from closing it."""

    def __init__(self, path: Path, dropped: Callable[[BaseException | None], None]) -> None:
        super().__init__(path, encoding="utf-8", delay=False)
        self._on_drop = dropped
        self.failed = False

    def _open(self) -> io.TextIOWrapper:
        # as every file of the app's own: never through a link (or a FIFO) planted at the name
        return os.fdopen(open_private(self.baseFilename, append=True), "a", encoding="utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if not self.failed:
            self.failed = True
            self._on_drop(sys.exc_info()[1])

    def close(self) -> None:
        with contextlib.suppress(OSError):  # the buffered rest cannot be flushed either: already reported
            super().close()


class RunLog:
    """Context manager for one run: the log file, the feed to the observer, the event wrapper.

    ``with RunLog(root, emit, verbose=...) as runlog:`` then hand ``runlog.emit`` to the engine.
    A log file that cannot be written (read-only root, full disk) is reported and skipped; the
    run goes on.
    """

    def __init__(self, root: Path, emit: Emit, *, verbose: bool = False, what: str = "run",
                 keep: int = KEEP) -> None:
        self.root = root
        self._outer = emit
        self.verbose = verbose
        self.what = what
        self.keep = keep
        self.path: Path | None = None
        self._file: logging.Handler | None = None
        # Requests and retries are INFO records: the observer gets them with verbose only (the
        # user-facing retry lines come as JobContext.log warnings).
        self._feed = EventFeed(emit, logging.DEBUG if verbose else logging.WARNING)
        self._logger = logging.getLogger("wizard")
        self._old_level = self._logger.level

    @property
    def folder(self) -> Path:
        return state_dir(self.root) / "logs"

    def emit(self, event: Event) -> None:
        """The observer to give the engine: writes the event to the log, then passes it on."""
        line = describe(event)
        if line is not None:
            events_log.log(line[0], redact(line[1]), extra={_EVENT: True})
        self._outer(event)

    def __enter__(self) -> RunLog:
        self._logger.setLevel(logging.DEBUG)
        self._logger.addHandler(self._feed)
        try:
            self._open_file()
        except OSError as exc:
            self._outer(Log("warning", f"cannot write the run log under {self.folder}: {exc.strerror or exc}"))
        log.info("%s started: sharegpt4v-setup %s, root %s, pid %d", self.what, _version(), self.root, os.getpid(),
                 extra={_EVENT: True})
        return self

    def _open_file(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        path = self.folder / f"run-{stamp}.log"
        handler = _LogFile(path, self._dropped)
        handler.setLevel(logging.DEBUG)
        formatter = logging.Formatter(LOG_FORMAT, DATE_FORMAT)
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter())
        self._logger.addHandler(handler)
        self._file, self.path = handler, path
        self._prune()

    def _dropped(self, exc: BaseException | None) -> None:
        why = (exc.strerror or str(exc)) if isinstance(exc, OSError) else repr(exc)
        self._outer(Log("warning", f"cannot write the run log {self.path}: {why}; the run goes on without it"))

    def _prune(self) -> None:
        logs = sorted(self.folder.glob("run-*.log"))
        for old in logs[: max(0, len(logs) - self.keep)]:
            try:
                old.unlink()
            except OSError as exc:
                log.warning("cannot remove the old run log %s: %s", old.name, exc.strerror)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None and not isinstance(exc, KeyboardInterrupt):
            log.error("%s ended with an unexpected error", self.what, exc_info=(exc_type, exc, tb),  # type: ignore[arg-type]
                      extra={_EVENT: True})
        log.info("%s ended", self.what, extra={_EVENT: True})
        self._logger.removeHandler(self._feed)
        if self._file is not None:
            self._logger.removeHandler(self._file)
            self._file.close()
        self._logger.setLevel(self._old_level)


def _version() -> str:
    from .. import __version__

    return __version__
