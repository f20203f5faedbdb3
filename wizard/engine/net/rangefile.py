"""A read-only, seekable file over HTTP byte ranges: read members of a remote zip without it.

``zipfile`` needs only ``seek``/``tell``/``read``; this class answers them with ``Range``
requests (one read-ahead block cached), so repair can fetch five missing COCO images out of a
19 GB archive with a handful of small requests. ``If-Range`` pins the validator seen first: if
the file changes upstream mid-way, reading fails rather than mixing two versions. A 429/5xx, a
timeout or a dropped connection is retried as the network policy says when a ``retry`` hook is
given (it waits, or raises ``retries-exhausted``); without one it is raised.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import requests

from . import client
from .policy import (
    RETRYABLE_STATUSES,
    Answer,
    Attempts,
    Kind,
    RetryLater,
    classify,
    content_range,
    describe,
    if_range,
    is_retryable,
    peek_body,
)

if TYPE_CHECKING:
    from ..context import JobContext

T = TypeVar("T")
#: Called with a retryable failure and whether a request succeeded since the last one: waits
#: before the next try, or raises (the budget is spent).
Retry = Callable[[BaseException, bool], None]


#: The most one read asks of the server (a zip's central directory is read whole: LLaVA's 558K
#: members take ~50 MB). A zip claiming more is not read remotely: a hostile or broken server could
#: otherwise make the app hold any size it names in memory.
MAX_READ = 256 << 20


class RangeNotSupported(Exception):
    """The server answered a range request with the whole file (or not at all)."""


class HttpRangeFile(io.RawIOBase):
    """``open()``-like access to a remote file through ``Range`` requests."""

    def __init__(self, session: requests.Session, url: str, *, headers: dict[str, str] | None = None,
                 block: int = 256 * 1024, timeout: tuple[float, float] = (20.0, 60.0),
                 tail: int | None = None, retry: Retry | None = None) -> None:
        """``tail``: open with one request for the last ``tail`` bytes (a zip's central directory
        sits there: its listing then costs one request, or two when the directory is longer),
        instead of a one-byte probe."""
        super().__init__()
        self.session = session
        self.url = url
        self.headers = {"Accept-Encoding": "identity", **(headers or {})}
        self.block = block
        self.timeout = timeout
        self.pos = 0
        self.validator: str | None = None
        self.requests_made = 0
        self._cache_start = 0
        self._cache = b""
        self.retry = retry
        self._succeeded = False
        self.size = self._again(self._probe) if tail is None else self._again(lambda: self._open_tail(tail))

    def _again(self, send: Callable[[], T]) -> T:
        result = again(send, self.retry, self._succeeded, reached=self._succeeded)
        self._succeeded = True
        return result

    def _get(self, start: int, end: int) -> bytes:
        def send() -> tuple[bytes, Answer]:
            self.requests_made += 1
            return _read(self.session, self.url, self.headers, start, end, self.validator, self.timeout)

        data, answer = self._again(send)
        if self.validator is None:
            self.validator = if_range(answer.etag, answer.last_modified)
        return data

    def _probe(self) -> int:
        headers = {**self.headers, "Range": "bytes=0-0"}
        self.requests_made += 1
        with client.get(self.session, self.url, headers=headers, timeout=self.timeout) as resp:
            _raise_retryable(resp, self.url)
            if resp.status_code != 206:
                raise RangeNotSupported(f"answered {resp.status_code} to a range request")
            answer = classify(resp.status_code, resp.headers, 0)
            if answer.kind is not Kind.RESUMED or answer.total is None:
                raise RangeNotSupported("no usable Content-Range")
            self.validator = if_range(answer.etag, answer.last_modified)
            return answer.total

    def _open_tail(self, tail: int) -> int:
        headers = {**self.headers, "Range": f"bytes=-{max(1, tail)}"}
        self.requests_made += 1
        with client.get(self.session, self.url, headers=headers, timeout=self.timeout) as resp:
            _raise_retryable(resp, self.url)
            if resp.status_code != 206:
                raise RangeNotSupported(f"answered {resp.status_code} to a range request")
            span = content_range(resp.headers.get("Content-Range"))
            first, last, total = span if span is not None else (0, -1, None)
            if total is None or last < first:
                raise RangeNotSupported("no usable Content-Range")
            self.validator = if_range(resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
            self._cache_start, self._cache = first, _at_most(resp, last - first + 1)
            return total

    # -- io.RawIOBase --------------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self.pos = offset
        elif whence == io.SEEK_CUR:
            self.pos += offset
        elif whence == io.SEEK_END:
            self.pos = self.size + offset
        else:  # pragma: no cover
            raise ValueError(f"bad whence {whence}")
        self.pos = max(0, self.pos)
        return self.pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self.size - self.pos)
        if want <= 0:
            return 0
        if want > MAX_READ:
            raise RangeNotSupported(f"a single read of {want:,} bytes (over {MAX_READ >> 20} MiB) is not made remotely")
        cached_end = self._cache_start + len(self._cache)
        if self._cache and self.pos < self._cache_start < self.pos + max(want, self.block) \
                and self.pos + want <= cached_end:  # just before the cache (a zip's long directory)
            self._cache = self._get(self.pos, self._cache_start - 1) + self._cache
            self._cache_start = self.pos
        elif not (self._cache_start <= self.pos and self.pos + want <= cached_end):
            end = min(self.size, self.pos + max(want, self.block)) - 1
            self._cache_start = self.pos
            self._cache = self._get(self.pos, end)
        offset = self.pos - self._cache_start
        data = self._cache[offset:offset + want]
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def again(send: Callable[[], T], retry: Retry | None, progressed: bool = False, *, reached: bool = True) -> T:
    """``send()``, sent again after each retryable failure (429/5xx, a timeout, a dropped
    connection) while ``retry`` allows; ``progressed``: a request succeeded just before.
    ``reached=False`` (no request to this server succeeded yet): a connection that cannot be
    made is raised at once (the source is down: said now, not after the whole back-off)."""
    while True:
        try:
            return send()
        except (RetryLater, requests.RequestException) as exc:
            if retry is None or not (isinstance(exc, RetryLater) or is_retryable(exc)):
                raise
            if not reached and isinstance(exc, requests.ConnectionError):
                raise
            reached = reached or isinstance(exc, RetryLater)  # (the server answered, with a 429/5xx)
            retry(exc, progressed)
            progressed = False


def read_range(session: requests.Session, url: str, start: int, end: int, *, headers: dict[str, str] | None = None,
               timeout: tuple[float, float] = (20.0, 60.0), retry: Retry | None = None, reached: bool = True) -> bytes:
    """Bytes ``start``..``end`` (inclusive) of ``url`` with one Range request (again as ``retry``
    allows; ``reached``: see :func:`again`). Raises RangeNotSupported when the answer is not that
    range, HttpStatusError for a final status."""
    sent = {"Accept-Encoding": "identity", **(headers or {})}
    return again(lambda: _read(session, url, sent, start, end, None, timeout)[0], retry, reached=reached)


def _read(session: requests.Session, url: str, headers: dict[str, str], start: int, end: int,
          validator: str | None, timeout: tuple[float, float]) -> tuple[bytes, Answer]:
    headers = {**headers, "Range": f"bytes={start}-{end}"}
    if validator:
        headers["If-Range"] = validator
    with client.get(session, url, headers=headers, timeout=timeout) as resp:
        answer = classify(resp.status_code, resp.headers, start)
        if answer.kind in (Kind.RETRY, Kind.REFUSED):
            answer.raise_for(url, client.redact_url(url), peek_body(resp))
        if answer.kind is Kind.RESUMED:
            return _at_most(resp, end - start + 1), answer
        if resp.status_code == 200:
            raise RangeNotSupported("the server ignores Range or the file changed")
        raise RangeNotSupported(f"unexpected Content-Range {resp.headers.get('Content-Range')}")


def _at_most(resp: requests.Response, want: int) -> bytes:
    """The first ``want`` bytes of the body (bounded: a body that runs on is not read past the range)."""
    data = bytearray()
    for chunk in resp.iter_content(64 * 1024):
        data += chunk
        if len(data) >= want:
            break
    return bytes(data[:want])


def policy_retry(ctx: JobContext, what: str) -> Retry:
    """A retry hook with the network policy's budget and waits (Retry-After, else back-off),
    cancellable and logged; it raises ``retries-exhausted`` when the budget is spent."""
    st = ctx.settings
    attempts = Attempts(what, st.retries, st.backoff, st.backoff_cap, rand=ctx.net.rand)

    def retry(exc: BaseException, progressed: bool) -> None:
        ctx.control.checkpoint()  # a cancel that cut the connection is not a failure to retry
        if isinstance(exc, RetryLater) and exc.wait is not None and exc.wait > st.backoff_cap * 10:
            exc = RetryLater(str(exc), st.backoff_cap * 10, throttled=exc.throttled)  # the transfers' cap
        delay = attempts.failed(exc, progressed)
        ctx.log(f"{what}: {describe(exc)}; {attempts.note(delay)}", "warning")
        ctx.control.sleep(delay)
    return retry


def _raise_retryable(resp: requests.Response, url: str) -> None:
    """RetryLater for a 429/5xx answer (worth another try, not "no ranges here")."""
    if resp.status_code in RETRYABLE_STATUSES:
        classify(resp.status_code, resp.headers).raise_for(url, client.redact_url(url))
