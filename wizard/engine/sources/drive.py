"""Google Drive files through gdown: resumable, verified, with Drive's refusals as clear errors.

gdown does what only it can do — Drive's confirmation pages, cookies, folder listings — and is
kept quiet (``quiet=True``: a windowed build has no stderr) with its ``progress=`` callback
feeding the job's progress. gdown resumes a partial ``<name><8 random chars>.part`` with
``Range`` + ``If-Range`` when called with ``resume=True``; a download killed mid-file therefore
continues on the next run. After the download the file is checked: an HTML page saved in place
of the file (a plain URL answers whatever it has) is never passed on as an archive — quota text
in it parks the job (``drive-quota``), anything else is ``drive-html`` — and the catalog's size
and sha256 are verified, a mismatch moving the bytes to the quarantine folder.

When Drive refuses (quota, permission, an HTML page) and community mirrors are allowed, the job
falls back to the component's pinned community source and says so in the log. A file without an
id (or whose id no longer works) is looked up in its folder (:mod:`.drive_folder`).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import requests

from ..catalog import Catalog, Component, Source
from ..context import JobContext
from ..control import Control
from ..errors import Cancelled, Code, HttpStatusError, SetupError
from ..events import Stage
from ..imagesig import looks_like_html
from ..net import client
from ..net.bounds import limit_for, quarantine, too_long
from ..net.client import log as requests_log
from ..net.client import redact_url
from ..net.policy import Attempts, Kind, RetryLater, classify, describe, is_retryable
from ..safefs import file_kind_nofollow
from .drive_cookies import cookies_file
from .drive_errors import drive_error, has_quota_text, quota_error
from .drive_folder import folder_file_url
from .registry import SourceKind, is_known, kind_of

_REFUSALS = (Code.DRIVE_QUOTA, Code.DRIVE_PERMISSION, Code.DRIVE_HTML)
def fetch(ctx: JobContext, component: Component, source: Source, catalog: Catalog) -> Iterator[Path]:
    """Source module entry point for ``kind = "drive"``: one Drive file (by id or folder + name)."""
    if ctx.item_done(source.file_name):
        return
    try:
        path = download_source(ctx, component, source, catalog)
    except SetupError as exc:
        mirror = community_fallback(ctx, component, exc)
        if mirror is None:
            raise
        yield from _fetch_community(ctx, component, mirror, catalog, exc)
        return
    yield path


def download_source(ctx: JobContext, component: Component, source: Source, catalog: Catalog) -> Path:
    """Download a drive source's file into the downloads folder: by file id, else via its folder."""
    name = source.file_name
    dest = ctx.downloads / name
    if source.id:
        url = catalog.drive_file_url.format(id=source.id)
        try:
            return download_file(ctx, url, dest, size=source.size, sha256=source.sha256, component=component)
        except SetupError as exc:
            not_found = isinstance(exc, HttpStatusError) and exc.status == 404
            if not source.folder_id or not (not_found or exc.problem.code == Code.DRIVE_PERMISSION):
                raise
            ctx.log(f"{name}: the file id {source.id} did not work ({exc.problem.message}); "
                    "looking the file up in its Drive folder instead", "warning")
    if not source.folder_id:
        raise SetupError(Code.NO_SOURCE, f"The Drive source of {component.title} names no file id or folder.",
                         "Fix the catalog entry: give 'id', or 'folder_id' and 'filename'.")
    url = folder_file_url(ctx, catalog, source.folder_id, source.filename or name)
    return download_file(ctx, url, dest, size=source.size, sha256=source.sha256, component=component)


# ------------------------------------------------------------------------------------------
# One file
# ------------------------------------------------------------------------------------------
def download_file(ctx: JobContext, url: str, dest: Path, *, size: int | None = None, sha256: str | None = None,
                  component: Component | None = None) -> Path:
    """Bring a Drive (or plain) ``url`` to ``dest`` with gdown, resumably, then check the bytes."""
    if dest.exists():
        try:
            checked = _check(ctx, dest, size, sha256, None, component)
        except SetupError as exc:
            ctx.log(f"{dest.name}: the file already downloaded is not usable ({exc.problem.message}); "
                    "downloading it again", "warning")
        else:
            _held(dest).unlink(missing_ok=True)
            return checked
    dest.parent.mkdir(parents=True, exist_ok=True)
    _restore_held(ctx, dest)
    _tidy_partials(ctx, dest)
    ctx.stage(Stage.DOWNLOADING, dest.name)
    st = ctx.settings
    attempts = Attempts(dest.name, st.retries, st.backoff, st.backoff_cap, rand=ctx.net.rand)
    while True:
        ctx.control.checkpoint()
        before = partial_size(dest)
        hasher = _CountingHasher() if sha256 else None
        try:
            _gdown(ctx, url, dest, size, hasher, component)
            break
        except RetryLater as exc:
            delay = attempts.failed(exc, progressed=partial_size(dest) > before)
            ctx.log(f"{dest.name}: {exc}; {attempts.note(delay)}", "warning")
        ctx.control.sleep(delay)
    checked = _check(ctx, dest, size, sha256, hasher, component)
    _held(dest).unlink(missing_ok=True)
    return checked


def _gdown(ctx: JobContext, url: str, dest: Path, size: int | None, hasher: _CountingHasher | None,
           component: Component | None) -> None:
    import gdown
    from gdown.exceptions import DownloadCancelled, DownloadError, FileURLRetrievalError

    last = 0.0
    seen = -1
    limiter = ctx.limiter
    bound = limit_for(ctx, size=size)
    held_size = _size(_held(dest))

    def on_progress(done: int, total: int | None) -> None:
        nonlocal last, seen, held_size
        ctx.control.checkpoint()  # blocks while paused, raises Cancelled
        if done > bound or (total is not None and size is None and done > limit_for(ctx, declared=total)):
            raise _TooLong(done)
        if held_size and done > held_size:  # the new download got further than the partial set aside
            _held(dest).unlink(missing_ok=True)
            held_size = 0
        if seen >= 0:
            limiter.consume(done - seen, ctx.control.sleep)  # --limit-rate: a slower read slows the sender
        seen = done
        now = time.monotonic()
        if now - last >= 0.1 or (total is not None and done >= total):
            last = now
            ctx.progress(done, total)

    requests_log.info("GET %s via gdown -> %s (resuming from byte %d)", redact_url(url), dest.name,
                      partial_size(dest))
    cookies = cookies_file(ctx)
    try:
        with _CancelBridge(ctx.control) as cancel:
            gdown.download(url=url, output=str(dest), quiet=True, resume=True, progress=on_progress,
                           cancel=cancel, hasher=cast(Any, hasher), retries=0,
                           timeout=(ctx.settings.connect_timeout, ctx.settings.read_timeout),
                           use_cookies=cookies is not None, cookies_file=cookies,
                           verify=client.ca_bundle() or True)
    except DownloadCancelled:
        raise Cancelled() from None
    except _TooLong:
        _cut_off(ctx, dest, bound)
    except FileURLRetrievalError as exc:
        raise drive_error(str(exc), dest.name, ctx=ctx, component=component) from exc
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        text = _response_text(exc.response)
        if has_quota_text(text):
            raise drive_error(text, dest.name, ctx=ctx, component=component) from exc
        answer = classify(status, exc.response.headers if exc.response is not None else {},
                          cap=ctx.settings.backoff_cap * 10, now=ctx.net.wall)
        if answer.kind is Kind.RETRY:
            raise RetryLater(answer.reason, answer.wait, throttled=answer.throttled) from exc
        if status in (401, 403):
            raise drive_error(f"access denied (HTTP {status})", dest.name, ctx=ctx, component=component) from exc
        raise HttpStatusError(status, url, dest.name) from exc
    except DownloadError as exc:
        text = str(exc)
        if "did not honor the requested byte range" in text and _unresumable(ctx, dest, size):
            return
        raise RetryLater(_first_line(exc)) from exc
    except requests.RequestException as exc:
        if not is_retryable(exc):
            raise
        raise RetryLater(describe(exc)) from exc


class _TooLong(Exception):
    """The download ran past its bound (raised from gdown's progress callback)."""


def _cut_off(ctx: JobContext, dest: Path, bound: int) -> None:
    """Keep one bad copy of the partial, cut to the bound (nothing beyond it), and say so."""
    for part in partials(dest):
        if part.stat().st_size > bound:
            os.truncate(part, bound)
        quarantine(ctx, part, "too-long")
    raise too_long(dest.name, bound)


def _unresumable(ctx: JobContext, dest: Path, size: int | None) -> bool:
    """The server would not continue the partial file. True when the partial is in fact complete
    (a crash came just before gdown renamed it) and is now ``dest``; else it is set aside (gdown
    would refuse to resume it forever) and gdown starts again from byte 0. The answer may have been
    a sign-in or quota page rather than a changed file: the partial set aside is resumed by the
    next run unless the new download gets further or completes (:func:`_restore_held`)."""
    for part in partials(dest):
        if size is not None and part.stat().st_size == size:
            os.replace(part, dest)
            return True
        ctx.log(f"{dest.name}: the server did not continue the partial download; starting again from "
                f"byte 0 (the {part.stat().st_size:,} bytes so far are set aside until then)", "warning")
        if part.stat().st_size > _size(_held(dest)):
            os.replace(part, _held(dest))
        else:
            part.unlink(missing_ok=True)
    return False


def _held(dest: Path) -> Path:
    """Where a partial gdown would not resume waits (a name gdown does not take for a partial)."""
    return dest.with_name(dest.name + ".set-aside")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _restore_held(ctx: JobContext, dest: Path) -> None:
    """At the start of a run: a partial set aside that is longer than gdown's partial becomes the
    partial again (the next attempt resumes it); a shorter one is dropped."""
    held = _held(dest)
    if file_kind_nofollow(held) == "missing":
        return
    if file_kind_nofollow(held) != "file" or _size(held) <= partial_size(dest):
        held.unlink(missing_ok=True)
        return
    for part in partials(dest):
        part.unlink(missing_ok=True)
    os.replace(held, dest.with_name(dest.name + "setaside.part"))  # the name pattern gdown resumes
    ctx.log(f"{dest.name}: resuming the {_size(dest.with_name(dest.name + 'setaside.part')):,} bytes set aside "
            "when the server last would not continue them")


def partials(dest: Path) -> list[Path]:
    """gdown's partial files for ``dest``: ``<name><8 random chars>.part`` beside it."""
    try:
        names = os.listdir(dest.parent)
    except FileNotFoundError:
        return []
    want = len(dest.name) + 8 + len(".part")
    return [dest.parent / n for n in names if n.startswith(dest.name) and n.endswith(".part") and len(n) == want]


def partial_size(dest: Path) -> int:
    sizes = [p.stat().st_size for p in partials(dest) if p.exists()]
    return max(sizes, default=0)


def _tidy_partials(ctx: JobContext, dest: Path) -> None:
    """gdown refuses to resume when several partials exist: keep the largest one. A partial that
    is not a regular file (a planted symlink or FIFO: gdown would append through it) is removed."""
    for part in partials(dest):
        if file_kind_nofollow(part) != "file":
            ctx.log(f"removing {part.name}: not a regular file (never followed)", "warning")
            part.unlink(missing_ok=True)
    found = sorted(partials(dest), key=lambda p: p.stat().st_size, reverse=True)
    for extra in found[1:]:
        ctx.log(f"removing an extra partial download {extra.name}", "warning")
        extra.unlink(missing_ok=True)


class _CountingHasher:
    """A sha256 that counts what it was fed (gdown feeds it the resumed bytes too)."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.count = 0

    def update(self, data: bytes) -> None:
        self.sha.update(data)
        self.count += len(data)

    def hexdigest(self) -> str:
        return self.sha.hexdigest()


class _CancelBridge:
    """A ``threading.Event`` for gdown's ``cancel=`` that follows the run's :class:`Control`."""

    def __init__(self, control: Control) -> None:
        self.control = control
        self.event = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="drive-cancel-bridge", daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            if self.control.cancelled:
                self.event.set()
                return

    def __enter__(self) -> threading.Event:
        if self.control.cancelled:
            self.event.set()
        self._thread.start()
        return self.event

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1)


# ------------------------------------------------------------------------------------------
# Checking what arrived
# ------------------------------------------------------------------------------------------
def _check(ctx: JobContext, dest: Path, size: int | None, sha256: str | None,
           hasher: _CountingHasher | None, component: Component | None) -> Path:
    with open(dest, "rb") as fh:
        head = fh.read(1024)
    actual = dest.stat().st_size
    if looks_like_html(head) and actual < 8 * 1024 * 1024:
        text = dest.read_bytes()[: 2 * 1024 * 1024].decode("utf-8", "replace")
        kept = quarantine(ctx, dest, "html")
        if has_quota_text(text):
            raise quota_error(dest.name, ctx=ctx, component=component)
        raise SetupError(Code.DRIVE_HTML,
                         f"Google Drive sent a web page instead of {dest.name} ({actual:,} bytes).",
                         f"The page was kept at {kept}. Open the file's link in a browser to see why (sign-in, "
                         "virus-scan warning, removed file); a copy downloaded there can be given with --local.")
    if size is not None and actual != size:
        ctx.log(f"{dest.name}: {actual:,} bytes, the catalog expected {size:,}", "warning")
    if sha256:
        fed = hasher is not None and hasher.count == actual
        digest = hasher.hexdigest() if hasher is not None and fed else hash_file(ctx, dest)
        if digest != sha256.lower():
            kept = quarantine(ctx, dest, "bad")
            raise SetupError(
                Code.CHECKSUM_MISMATCH,
                f"{dest.name} does not match its sha256 (expected {sha256[:12]}…, got {digest[:12]}…).",
                f"The bytes were kept at {kept}. The server or a mirror sent other data; the next run "
                "downloads it again, or choose another source.")
    return dest


def hash_file(ctx: JobContext, path: Path) -> str:
    """sha256 of a file, reporting progress on the VERIFYING stage; cancellable."""
    ctx.stage(Stage.VERIFYING, f"sha256 of {path.name}")
    total = path.stat().st_size
    sha = hashlib.sha256()
    done = 0
    last = 0.0
    with open(path, "rb") as fh:
        while block := fh.read(4 << 20):
            ctx.control.checkpoint()
            sha.update(block)
            done += len(block)
            if time.monotonic() - last >= 0.1:
                last = time.monotonic()
                ctx.progress(done, total)
    ctx.progress(done, total)
    return sha.hexdigest()


# ------------------------------------------------------------------------------------------
# Errors and the community fallback
# ------------------------------------------------------------------------------------------
def community_fallback(ctx: JobContext, component: Component, exc: SetupError) -> Source | None:
    """The pinned community source to try after Drive refused, when the user allowed mirrors."""
    if exc.problem.code not in _REFUSALS or not ctx.settings.allow_mirrors:
        return None
    for source in component.sources:
        if source.community and is_known(source.kind) and (source.size or source.sha256):
            return source
    return None


def _fetch_community(ctx: JobContext, component: Component, mirror: Source, catalog: Catalog,
                     cause: SetupError) -> Iterator[Path]:
    pinned = ", ".join(p for p in (f"{mirror.size:,} bytes" if mirror.size else "",
                                   f"sha256 {mirror.sha256[:12]}…" if mirror.sha256 else "") if p)
    ctx.log(f"{cause.problem.message} Falling back to a community mirror: {mirror.label} "
            f"(pinned to {pinned})", "warning")
    ctx.journal.set_stage(ctx.job, Stage.DOWNLOADING.value, source=f"{mirror.label} [community mirror]")
    for path in kind_of(mirror.kind).fetch(ctx, component, mirror, catalog):
        if not isinstance(path, Path):  # pragma: no cover - community mirrors are single files
            raise SetupError(Code.NO_SOURCE, f"The community mirror {mirror.label} is not a single file.", "")
        actual = path.stat().st_size
        if mirror.size is not None and actual != mirror.size:
            kept = quarantine(ctx, path, "bad")
            raise SetupError(Code.SIZE_MISMATCH,
                             f"The community mirror sent {actual:,} bytes for {path.name}; it is pinned to "
                             f"{mirror.size:,}.",
                             f"The bytes were kept at {kept}. The mirror changed: wait for the Drive quota "
                             "to reset instead, or give a local copy with --local.")
        yield path


def _response_text(response: Any) -> str:
    if response is None:
        return ""
    try:
        return str(response.text)[:100_000]
    except Exception:  # a closed stream: nothing to inspect
        return ""


def _first_line(value: object) -> str:
    lines = [line.strip() for line in str(value).strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else type(value).__name__


class DriveKind(SourceKind):
    """``kind = "drive"``: one Google Drive file through gdown (by id, else via its folder);
    a refused file falls back to the pinned community mirror when mirrors are allowed."""

    name = "drive"

    def fetch(self, ctx: JobContext, component: Component, source: Source, catalog: Catalog, *,
              only: Collection[str] | None = None) -> Iterator[Path]:
        return fetch(ctx, component, source, catalog)

    def remaining_bytes(self, source: Source, downloads: Path, items_done: Collection[str]) -> int:
        have = partial_size(downloads / source.file_name)  # gdown's <name><8 chars>.part
        return max(0, min(super().remaining_bytes(source, downloads, items_done),
                          (source.planned_size or 0) - have))

    def host_label(self, source: Source, hub_endpoint: str, catalog: Catalog) -> str:
        return urlsplit(catalog.drive_file_url).netloc or self.name

    def leftovers(self, source: Source, downloads: Path) -> list[Path]:
        dest = downloads / source.file_name
        return [*partials(dest), *([_held(dest)] if _held(dest).is_file() else [])]


KIND = DriveKind()
