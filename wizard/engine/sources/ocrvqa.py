"""OCR-VQA images: ``dataset.json`` from its Drive folder, then each image from its own URL.

This does the job of the upstream ``loadDataset.py`` (which is never run) the way LLaVA expects
the result: every image is saved as ``ocr_vqa/images/<key>.jpg`` whatever its URL's extension,
bytes kept as they are (GIF or PNG content under ``.jpg`` is counted and reported, not
converted). Only the keys the annotation JSONs under ``<root>/sharegpt4v/`` reference are
fetched — all keys when there is no JSON (or none references OCR-VQA). Each image has a row in
the journal's ``items`` table, so a run killed among 200K images resumes image by image.
Results are committed in batches (``BATCH_ROWS`` images or ``BATCH_SECONDS``, no fsync per
file): after a kill -9 at most one batch of results is lost, and its saved files are found again
on disk by ``_reconcile``. Each worker keeps its connections alive (``net.keepalive``); the
number of workers follows the throughput (``net.ramp``) and the host's gate (429/503).
Dead links (404/410/403, connection failures and timeouts after retries, non-image answers, tiny
placeholder images such as a 1x1 GIF)
are recorded with their status and listed in ``reports/ocr-vqa-missing.tsv``; the job is done,
with a warning, once every image is saved or recorded dead. Progress is images done / total.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import urlsplit

import ijson
import requests

from ..annotations import find_jsons, iter_image_paths, normalize, sniff
from ..catalog import Catalog, Component, Source
from ..context import JobContext, Settings
from ..errors import Cancelled, Code, SetupError
from ..events import Stage
from ..journal import Journal, state_dir
from ..net import client, keepalive
from ..net.bounds import MARGIN, quarantine
from ..net.policy import Kind, RetryLater, backoff, classify, describe, is_retryable, log_retry
from ..net.ramp import Ramp
from ..net.ratelimit import HostGate
from ..safefs import file_kind_nofollow, open_private, open_private_file
from . import drive
from .drive_folder import folder_file_url
from .registry import SourceKind

IMAGE_PREFIX = "ocr_vqa/images/"
REPORT_NAME = "ocr-vqa-missing.tsv"
DATASET_NAME = "ocr-vqa-dataset.json"
_DEAD_STATUSES = {400, 401, 403, 404, 410, 451}
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ORIGIN = re.compile(r"(?i:https?)://([^/?#]*)")
_MAX_IMAGE = 64 * 1024 * 1024
_SETTLED = {"done", "failed", "waiting", "cancelled"}
#: Image hosts answer 200 with a tiny placeholder (Amazon: a 1x1 GIF, 43 bytes) for a missing image.
PLACEHOLDER = "placeholder image"
_PLACEHOLDER_BYTES = 100
#: Consecutive connection failures (no HTTP answer at all) after which the network is taken to be down.
BREAKER = 40
#: Image results are journaled in one transaction per this many images or this many seconds.
BATCH_ROWS = 256
BATCH_SECONDS = 0.2
_HEADERS = {"Accept-Encoding": "identity"}
_CHUNK = 64 * 1024
_SPILL = 1 << 20  # bodies up to this size are gathered in memory and written at once

log = logging.getLogger(__name__)


def fetch(ctx: JobContext, component: Component, source: Source, catalog: Catalog, *,
          only: Collection[str] | None = None) -> Iterator[Path]:
    """Source module entry point for ``kind = "ocrvqa"``; places the images itself, yields nothing.

    ``only``: the ``<key>.jpg`` names the run's annotation JSONs reference (the runner computes it
    once they are in place). None: the JSONs under ``<root>/sharegpt4v/`` decide — after checking
    that no annotation job of the last run is unfinished (without them every image would be fetched).
    """
    target = ctx.root / component.target
    target.mkdir(parents=True, exist_ok=True)
    if only is None:
        _check_annotations(ctx, catalog)
    _select(ctx, source, catalog, only)
    _reconcile(ctx, target)
    _Batch(ctx, target).run()
    _finish(ctx)
    yield from ()


# ------------------------------------------------------------------------------------------
# Which images
# ------------------------------------------------------------------------------------------
def _check_annotations(ctx: JobContext, catalog: Catalog) -> None:
    """Park when an annotation job of the last run did not finish: the JSONs decide which images
    are needed, and fetching all 207K "just in case" is not an answer."""
    args = ctx.journal.last_run_args() or {}
    groups = {c.id: c for c in catalog.components if c.group == "annotations"}
    missing = []
    for cid in args.get("components", []):
        if cid not in groups or cid == ctx.job:
            continue
        rec = ctx.journal.get(cid)
        files_there = all((ctx.root / groups[cid].target / s.file_name).is_file()
                          for s in groups[cid].official_sources()[:1])
        if rec is None or rec.stage not in _SETTLED or not files_there:
            missing.append(cid)
    if missing:
        raise SetupError(Code.LAYOUT_INCOMPLETE,
                         f"OCR-VQA waits for {', '.join(missing)}, which did not finish in this run: the "
                         "annotation JSONs decide which of the 207K OCR-VQA images are needed.",
                         "Run again once the annotation JSONs are in place (or select ocr-vqa alone to "
                         "fetch every image).", parked=True)


def _json_signature(ctx: JobContext, catalog: Catalog) -> list[list[Any]]:
    try:
        paths = find_jsons(ctx.root, catalog)
    except SetupError:
        return []
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in paths]


def _select(ctx: JobContext, source: Source, catalog: Catalog, only: Collection[str] | None) -> None:
    """Fill the journal's items table with the images to fetch (unless the choice is unchanged)."""
    keys_only = sorted({PurePosixPath(p).stem for p in only}) if only else None
    signature: list[list[Any]]
    if keys_only is not None:
        digest = hashlib.sha256("\n".join(keys_only).encode()).hexdigest()
        signature = [["only", len(keys_only), digest]]
    else:
        signature = _json_signature(ctx, catalog)
    rec = ctx.journal.get(ctx.job)
    counts = ctx.journal.items_counts(ctx.job)
    if counts and rec is not None and rec.info.get("ocr_selection") == signature:
        return
    urls = _dataset_urls(ctx, source, catalog)
    wanted = set(keys_only) if keys_only is not None else _referenced_keys(ctx, signature)
    if wanted is None:
        keys = list(urls)
        ctx.log(f"OCR-VQA: no annotation JSON references OCR-VQA images; fetching all {len(keys):,}")
    else:
        keys = sorted(wanted)
        ctx.log(f"OCR-VQA: the annotation JSONs reference {len(keys):,} of the {len(urls):,} images")
    if counts:
        ctx.log("OCR-VQA: the annotation JSONs changed since the last run; listing the images again "
                "(images already saved are kept)")
        ctx.journal.items_clear(ctx.job)
    ctx.journal.items_add(ctx.job, [(k, urls.get(k, "")) for k in keys])
    absent = [(k, "dead", None, "not in dataset.json") for k in keys if not urls.get(k)]
    if absent:
        ctx.journal.items_set_many(ctx.job, absent)
    ctx.journal.update_info(ctx.job, ocr_selection=signature)


def _dataset_urls(ctx: JobContext, source: Source, catalog: Catalog) -> dict[str, str]:
    """key -> imageURL from ``dataset.json`` (downloaded from the Drive folder, streamed with ijson)."""
    dest = ctx.downloads / DATASET_NAME
    if not dest.exists():
        url = folder_file_url(ctx, catalog, source.folder_id, source.filename or "dataset.json")
        drive.download_file(ctx, url, dest)
    ctx.stage(Stage.VERIFYING, "reading OCR-VQA dataset.json")
    urls: dict[str, str] = {}
    try:
        with open(dest, "rb") as fh:
            for key, record in ijson.kvitems(fh, ""):
                image = record.get("imageURL") if isinstance(record, dict) else None
                urls[str(key)] = image if isinstance(image, str) else ""
    except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError) as exc:
        kept = quarantine(ctx, dest, "corrupt")
        raise SetupError(Code.ARCHIVE_CORRUPT, f"OCR-VQA's dataset.json is not valid JSON ({exc}).",
                         f"It was moved to {kept}; the next run downloads it again.") from exc
    if not urls:
        raise SetupError(Code.ARCHIVE_CORRUPT, "OCR-VQA's dataset.json lists no images.",
                         "The file is not OCR-VQA's dataset.json; check the catalog's folder id.")
    return urls


def _referenced_keys(ctx: JobContext, signature: list[list[Any]]) -> set[str] | None:
    """Keys referenced as ``ocr_vqa/images/<key>.jpg`` by the JSONs; None: no JSON references any."""
    keys: set[str] = set()
    for name, size, _mtime in signature:
        path = ctx.root / "sharegpt4v" / name
        ctx.stage(Stage.VERIFYING, f"reading {name}")

        def progress(n: int, total: int = size) -> None:
            ctx.progress(n, total, unit="files")

        for image in iter_image_paths(path, progress=progress):
            if image and "ocr_vqa/" in image:
                image = normalize(image)
                if image.startswith(IMAGE_PREFIX):
                    keys.add(PurePosixPath(image[len(IMAGE_PREFIX):]).stem)
    return keys or None


def _reconcile(ctx: JobContext, target: Path) -> None:
    """Make the table agree with the disk: saved files that vanished are to do again, and files
    that arrived just before a crash (saved, not yet recorded) are saved."""
    on_disk = {e.name for e in os.scandir(target) if e.is_file()}
    changes: list[tuple[str, str, int | None, str | None]] = []
    for key, _url, status, _http, _detail in ctx.journal.items(ctx.job):
        there = f"{key}.jpg" in on_disk
        if status == "saved" and not there:
            changes.append((key, "todo", None, None))
        elif status == "todo" and there:
            with open(target / f"{key}.jpg", "rb") as fh:
                changes.append((key, "saved", 200, sniff(fh.read(16)) or "unknown"))
    if changes:
        ctx.journal.items_set_many(ctx.job, changes)


# ------------------------------------------------------------------------------------------
# Fetching
# ------------------------------------------------------------------------------------------
class _Batch:
    """The images still to do, fetched by a pool of workers, each over its own kept-alive
    connections (:class:`~wizard.engine.net.keepalive.KeepAlive`). How many work at once follows
    the throughput (:class:`~wizard.engine.net.ramp.Ramp`: more while more is faster) and the
    host's gate (fewer after 429/503). Results are journaled in batches
    (:meth:`~wizard.engine.journal.Journal.items_batch`: one transaction per ``BATCH_ROWS`` images
    or ``BATCH_SECONDS``)."""

    def __init__(self, ctx: JobContext, target: Path) -> None:
        self.ctx = ctx
        self.target = target
        self.target_dir = os.path.join(target, "")  # the folder as a string ending in a separator
        self.tmp = ctx.downloads / "ocr-vqa-tmp"
        self.tmp_dir = os.path.join(self.tmp, "")
        self.todo = [(k, u) for k, u, _s, _h, _d in ctx.journal.items(ctx.job, "todo")]
        counts = ctx.journal.items_counts(ctx.job)
        self.total = sum(counts.values())
        self.done = self.total - len(self.todo)
        self.lock = threading.Lock()
        self.turn = threading.Condition(self.lock)  # workers above the ramp's target wait on it
        self.hosts: dict[str, threading.Semaphore] = {}
        self.next = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None
        #: keys failed for want of any answer, in a row: journaled only once the streak ends
        self.net_failures: list[tuple[str, str]] = []
        self.last_progress = 0.0
        self.ramp = make_ramp(ctx.settings)
        self.records = ctx.journal.items_batch(ctx.job, rows=BATCH_ROWS, seconds=BATCH_SECONDS)

    def run(self) -> None:
        ctx = self.ctx
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        ctx.stage(Stage.DOWNLOADING, f"OCR-VQA images ({len(self.todo):,} to fetch)")
        ctx.progress(self.done, self.total, unit="files")
        threads = max(1, min(self.ramp.ceiling, len(self.todo)))
        try:
            if self.todo:
                with ThreadPoolExecutor(threads, thread_name_prefix="ocr-vqa") as pool:
                    for index in range(threads):
                        pool.submit(self._worker, index)
        finally:
            if len(self.net_failures) < BREAKER:  # a streak too short to blame the network: dead links
                for key, detail in self.net_failures:
                    self.records.add(key, "dead", None, detail)
            self.records.flush()
        shutil.rmtree(self.tmp, ignore_errors=True)
        ctx.progress(self.done, self.total, unit="files")
        log.info("OCR-VQA: %d journal commits for %d images; %d workers at the end",
                 self.records.commits, len(self.todo), self.ramp.target)
        if self.error is not None:
            raise self.error

    def _take(self) -> tuple[str, str] | None:
        with self.lock:
            if self.stop.is_set() or self.next >= len(self.todo):
                return None
            item = self.todo[self.next]
            self.next += 1
            return item

    def _my_turn(self, index: int) -> bool:
        """Wait while worker ``index`` is above the ramp's target; False once the batch stops."""
        with self.turn:  # a waiting worker also leaves once every image is taken (nothing left to do)
            while index >= self.ramp.target and not self.stop.is_set() and self.next < len(self.todo):
                self.turn.wait(0.2)
            return not self.stop.is_set()

    def _host(self, host: str) -> threading.Semaphore:
        with self.lock:
            if host not in self.hosts:
                self.hosts[host] = threading.Semaphore(max(1, self.ctx.settings.ocr_per_host))
            return self.hosts[host]

    def _worker(self, index: int) -> None:
        settings = self.ctx.settings
        pool = keepalive.KeepAlive(settings.connect_timeout, settings.read_timeout)
        try:
            while self._my_turn(index) and (item := self._take()) is not None:
                key, url = item
                status, http, detail = self._one(pool, key, url)
                self._record(key, status, http, detail)
        except BaseException as exc:  # Cancelled, a full disk, a bug: stop everyone, re-raise in run()
            with self.lock:
                if self.error is None:
                    self.error = exc
            self.stop.set()
        finally:
            pool.close()

    def _record(self, key: str, status: str, http: int | None, detail: str) -> None:
        ctx = self.ctx
        network = status == "dead" and http is None and detail.startswith("network:")
        with self.lock:  # no journal write in here: a batch commit never holds up the other workers
            if self.stop.is_set() and self.error is not None:
                return  # the batch is stopping: this image stays to do
            if network:
                self.net_failures.append((key, detail))
                if len(self.net_failures) >= BREAKER:
                    self.error = SetupError(
                        Code.NETWORK,
                        f"OCR-VQA: {len(self.net_failures)} images in a row got no answer at all "
                        f"({detail[9:]}); the network or the image host seems to be down.",
                        "Check the connection and run again; images saved so far are kept.")
                    self.stop.set()
                    return  # those images were never journaled: they stay to do
                streak: list[tuple[str, str]] = []
            else:
                streak, self.net_failures = self.net_failures, []
            self.done += 1
            done = self.done
            before = self.ramp.target
            if self.ramp.update(done) > before:
                self.turn.notify_all()
        for dead_key, dead_detail in streak:  # the network is fine: those were dead links after all
            self.records.add(dead_key, "dead", None, dead_detail)
        if not network:
            self.records.add(key, status, http, detail)
        now = time.monotonic()
        if now - self.last_progress >= 0.1 or done == self.total:
            self.last_progress = now
            ctx.progress(done, self.total, unit="files")

    def _one(self, pool: keepalive.KeepAlive, key: str, url: str) -> tuple[str, int | None, str]:
        """("saved" | "dead", HTTP status or None, detail) for one image."""
        ctx = self.ctx
        if not url:
            return "dead", None, "no imageURL in dataset.json"
        origin = _ORIGIN.match(url)
        if not _SAFE_KEY.match(key) or origin is None:
            return "dead", None, "unusable key or URL"
        host = origin.group(1)  # what urlsplit calls the netloc (a gate per host)
        attempt = 0
        while True:
            if self.stop.is_set():
                raise _Stopped()
            ctx.control.checkpoint()
            wait: float | None = None
            gate = ctx.net.gate(host)
            try:
                with self._host(host):
                    if not gate.acquire(self.stop):
                        raise _Stopped()
                    try:
                        return self._get(pool, key, url, gate)
                    finally:
                        gate.release()
            except RetryLater as exc:
                problem, wait = str(exc), exc.wait
            except requests.RequestException as exc:
                ctx.control.checkpoint()  # cut by a cancel: not a dead link
                if not is_retryable(exc):
                    return "dead", None, describe(exc)
                problem = "network: " + describe(exc)
            attempt += 1
            if attempt > ctx.settings.ocr_retries:
                if problem.startswith("network:"):
                    return "dead", None, problem
                return "dead", _status_of(problem), problem
            delay = wait if wait is not None else backoff(attempt, ctx.settings.backoff, ctx.settings.backoff_cap,
                                                          ctx.net.rand)
            log_retry(f"OCR-VQA image {key}", problem, delay, attempt, ctx.settings.ocr_retries, wait is not None)
            ctx.control.sleep(delay)

    def _get(self, pool: keepalive.KeepAlive, key: str, url: str, gate: HostGate) -> tuple[str, int | None, str]:
        ctx = self.ctx
        # identity: keep the bytes exactly as served, and let Content-Length count them
        resp = pool.get(url, _HEADERS)
        finished = False
        try:
            status = resp.status
            answer = classify(status, resp.headers, cap=ctx.settings.backoff_cap * 10, now=ctx.net.wall)
            if answer.kind is Kind.RETRY:
                if answer.throttled:
                    gate.throttled()  # fewer connections to this host for a while
                raise RetryLater(f"HTTP {status}", answer.wait, throttled=answer.throttled)
            if status in _DEAD_STATUSES or status >= 400:
                return "dead", status, f"HTTP {status}"
            if status != 200:
                return "dead", status, f"unexpected HTTP {status}"
            tmp = f"{self.tmp_dir}{key}.{threading.get_ident()}.tmp"
            bound = _MAX_IMAGE if answer.length is None else min(_MAX_IMAGE, answer.length + MARGIN)
            # a cancel shuts the connection: a stalled image host does not hold the stop up
            with ctx.control.on_cancel(lambda: client.abort_response(resp)):
                size, head, finished, body = _receive(ctx, resp, tmp, bound)
        except BaseException:
            resp.close()
            raise
        finally:
            keepalive.done(resp, complete=finished)
        if size > bound:  # runs on: nothing past the bound was written
            return "dead", 200, f"body-too-long (over {bound:,} bytes)"
        try:
            verdict = self._judge(resp, size, head)
        except requests.RequestException:
            if body is None:
                _discard(tmp)
            raise
        if verdict is not None:  # not kept (a body that went to disk is removed)
            if body is None:
                _discard(tmp)
            return verdict
        if body is not None:  # the usual small image: written now, in one go
            _write_new(tmp, body)
        os.replace(tmp, f"{self.target_dir}{key}.jpg")
        return "saved", 200, sniff(head) or "unknown"

    @staticmethod
    def _judge(resp: keepalive.Response, size: int, head: bytes) -> tuple[str, int | None, str] | None:
        """Why a complete body is not an image to keep (None: it is one). Raises for a short body."""
        length = resp.headers.get("Content-Length")
        encoded = resp.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
        if length is not None and length.isdigit() and int(length) != size and not encoded:
            raise requests.exceptions.ChunkedEncodingError(f"got {size} of {length} bytes")
        if size < _PLACEHOLDER_BYTES or _one_pixel_gif(head):  # the host's "no such image" answer
            return "dead", None, PLACEHOLDER
        if sniff(head) is None:
            what = "an HTML page" if drive.looks_like_html(head) else ("empty" if not size else "not an image")
            return "dead", 200, what
        return None


def make_ramp(settings: Settings) -> Ramp:
    """How many workers fetch at once: from ``ocr_workers``, more while more is faster, up to
    ``ocr_max_workers`` (tests swap this for a scripted ramp)."""
    ceiling = max(1, settings.ocr_workers, settings.ocr_max_workers)
    return Ramp(max(1, settings.ocr_workers), ceiling)


def _receive(ctx: JobContext, resp: keepalive.Response, tmp: str,
             bound: int) -> tuple[int, bytes, bool, bytes | None]:
    """Read one image: (size, its first 16 bytes, whether the body was read to its end, the body
    when it is held in memory — None when it went to ``tmp``).

    Small bodies are gathered in memory (the caller writes them once it knows they are worth
    keeping: a placeholder or an error page costs no file). A body that turns out large goes to
    ``tmp`` as it comes. A body that runs past ``bound`` is cut there (size > bound, nothing kept).
    """
    limiter = ctx.limiter
    size, head = 0, b""
    parts: list[bytes] = []
    out: IO[bytes] | None = None
    length = resp.headers.get("Content-Length", "")
    if limiter.rate is None and length.isdigit() and int(length) <= min(_SPILL, bound):
        chunks: Iterator[bytes] = iter((keepalive.read(resp, bound + 1),))  # the usual image: one read
    else:
        chunks = keepalive.stream(resp, limiter.chunk_size(_CHUNK))
    try:
        for chunk in chunks:
            if len(head) < 16:
                head += chunk[: 16 - len(head)]
            size += len(chunk)
            if size > bound:
                keepalive.abandon(resp)
                if out is not None:
                    out.close()
                    out = None
                    _discard(tmp)
                return size, head, False, None
            if out is not None:
                out.write(chunk)
            else:
                parts.append(chunk)
                if size > _SPILL:
                    out = open_private_file(tmp, "wb")
                    out.writelines(parts)
                    parts = []
            limiter.consume(len(chunk), ctx.control.sleep)
    finally:
        if out is not None:
            out.close()
    if out is not None or size > _SPILL:
        return size, head, True, None
    return size, head, True, parts[0] if len(parts) == 1 else b"".join(parts)


def _write_new(path: str, data: bytes) -> None:
    """``data`` into the app's own file ``path`` with one open, write and close (created
    exclusively by :func:`~wizard.engine.safefs.open_private`; no fsync: the journal's batch commit
    is the durability point, and a file the journal does not know yet is found by ``_reconcile``)."""
    fd = open_private(path, truncate=True)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _discard(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class _Stopped(Cancelled):
    """Another worker stopped the batch; this one leaves its image to do."""


def _one_pixel_gif(head: bytes) -> bool:
    """A GIF whose logical screen is 1x1 pixels (little-endian width/height after the signature)."""
    return head[:6] in (b"GIF87a", b"GIF89a") and head[6:10] == b"\x01\x00\x01\x00"


def _status_of(problem: str) -> int | None:
    match = re.match(r"HTTP (\d+)", problem)
    return int(match.group(1)) if match else None


# ------------------------------------------------------------------------------------------
# The end
# ------------------------------------------------------------------------------------------
def report_path(ctx: JobContext) -> Path:
    return ctx.reports / REPORT_NAME


def _finish(ctx: JobContext) -> None:
    rows = ctx.journal.items(ctx.job)
    left = [r for r in rows if r[2] == "todo"]
    if left:  # cannot happen after a clean batch; keep the job resumable if it does
        raise SetupError(Code.RETRIES_EXHAUSTED, f"OCR-VQA: {len(left):,} images are still to do.",
                         "Run again to continue; images saved so far are kept.")
    saved = [r for r in rows if r[2] == "saved"]
    dead = [r for r in rows if r[2] == "dead"]
    other = sum(1 for r in saved if r[4] != "JPEG")
    report = report_path(ctx)
    ctx.log(f"OCR-VQA: {len(saved):,} of {len(rows):,} images in place")
    if dead:
        tmp = report.with_name(report.name + ".tmp")
        with open_private_file(tmp, "w", encoding="utf-8", newline="\n") as out:
            out.write("key\turl\tstatus\n")
            for key, url, _status, http, detail in dead:
                out.write(f"{key}\t{url}\t{http if http is not None else _word(detail)}\n")
        os.replace(tmp, report)
        ctx.log(f"OCR-VQA: {len(dead):,} of {len(rows):,} images could not be fetched (dead links); "
                f"they are listed in {report}", "warning")
    else:
        report.unlink(missing_ok=True)
    if other:
        ctx.log(f"OCR-VQA: {other:,} saved images are GIF/PNG content under a .jpg name (kept as they are, "
                "as LLaVA expects)", "warning")
    ctx.journal.update_info(ctx.job, ocr_saved=len(saved), ocr_dead=len(dead), ocr_not_jpeg=other,
                            ocr_report=str(report) if dead else None)
    if not ctx.settings.keep_archives:
        (ctx.downloads / DATASET_NAME).unlink(missing_ok=True)


def _word(detail: str | None) -> str:
    text = (detail or "").removeprefix("network: ")
    return {"the server stopped answering (timeout)": "timeout", "DNS lookup failed": "dns",
            "the connection dropped mid-file": "dropped", "connection failed": "connection",
            "too many redirects (a redirect loop)": "redirect-loop",
            "redirected to a URL that is not http(s)": "bad-redirect", "not in dataset.json": "no-url",
            "no imageURL in dataset.json": "no-url",
            PLACEHOLDER: "placeholder"}.get(text, text.replace(" ", "-") or "unknown")


class OcrVqaKind(SourceKind):
    """``kind = "ocrvqa"``: dataset.json from its Drive folder, then each image from its own URL,
    placed by this module (it yields nothing); ``only`` names the images to fetch."""

    name = "ocrvqa"

    def fetch(self, ctx: JobContext, component: Component, source: Source, catalog: Catalog, *,
              only: Collection[str] | None = None) -> Iterator[Path]:
        return fetch(ctx, component, source, catalog, only=only)

    def host_label(self, source: Source, hub_endpoint: str, catalog: Catalog) -> str:
        return urlsplit(catalog.drive_file_url).netloc or self.name

    def repair(self, ctx: JobContext, component: Component, source: Source, catalog: Catalog,
               only: set[str]) -> tuple[set[str], set[str]] | None:
        """Images come one by one: mark the wanted ones (dead ones too) to do, run the batch."""
        octx = ctx.for_job(component.id)  # the component's own per-image table
        rows = {key for key, *_ in ctx.journal.items(component.id)}
        keys = [p.rsplit(".", 1)[0] for p in only]
        ctx.journal.items_set_many(component.id, [(k, "todo", None, None) for k in keys if k in rows])
        try:
            for _ in fetch(octx, component, source, catalog):
                pass
        finally:
            stage = ctx.journal.get(component.id)
            ctx.journal.set_stage(component.id, Stage.DONE.value, problem=stage.problem if stage else None)
        dest = ctx.root / component.target
        return {p for p in only if (dest / p).is_file()}, set()

    def known_gaps(self, root: Path, component: Component) -> set[str]:
        report = state_dir(root) / "reports" / REPORT_NAME
        gaps: set[str] = set()
        if file_kind_nofollow(report) != "file":  # missing, or planted (a FIFO would hang the plan)
            return gaps
        try:
            with open(report, encoding="utf-8", errors="replace") as fh:
                next(fh, None)  # the header
                gaps.update(f"{component.target}/{key}.jpg" for line in fh
                            if (key := line.split("\t", 1)[0].strip()))
        except OSError:
            pass
        return gaps

    def why_missing(self, journal: Journal, component: Component, path: str) -> str | None:
        key = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        for k, url, status, http, detail in journal.items(component.id):
            if k == key and status == "dead":
                why = f"HTTP {http}" if http else (detail or "no answer")
                return f"dead image URL ({why}): {url}"
        return "not in OCR-VQA's dataset.json"


KIND = OcrVqaKind()
