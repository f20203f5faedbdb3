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
number of workers follows the throughput (``net.ramp``) and the host's gate (429/503). A large
batch is shared with a second process (:mod:`.ocrsplit`; the fetching itself is :mod:`.ocrfetch`,
the same in both), whose results this process journals. Dead links (404/410/403, connection
failures and timeouts after retries, non-image answers, tiny placeholder images such as a 1x1
GIF) are recorded with their status and listed in ``reports/ocr-vqa-missing.tsv``; the job is done,
with a warning, once every image is saved or recorded dead. Progress is images done / total.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Collection, Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import ijson

from .. import jsonscan
from ..annotations import find_jsons, iter_image_paths, normalize
from ..catalog import Catalog, Component, Source
from ..context import JobContext, Settings
from ..errors import Code, SetupError
from ..events import Stage
from ..imagesig import sniff
from ..journal import Journal, state_dir
from ..net.bounds import quarantine
from ..net.ramp import Ramp
from ..safefs import file_kind_nofollow, open_private_file
from . import drive, ocrsplit
from .drive_folder import folder_file_url
from .ocrfetch import PLACEHOLDER, WEB_PAGE, Crew, Fetcher
from .registry import SourceKind

IMAGE_PREFIX = "ocr_vqa/images/"
REPORT_NAME = "ocr-vqa-missing.tsv"
DATASET_NAME = "ocr-vqa-dataset.json"
_SETTLED = {"done", "failed", "waiting", "cancelled"}
#: Consecutive connection failures (no HTTP answer at all) or web pages instead of images after
#: which the network is taken to be down (or behind a sign-in page).
BREAKER = 40
#: Image results are journaled in one transaction per this many images or this many seconds.
BATCH_ROWS = 256
BATCH_SECONDS = 0.2

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
            for key, record in jsonscan.safe_ijson(fh).kvitems(fh, ""):  # never ijson's crash on a long number
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
    """The images still to do, fetched by a :class:`~.ocrfetch.Crew` of workers (each over its
    own kept-alive connections) in this process and, for a large batch on a machine with a
    second core, by a second process too (:class:`~.ocrsplit.Partner`: it takes a share of the
    list; this process journals its results). How many work at once follows the throughput
    (:class:`~wizard.engine.net.ramp.Ramp`: more while more is faster; split between the two
    processes) and the host's gate (fewer after 429/503). Results are journaled in batches
    (:meth:`~wizard.engine.journal.Journal.items_batch`: one transaction per ``BATCH_ROWS``
    images or ``BATCH_SECONDS``)."""

    def __init__(self, ctx: JobContext, target: Path) -> None:
        self.ctx = ctx
        self.target = target
        self.tmp = ctx.downloads / "ocr-vqa-tmp"
        self.todo = [(k, u) for k, u, _s, _h, _d in ctx.journal.items(ctx.job, "todo")]
        counts = ctx.journal.items_counts(ctx.job)
        self.total = sum(counts.values())
        self.done = self.total - len(self.todo)
        self.lock = threading.Lock()
        self.next = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None
        #: keys failed for want of any answer (or with a web page), in a row: journaled only once
        #: the streak ends, as (key, HTTP status, detail)
        self.net_failures: list[tuple[str, int | None, str]] = []
        self.last_progress = 0.0
        self.ramp = make_ramp(ctx.settings)
        self.records = ctx.journal.items_batch(ctx.job, rows=BATCH_ROWS, seconds=BATCH_SECONDS)
        self.partners: list[ocrsplit.Partner] = []  # the other image processes
        self.crew: Crew | None = None
        self.connections = 0
        self.answers: collections.Counter[int] = collections.Counter()  # by HTTP status, both processes
        self.others = 0  # results the other processes sent

    def run(self) -> None:
        ctx = self.ctx
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        ctx.stage(Stage.DOWNLOADING, f"OCR-VQA images ({len(self.todo):,} to fetch)")
        ctx.progress(self.done, self.total, unit="files")
        todo = len(self.todo)
        try:
            if todo:
                self._start_partners(ocrsplit.processes(ctx.settings, todo, ctx.limiter.rate is not None))
            while todo:
                self._work()
                while self.partners:  # the list is done here: the other processes finish their shares
                    partner = self.partners[0]
                    partner.finish()
                    self._tally(partner.stats)
                    self.others += partner.answered
                    self.partners.pop(0)
                if self.next >= len(self.todo) or self.stop.is_set():
                    break  # (else one died and gave images back: they are done here, in one process)
        finally:
            for partner in self.partners:  # an error in this process: the others stop too
                partner.stop()
            for partner in self.partners:
                partner.finish()
            if len(self.net_failures) < BREAKER:  # a streak too short to blame the network: dead links
                for key, http, detail in self.net_failures:
                    self.records.add(key, "dead", http, detail)
            self.records.flush()
        shutil.rmtree(self.tmp, ignore_errors=True)
        ctx.progress(self.done, self.total, unit="files")
        log.info("OCR-VQA: %d images (%d by other image processes) in %d journal commits; answers %s "
                 "over %d connections; %d workers at the end", todo, self.others, self.records.commits,
                 dict(sorted(self.answers.items())) or "none", self.connections, self.ramp.target)
        if self.error is not None:
            raise self.error

    def _start_partners(self, count: int) -> None:
        """The other ``count - 1`` image processes, each with its share of workers and per-host slots."""
        settings = self.ctx.settings
        workers = ocrsplit.shares(self.ramp.target, count)
        threads = ocrsplit.shares(self.ramp.ceiling, count)
        per_host = ocrsplit.shares(settings.ocr_per_host, count)
        for index in range(1, count):
            try:
                partner = ocrsplit.Partner(
                    settings, self.ctx.control, self.target, self.tmp, threads=threads[index],
                    per_host=per_host[index], workers=workers[index], take=self._take, record=self._record,
                    left=self._left, give_back=self._give_back, throttled=self._throttled, fail=self._fail,
                    changed=self._share_out)
            except OSError as exc:  # could not start it: fewer processes do it all
                log.warning("OCR-VQA: no other image process (%s); fetching with %d", exc, len(self.partners) + 1)
                break
            self.partners.append(partner)
            self._share_out()

    def _work(self) -> None:
        """One crew of workers in this process, until the list is done (or the batch stops)."""
        settings = self.ctx.settings
        per_host = ocrsplit.shares(settings.ocr_per_host, len(self.partners) + 1)[0]
        threads = max(1, min(self.ramp.ceiling, len(self.todo) - self.next))
        fetcher = Fetcher(settings, self.ctx.control, self.ctx.net, self.target, self.tmp, self.stop,
                          per_host=per_host, threads=threads, on_throttle=self._tell_others)
        crew = self.crew = Crew(fetcher, self._take, self._record, self._more, self._fail, target=self._own_share())
        crew.run(threads)
        self._tally({"connections": crew.connections, "answers": crew.answers})

    def _tally(self, stats: dict[str, Any]) -> None:
        self.connections += int(stats.get("connections", 0))
        self.answers.update(stats.get("answers", {}))

    def _alive(self) -> list[ocrsplit.Partner]:
        """The other processes at work (started, not ended)."""
        return [p for p in self.partners if p.ready and p.alive]

    def _own_share(self) -> int:
        return ocrsplit.shares(self.ramp.target, len(self._alive()) + 1)[0]

    def _tell_others(self, host: str) -> None:
        """A 429/503 from ``host`` in this process: the other processes cut their gates too."""
        for partner in self._alive():
            partner.throttled(host)

    def _throttled(self, source: ocrsplit.Partner, host: str) -> None:
        """Another process got a 429/503 from ``host``: this one and the rest cut their gates too."""
        self.ctx.net.gate(host).throttled()
        for partner in self._alive():
            if partner is not source:
                partner.throttled(host)

    def _take(self) -> tuple[str, str] | None:
        with self.lock:
            if self.stop.is_set() or self.next >= len(self.todo):
                return None
            item = self.todo[self.next]
            self.next += 1
            return item

    def _more(self) -> bool:
        return self.next < len(self.todo)

    def _left(self) -> int:
        """Images on the list not given out yet."""
        return len(self.todo) - self.next

    def _give_back(self, items: list[tuple[str, str]]) -> None:
        """Images another process took and never answered (it died): back on the list."""
        with self.lock:
            self.todo.extend(items)

    def _fail(self, exc: BaseException) -> None:
        """Stop the batch with ``exc`` (the first error wins): every worker leaves its image to do."""
        with self.lock:
            if self.error is None:
                self.error = exc
        self._stop_all()

    def _stop_all(self) -> None:
        self.stop.set()
        for partner in self.partners:
            partner.stop()
        if self.crew is not None:
            self.crew.wake()

    def _record(self, key: str, status: str, http: int | None, detail: str) -> None:
        ctx = self.ctx
        page = status == "dead" and detail == WEB_PAGE  # a sign-in page answers every URL alike
        network = page or (status == "dead" and http is None and detail.startswith("network:"))
        tripped = False
        with self.lock:  # no journal write in here: a batch commit never holds up the other workers
            if self.stop.is_set() and self.error is not None:
                return  # the batch is stopping: this image stays to do
            if network:
                self.net_failures.append((key, http, detail))
                if len(self.net_failures) >= BREAKER:
                    self.error = _streak_error(self.net_failures, detail)
                    tripped = True
                streak: list[tuple[str, int | None, str]] = []
            else:
                streak, self.net_failures = self.net_failures, []
            if not tripped:
                self.done += 1
            done = self.done
            before = self.ramp.target
            raised = not tripped and self.ramp.update(done) != before
        if tripped:
            self._stop_all()
            return  # those images were never journaled: they stay to do
        if raised:
            self._share_out()
        for dead_key, dead_http, dead_detail in streak:  # the network is fine: those were dead links after all
            self.records.add(dead_key, "dead", dead_http, dead_detail)
        if not network:
            self.records.add(key, status, http, detail)
        now = time.monotonic()
        if now - self.last_progress >= 0.1 or done == self.total:
            self.last_progress = now
            ctx.progress(done, self.total, unit="files")

    def _share_out(self) -> None:
        """The ramp changed the worker count (or a process died): each process gets its share."""
        alive = self._alive()
        shares = ocrsplit.shares(self.ramp.target, len(alive) + 1)
        if self.crew is not None:
            self.crew.set_target(shares[0])
        for partner, share in zip(alive, shares[1:], strict=True):
            partner.set_workers(share)


def _streak_error(streak: list[tuple[str, int | None, str]], last: str) -> SetupError:
    """``network``: BREAKER images in a row got no answer, or a web page instead of an image."""
    if sum(detail == WEB_PAGE for _key, _http, detail in streak) * 2 > len(streak):
        return SetupError(
            Code.NETWORK,
            f"OCR-VQA: {len(streak)} images in a row came back as a web page, not an image; a network "
            "sign-in page (hotel or office Wi-Fi, a proxy) seems to answer in their place.",
            "Open one of the image links in a browser; if the network asks you to sign in, do so and run "
            "again. Those images stay to do; images saved so far are kept.")
    return SetupError(
        Code.NETWORK,
        f"OCR-VQA: {len(streak)} images in a row got no answer at all ({last.removeprefix('network: ')}); "
        "the network or the image host seems to be down.",
        "Check the connection and run again; images saved so far are kept.")


def make_ramp(settings: Settings) -> Ramp:
    """How many workers fetch at once: from ``ocr_workers``, more while more is faster, up to
    ``ocr_max_workers`` (tests swap this for a scripted ramp)."""
    ceiling = max(1, settings.ocr_workers, settings.ocr_max_workers)
    return Ramp(max(1, settings.ocr_workers), ceiling)


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
