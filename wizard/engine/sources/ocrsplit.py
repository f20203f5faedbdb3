"""OCR-VQA images on both cores: a second process (the :mod:`..child` role ``ocr-images``) with
its own keep-alive workers takes a share of the images (``ocr_processes``: 2, the run's included).

One Python process fetching small files spends its core on the interpreter (parsing, the GIL
handed between workers on every socket call), so a run takes a second one. The run's process
stays the only one that writes the journal: :class:`Partner` (its side) feeds the other process
images a few at a time (at most :data:`WINDOW` given and not yet answered) and records each
result the other process sends — in frames of up to :data:`ROWS` results or :data:`SECONDS` —
through the batch's own ``record``. After a kill -9 of the run the other process sees its stdin
close and stops; what it saved but had not reported is found on disk by ``_reconcile``, so at
most one batch of results is redone, as in one process.

Shared across the processes: the worker count (the run's ramp decides the total; each process
gets a share), the per-host limit (split between them), the host gates (a 429 or 503 in any cuts
the gates of all: the process that got it tells the others, through the run's), and the control
token (pause, resume and cancel reach every process at once). If another process dies, the
images it held and had not answered go back to the run's list (those already saved on disk are
recorded as saved), a warning says so, and the run goes on without it.

One process only (:func:`processes`) for small batches, on one core, in the wizard's own process
(Qt loaded), under a bandwidth limit (the limit, not the CPU, bounds the speed then), or when
the settings leave no room (``ocr_processes`` 1; ``ocr_max_workers``/``ocr_per_host`` under the
process count).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .. import child, helper
from ..control import Control
from ..errors import Cancelled, Code, Problem, SetupError
from ..imagesig import sniff
from ..net.ratelimit import NetShared
from ..safefs import problem_for_os_error
from ..settings import Settings
from .ocrfetch import Crew, Fetcher, Record, Take

log = logging.getLogger(__name__)

ROLE = "ocr-images"
#: A batch smaller than this stays in one process: another one costs ~0.4 s of CPU to start
#: (imports), about what one process needs for 600 images; it gets images once it is ready.
MIN_IMAGES = 2000
#: Images given to the other process and not answered yet, at most ...
WINDOW = 128
#: ... and at most half of those left on the run's list, but never fewer than this: near the end
#: the other process holds few, so the run's own workers do not sit idle while it works through
#: a long queue (the list's last images are shared out, not left to one process).
LOW_WINDOW = 32
#: The other process sends its results in frames of this many, or after this long (the run's
#: values rule: they go to the other process with its start).
ROWS = 32
SECONDS = 0.02
#: How long the run waits for the other process to leave after a cancel before killing it.
EXIT_WAIT = 10.0


def processes(settings: Settings, images: int, limited: bool) -> int:
    """How many processes fetch a batch of ``images``, the run's included (see the module docstring):
    ``ocr_processes``, or 1."""
    count = settings.ocr_processes
    if (count < 2 or images < MIN_IMAGES or limited or settings.ocr_max_workers < count
            or settings.ocr_per_host < count or not helper.allowed()):
        return 1
    return count


def give_at_most(left: int) -> int:
    """Images another process may hold unanswered while ``left`` are still on the run's list."""
    return max(LOW_WINDOW, min(WINDOW, left // 2))


def shares(total: int, parts: int) -> list[int]:
    """``total`` (workers, per-host slots) split among ``parts`` processes, the run's first: it
    gets what does not divide evenly."""
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


class Partner:
    """The run's side of the other image process (see the module docstring).

    ``take`` gives the next image to do (None: none left), ``record`` journals a result,
    ``give_back`` puts unanswered images back on the list, ``throttled(partner, host)`` cuts the
    run's gate for a host (and tells the other processes), ``fail`` stops the batch with an error.
    """

    def __init__(self, settings: Settings, control: Control, target: Path, tmp: Path, *, threads: int,
                 per_host: int, workers: int, take: Take, record: Record, left: Callable[[], int],
                 give_back: Callable[[list[tuple[str, str]]], None],
                 throttled: Callable[[Partner, str], None], fail: Callable[[BaseException], None],
                 changed: Callable[[], None]) -> None:
        self.target = target
        self._take, self._record, self._give_back, self._left = take, record, give_back, left
        self._throttled, self._fail, self._changed = throttled, fail, changed
        self.proc = child.spawn(ROLE)
        assert self.proc.stdin is not None and self.proc.stdout is not None and self.proc.stderr is not None
        self._stdin: IO[bytes] = self.proc.stdin
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self.outstanding: dict[str, str] = {}  # given and not answered: key -> url
        self.alive = True
        self.ready = False  # started: it has its first images (it gets none before: none wait for its start-up)
        self.ended = False  # no more images will be given
        self.stopped = False  # cancelled or failed: results that still come are dropped by record
        self.clean = False  # the other process said it finished
        self.answered = 0  # results it sent
        self.acked = ""  # the last pause/resume it confirmed
        self.stats: dict[str, Any] = {}
        self._tail: collections.deque[str] = collections.deque(maxlen=10)
        self._send(("start", settings, str(target), str(tmp), threads, per_host, workers, ROWS, SECONDS))
        self._stderr = threading.Thread(target=self._drain, args=(self.proc.stderr,), name="ocr-images-stderr",
                                        daemon=True)
        self._stderr.start()
        self._reader = threading.Thread(target=self._listen, name="ocr-images-reader", daemon=True)
        self._reader.start()
        self._unlisten = control.listen(lambda change: self._send((change,)))
        if control.paused:
            self._send(("pause",))
        if control.cancelled:
            self.stop()

    # -- to the other process ---------------------------------------------------------------
    def _send(self, message: tuple[object, ...]) -> None:
        with self._send_lock, contextlib.suppress(OSError, ValueError):  # gone: the reader sees it
            child.write_frame(self._stdin, message)

    def _top_up(self) -> None:
        """Give images until :data:`WINDOW` are out, or half of those left (at least
        :data:`LOW_WINDOW`); none once the list is done."""
        items: list[tuple[str, str]] = []
        window = give_at_most(self._left())
        with self._lock:
            while not self.ended and self.alive and len(self.outstanding) < window:
                item = self._take()
                if item is None:
                    break
                self.outstanding[item[0]] = item[1]
                items.append(item)
        if items:
            self._send(("work", items))

    def set_workers(self, workers: int) -> None:
        self._send(("workers", workers))

    def throttled(self, host: str) -> None:
        """A 429/503 from ``host`` in the run's process: the other process cuts its gate too."""
        self._send(("throttled", host))

    def stop(self) -> None:
        """The batch stops (cancel, an error): the other process leaves its images to do."""
        self.stopped = True
        self._send(("cancel",))

    # -- from the other process -------------------------------------------------------------
    def _drain(self, stream: IO[bytes]) -> None:
        with contextlib.suppress(OSError, ValueError):
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    self._tail.append(line)

    def _listen(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        while True:
            try:
                message = child.read_frame(stdout)
            except child.ChildGone:
                break
            try:
                self._handle(message)
            except Exception as exc:  # e.g. the journal cannot be written: the batch stops, the pipe is drained
                self._fail(exc)
        try:
            self._gone()
        except Exception as exc:
            self._fail(exc)

    def _handle(self, message: tuple[Any, ...]) -> None:
        what = message[0]
        if what == "results":
            with self._lock:
                for key, *_ in message[1]:
                    self.outstanding.pop(key, None)
            self.answered += len(message[1])
            for key, status, http, detail in message[1]:
                self._record(key, status, http, detail)
            self._top_up()
        elif what == "ready":
            self._top_up()
            self.ready = True
            self._changed()  # (its share of the workers)
        elif what == "control":
            self.acked = message[1]
            log.debug("OCR-VQA: the other image process took the %s", message[1])
        elif what == "throttled":
            self._throttled(self, message[1])
        elif what == "log":
            logging.getLogger(message[1]).log(message[2], "[other image process] %s", message[3])
        elif what == "stats":
            self.stats = message[1]
        elif what == "failed":
            self._fail(SetupError.of(message[1]))
        elif what == "done":
            self.clean = True

    def _gone(self) -> None:
        """The other process's pipe closed: if it did not finish, its unanswered images come back."""
        code = self.proc.wait()
        with self._lock:
            self.alive = False
            left, self.outstanding = list(self.outstanding.items()), {}
        try:
            if not (self.clean or self.stopped or (self.ended and not self.ready)):
                self._stderr.join(2)
                last = self._tail[-1] if self._tail else "no message"
                log.warning("OCR-VQA: the other image process ended unexpectedly (exit code %s: %s); its %d "
                            "unfinished images are fetched by the run's process", code, last, len(left))
                self._take_back(left)
        finally:
            self._changed()  # (its share of the workers goes to the rest)

    def _take_back(self, left: list[tuple[str, str]]) -> None:
        redo: list[tuple[str, str]] = []
        for key, url in left:
            path = self.target / f"{key}.jpg"
            try:  # saved just before the end, not reported yet: as _reconcile would find it
                with open(path, "rb") as fh:
                    self._record(key, "saved", 200, sniff(fh.read(16)) or "unknown")
            except FileNotFoundError:
                redo.append((key, url))
        if redo:
            self._give_back(redo)

    # -- the end -------------------------------------------------------------------------------
    def finish(self) -> None:
        """No more images (or the batch stopped): wait for the other process to leave (one that is
        still starting holds no image: it is stopped at once)."""
        with self._lock:
            self.ended = True
            unused = not self.ready
        if unused:
            log.debug("OCR-VQA: the other image process was not needed (still starting)")
            self.proc.kill()
        self._send(("end",))
        self._reader.join(EXIT_WAIT if self.stopped else None)
        if self._reader.is_alive():
            log.warning("OCR-VQA: the other image process did not stop %.0f s after the cancel; killing it",
                        EXIT_WAIT)
            self.proc.kill()
            self._reader.join()
        self._unlisten()
        self._stderr.join(2)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()


# ------------------------------------------------------------------------------------------
# The other process
# ------------------------------------------------------------------------------------------
class _Outbox:
    """The other process's results and log lines, sent in frames from a thread of their own."""

    def __init__(self, out: IO[bytes], rows: int, seconds: float) -> None:
        self._out = out
        self._rows = rows
        self._seconds = seconds
        self._lock = threading.Lock()  # one frame at a time on the pipe
        self._cond = threading.Condition()
        self._results: list[tuple[str, str, int | None, str]] = []
        self._first = 0.0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="ocr-images-outbox", daemon=True)
        self._thread.start()

    def send(self, message: tuple[object, ...]) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):  # the run is gone: stdin says so
            child.write_frame(self._out, message)

    def add(self, key: str, status: str, http: int | None, detail: str) -> None:
        with self._cond:
            if not self._results:
                self._first = time.monotonic()
                self._cond.notify()
            self._results.append((key, status, http, detail))
            if len(self._results) == self._rows:
                self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._results and not self._closed:
                    self._cond.wait()
                while not self._closed and len(self._results) < self._rows and (
                        left := self._first + self._seconds - time.monotonic()) > 0:
                    self._cond.wait(left)
                batch, self._results = self._results, []
                closed = self._closed
            if batch:
                self.send(("results", batch))
            if closed and not batch:
                return

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()


class _Forward(logging.Handler):
    """The other process's log records, sent to the run's process (whose run log has them)."""

    def __init__(self, outbox: _Outbox) -> None:
        super().__init__(logging.INFO)
        self._outbox = outbox

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self._outbox.send(("log", record.name, record.levelno, record.getMessage()))


class _Inbox:
    """The images given to the other process, and the run's other messages (read by a thread);
    a pause or resume is confirmed once it holds here."""

    def __init__(self, stdin: IO[bytes], control: Control, outbox: _Outbox) -> None:
        self._stdin = stdin
        self.control = control
        self.outbox = outbox
        self.cond = threading.Condition()
        self.queue: collections.deque[tuple[str, str]] = collections.deque()
        self.ended = False
        self.crew: Crew | None = None
        self.net: NetShared | None = None

    def loop(self) -> None:
        while True:
            try:
                message = child.read_frame(self._stdin)
            except child.ChildGone:  # the run's process is gone: stop, leave the rest to do
                self.control.cancel()
                message = ("end",)
            what = message[0]
            if what == "work":
                with self.cond:
                    self.queue.extend(message[1])
                    self.cond.notify_all()
            elif what == "end":
                with self.cond:  # (the worker whose take then finds nothing wakes those waiting their turn)
                    self.ended = True
                    self.cond.notify_all()
                if self.control.cancelled:
                    return
            elif what == "workers" and self.crew is not None:
                self.crew.set_target(message[1])
            elif what == "throttled" and self.net is not None:
                self.net.gate(message[1]).throttled()
            elif what == "pause":
                self.control.pause()
                self.outbox.send(("control", "pause"))
            elif what == "resume":
                self.control.resume()
                self.outbox.send(("control", "resume"))
            elif what == "cancel":
                self.control.cancel()
                with self.cond:
                    self.cond.notify_all()

    def take(self) -> tuple[str, str] | None:
        with self.cond:
            while not self.queue and not self.ended and not self.control.cancelled:
                self.cond.wait(0.2)
            return self.queue.popleft() if self.queue and not self.control.cancelled else None

    def more(self) -> bool:
        return bool(self.queue) or not self.ended


def child_main(args: list[str]) -> int:
    """``--engine-child ocr-images``: fetch the images the run's process gives, send the results."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the run's to handle
    stdin = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print lands in the stderr pipe, not among the frames
    try:
        first = child.read_frame(stdin)
    except child.ChildGone:
        return 2
    _, settings, target, tmp, threads, per_host, workers, rows, seconds = first
    control = Control()
    outbox = _Outbox(out, rows, seconds)
    inbox = _Inbox(stdin, control, outbox)
    forward = _Forward(outbox)
    logging.getLogger("wizard").addHandler(forward)
    logging.getLogger("wizard").setLevel(logging.INFO)
    net = NetShared(settings.limit_rate)
    stop = threading.Event()
    errors: list[BaseException] = []
    fetcher = Fetcher(settings, control, net, Path(target), Path(tmp), stop, per_host=per_host, threads=threads,
                      on_throttle=lambda host: outbox.send(("throttled", host)))
    crew = Crew(fetcher, inbox.take, outbox.add, inbox.more, errors.append, target=workers)
    inbox.crew, inbox.net = crew, net
    threading.Thread(target=inbox.loop, name="ocr-images-inbox", daemon=True).start()
    outbox.send(("ready",))
    crew.run(threads)
    outbox.close()
    logging.getLogger("wizard").removeHandler(forward)
    outbox.send(("stats", {"connections": crew.connections, "answers": dict(crew.answers),
                           "throttles": {host: net.gate(host).throttles for host in fetcher.hosts()}}))
    error = errors[0] if errors else None
    if error is not None and not isinstance(error, Cancelled):
        outbox.send(("failed", _problem(error, Path(target))))
    elif error is None:
        outbox.send(("done",))
    with contextlib.suppress(OSError, ValueError):
        out.close()
    return 0


def _problem(exc: BaseException, target: Path) -> Problem:
    if isinstance(exc, SetupError):
        return exc.problem
    if isinstance(exc, OSError):
        return problem_for_os_error(exc, target)
    log.error("OCR-VQA second image process: unexpected error", exc_info=exc)
    return Problem(Code.INTERNAL, f"Unexpected error in the second OCR-VQA image process: {exc!r}"[:300],
                   "This is a bug; the images saved so far are kept. Please report it with the run log.")
