"""A read-only, seekable file over HTTP byte ranges: read members of a remote zip without it.

``zipfile`` needs only ``seek``/``tell``/``read``; this class answers them with ``Range``
requests (one read-ahead block cached), so repair can fetch five missing COCO images out of a
19 GB archive with a handful of small requests. ``If-Range`` pins the validator seen first: if
the file changes upstream mid-way, reading fails rather than mixing two versions.
"""

from __future__ import annotations

import io

import requests

from . import client
from .policy import Kind, classify, content_range, if_range


class RangeNotSupported(Exception):
    """The server answered a range request with the whole file (or not at all)."""


class HttpRangeFile(io.RawIOBase):
    """``open()``-like access to a remote file through ``Range`` requests."""

    def __init__(self, session: requests.Session, url: str, *, headers: dict[str, str] | None = None,
                 block: int = 256 * 1024, timeout: tuple[float, float] = (20.0, 60.0),
                 tail: int | None = None) -> None:
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
        self.size = self._probe() if tail is None else self._open_tail(tail)

    def _get(self, start: int, end: int) -> bytes:
        headers = {**self.headers, "Range": f"bytes={start}-{end}"}
        if self.validator:
            headers["If-Range"] = self.validator
        self.requests_made += 1
        with client.get(self.session, self.url, headers=headers, timeout=self.timeout) as resp:
            answer = classify(resp.status_code, resp.headers, start)
            if answer.kind in (Kind.RETRY, Kind.REFUSED):
                answer.raise_for(self.url, client.redact_url(self.url))
            if answer.kind is Kind.RESUMED:
                if self.validator is None:
                    self.validator = if_range(answer.etag, answer.last_modified)
                want = end - start + 1  # bounded: a body that runs on is not read past the range
                data = bytearray()
                for chunk in resp.iter_content(64 * 1024):
                    data += chunk
                    if len(data) >= want:
                        break
                return bytes(data[:want])
            if resp.status_code == 200:
                raise RangeNotSupported("the server ignores Range or the file changed")
            raise RangeNotSupported(f"unexpected Content-Range {resp.headers.get('Content-Range')}")

    def _probe(self) -> int:
        headers = {**self.headers, "Range": "bytes=0-0"}
        self.requests_made += 1
        with client.get(self.session, self.url, headers=headers, timeout=self.timeout) as resp:
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
            if resp.status_code != 206:
                raise RangeNotSupported(f"answered {resp.status_code} to a range request")
            span = content_range(resp.headers.get("Content-Range"))
            first, last, total = span if span is not None else (0, -1, None)
            if total is None or last < first:
                raise RangeNotSupported("no usable Content-Range")
            self.validator = if_range(resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
            want = last - first + 1  # bounded: a body that runs on is not read past the range
            data = bytearray()
            for chunk in resp.iter_content(64 * 1024):
                data += chunk
                if len(data) >= want:
                    break
            self._cache_start, self._cache = first, bytes(data[:want])
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
