"""Resumable HTTP(S) downloads with requests: the byte mover every other source builds on.

A download writes ``<name>.part`` beside a ``<name>.part.json`` sidecar holding the URL and the
server's validators. A later attempt — in this process or after a crash or reboot — sends
``Range: bytes=N-`` with ``If-Range``; a 200 answer means the server ignored the range or the
file changed upstream, and the part is restarted (said in the log). Sizes and sha256 are checked
before the atomic ``os.replace`` to the final name; a checksum mismatch moves the bytes to the
quarantine folder instead of deleting them.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from ..catalog import Catalog, Component, Source
from ..context import JobContext
from ..errors import Code, SetupError
from ..events import Stage

_RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_UNSATISFIABLE = re.compile(r"bytes \*/(\d+)")


class HttpStatusError(SetupError):
    """A final (non-retryable) HTTP status; sources map some of them to their own codes."""

    def __init__(self, status: int, url: str, name: str) -> None:
        super().__init__(
            Code.HTTP_STATUS,
            f"The server answered {status} for {name}.",
            _status_hint(status),
        )
        self.status = status
        self.url = url


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return "Access was refused: the link may have expired or need a token; get a fresh link."
    if status == 404:
        return "The file is not there any more: point the catalog at a mirror (--catalog)."
    return "Try again later; the run can be resumed at any time."


def fetch(ctx: JobContext, component: Component, source: Source, catalog: Catalog) -> Iterator[Path]:
    """Source module entry point for ``kind = "http"``: one URL, one file."""
    name = source.file_name
    if ctx.item_done(name):
        return
    yield download(ctx, source.url, ctx.downloads / name, size=source.size, sha256=source.sha256)


def download(ctx: JobContext, url: str, dest: Path, *, size: int | None = None,
             sha256: str | None = None, headers: dict[str, str] | None = None) -> Path:
    """Bring ``url`` to ``dest`` completely and verified, resuming whatever is on disk."""
    return _Transfer(ctx, url, dest, size, sha256, headers or {}).run()


class _Transfer:
    def __init__(self, ctx: JobContext, url: str, dest: Path, size: int | None, sha256: str | None,
                 headers: dict[str, str]) -> None:
        self.ctx = ctx
        self.url = url
        self.dest = dest
        self.part = dest.with_name(dest.name + ".part")
        self.meta_path = dest.with_name(dest.name + ".part.json")
        self.expected_size = size
        self.sha256 = sha256.lower() if sha256 else None
        self.headers = headers
        self.total: int | None = size
        self.hasher: Any = None
        self.hashed = 0  # bytes of the part already fed to the hasher

    # -- bookkeeping ---------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.meta_path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return {}

    def _save_meta(self, response: requests.Response, total: int | None) -> None:
        meta = {"url": self.url, "etag": response.headers.get("ETag"),
                "last_modified": response.headers.get("Last-Modified"), "total": total}
        tmp = self.meta_path.with_name(self.meta_path.name + ".tmp")
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, self.meta_path)

    def _restart(self, why: str) -> None:
        self.ctx.log(f"{self.dest.name}: {why}; starting this file again from byte 0", "warning")
        with open(self.part, "wb"):
            pass
        self.hasher = hashlib.sha256() if self.sha256 else None
        self.hashed = 0

    def _part_size(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def _hash_existing(self, upto: int) -> None:
        """Feed the bytes already on disk to the hasher (after a restart of the process)."""
        if not self.sha256 or self.hashed >= upto:
            return
        if self.hasher is None:
            self.hasher = hashlib.sha256()
        self.ctx.stage(Stage.VERIFYING, "checking the bytes already downloaded")
        with open(self.part, "rb") as fh:
            fh.seek(self.hashed)
            while self.hashed < upto:
                self.ctx.control.checkpoint()
                block = fh.read(min(self.ctx.settings.chunk_size * 4, upto - self.hashed))
                if not block:
                    break
                self.hasher.update(block)
                self.hashed += len(block)
                self.ctx.progress(self.hashed, upto)
        self.ctx.stage(Stage.DOWNLOADING)

    # -- main loop -----------------------------------------------------------------------------
    def run(self) -> Path:
        ctx = self.ctx
        if self.dest.exists() and self.expected_size in (None, self.dest.stat().st_size):
            ctx.log(f"{self.dest.name} is already downloaded and verified")
            return self.dest
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        if self._part_size() and not self._meta():
            self._restart("no record of where the partial file came from")
        ctx.stage(Stage.DOWNLOADING, self.dest.name)
        failures = 0
        last_problem = ""
        while True:
            ctx.control.checkpoint()
            before = self._part_size()
            try:
                if self._attempt():
                    break
                failures = 0
                continue
            except _Retry as exc:
                last_problem = str(exc)
                wait = exc.wait
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    _Stalled) as exc:
                last_problem = _describe(exc)
                wait = None
            if self._part_size() > before:
                failures = 0  # progress was made: the budget is for attempts that get nowhere
            failures += 1
            if failures > ctx.settings.retries:
                raise SetupError(
                    Code.RETRIES_EXHAUSTED,
                    f"Gave up on {self.dest.name} after {failures} failed attempts: {last_problem}",
                    "The bytes downloaded so far are kept; run again later to resume.",
                )
            delay = wait if wait is not None else min(
                ctx.settings.backoff * (2 ** (failures - 1)), ctx.settings.backoff_cap)
            ctx.log(f"{self.dest.name}: {last_problem}; retrying in {delay:.1f} s "
                    f"(attempt {failures}/{ctx.settings.retries})", "warning")
            ctx.control.sleep(delay)
        return self._finish()

    def _attempt(self) -> bool:
        """One request. True when the part is complete; raises _Retry for retryable answers."""
        ctx = self.ctx
        offset = self._part_size()
        meta = self._meta()
        headers = {"Accept-Encoding": "identity", **self.headers}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            validator = meta.get("etag") if _strong(meta.get("etag")) else meta.get("last_modified")
            if validator:
                headers["If-Range"] = validator
        timeout = (ctx.settings.connect_timeout, ctx.settings.read_timeout)
        with ctx.session.get(self.url, headers=headers, stream=True, timeout=timeout) as resp:
            status = resp.status_code
            if status in _RETRY_STATUSES:
                raise _Retry(f"server answered {status}", _retry_after(resp, ctx.settings.backoff_cap * 10))
            if status == 416 and offset:
                match = _UNSATISFIABLE.match(resp.headers.get("Content-Range", ""))
                if match and int(match.group(1)) == offset:
                    self.total = offset
                    return True
                self._restart("the server no longer has the range we were resuming from")
                return False
            if status >= 400:
                raise HttpStatusError(status, self.url, self.dest.name)
            if status == 206:
                match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != offset:
                    self._restart("the server sent a different range than asked")
                    return False
                total = None if match.group(3) == "*" else int(match.group(3))
                mode = "ab"
            else:  # 200: full body
                if offset:
                    old = meta.get("etag") or meta.get("last_modified")
                    new = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
                    why = ("the file changed upstream (validator " f"{old} -> {new})"
                           if old and new and old != new else "the server ignored the Range request")
                    self._restart(why)
                length = resp.headers.get("Content-Length")
                total = int(length) if length is not None else None
                offset = 0
                mode = "wb"
                self.hasher = hashlib.sha256() if self.sha256 else None
                self.hashed = 0
            if total is not None and self.expected_size is not None and total != self.expected_size:
                ctx.log(f"{self.dest.name}: the catalog says {self.expected_size:,} bytes, the server "
                        f"{total:,}; using the server's size", "warning")
            self.total = total
            self._save_meta(resp, total)
            self._hash_existing(offset)
            self._receive(resp, mode, offset)
        done = self._part_size()
        if self.total is not None and done < self.total:
            raise _Retry(f"connection ended at {done:,} of {self.total:,} bytes", None)
        return True

    def _receive(self, resp: requests.Response, mode: str, offset: int) -> None:
        ctx = self.ctx
        done = offset
        window_start = time.monotonic()
        window_bytes = 0
        last_report = 0.0
        with open(self.part, mode) as out:
            for chunk in resp.iter_content(chunk_size=ctx.settings.chunk_size):
                ctx.control.checkpoint()
                if not chunk:
                    continue
                out.write(chunk)
                if self.hasher is not None:
                    self.hasher.update(chunk)
                    self.hashed += len(chunk)
                done += len(chunk)
                window_bytes += len(chunk)
                now = time.monotonic()
                if now - last_report >= 0.1:
                    last_report = now
                    ctx.progress(done, self.total)
                if now - window_start >= ctx.settings.stall_seconds:
                    if window_bytes < ctx.settings.stall_bytes:
                        out.flush()
                        raise _Stalled(f"under {ctx.settings.stall_bytes} bytes in "
                                       f"{ctx.settings.stall_seconds:.0f} s")
                    window_start, window_bytes = now, 0
            out.flush()
            with contextlib.suppress(OSError):
                os.fsync(out.fileno())
        ctx.progress(done, self.total)

    def _finish(self) -> Path:
        ctx = self.ctx
        size = self._part_size()
        if self.expected_size is not None and size != self.expected_size and self.sha256 is None:
            ctx.log(f"{self.dest.name}: {size:,} bytes, the catalog expected {self.expected_size:,}",
                    "warning")
        if self.sha256:
            self._hash_existing(size)
            ctx.stage(Stage.VERIFYING, "sha256")
            digest = self.hasher.hexdigest() if self.hasher is not None else ""
            if digest != self.sha256:
                kept = ctx.quarantine / f"{self.dest.name}.{int(time.time())}.bad"
                os.replace(self.part, kept)
                self.meta_path.unlink(missing_ok=True)
                raise SetupError(
                    Code.CHECKSUM_MISMATCH,
                    f"{self.dest.name} does not match its sha256 (expected {self.sha256[:12]}…, "
                    f"got {digest[:12]}…).",
                    f"The bytes were kept at {kept}. The server or a mirror sent other data; the next "
                    "run downloads it again, or choose another source.",
                )
        os.replace(self.part, self.dest)
        self.meta_path.unlink(missing_ok=True)
        return self.dest


class _Retry(Exception):
    def __init__(self, message: str, wait: float | None) -> None:
        super().__init__(message)
        self.wait = wait


class _Stalled(Exception):
    pass


def _strong(etag: str | None) -> bool:
    return bool(etag) and not str(etag).startswith("W/")


def _retry_after(resp: requests.Response, cap: float) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
        seconds = when - time.time()
    return max(0.0, min(seconds, cap))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, requests.Timeout):
        return "the server stopped answering (timeout)"
    if isinstance(exc, _Stalled):
        return f"the transfer stalled ({exc})"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection dropped mid-file"
    return f"connection problem ({type(exc).__name__})"
