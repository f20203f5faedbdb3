"""The network policy, stated once: what is retried, how long to wait, how an answer is read.

Every transfer in the engine — the resumable fetcher, segments, the streamed tars, gdown's
Drive downloads, the Drive folder listing, OCR-VQA's images and the Hub's metadata request —
asks this module, so a 429 is treated the same wherever it comes from:

* **Retried**: the statuses in :data:`RETRYABLE_STATUSES` (429 and 503 also mean "too many
  connections": :data:`THROTTLE_STATUSES`), and the exceptions :func:`is_retryable` accepts —
  connection failures, timeouts, a connection dropped mid-body, a redirect loop
  (``TooManyRedirects``), a redirect to a URL that is not http(s) (``InvalidSchema``), a stalled
  transfer. Everything else is final.
* **Waiting**: ``Retry-After`` in seconds or as an HTTP date (:func:`retry_after`, capped);
  otherwise exponential back-off with jitter (:func:`backoff`; ``rand`` injectable). The budget
  (:class:`Attempts`) counts consecutive attempts that made no progress.
* **Resuming**: ``If-Range`` carries a strong ETag, else the Last-Modified date
  (:func:`if_range`); a weak ETag is never sent.
* **Reading an answer**: :func:`classify` says whether a response is a fresh body, the resumed
  range, a reason to start again, already complete, worth a retry or a refusal.
* **Saying what happened**: :func:`describe` turns a transfer exception into one short phrase;
  :func:`web_page` spots a sign-in or error page (200, text/html) answering for a file, and
  :func:`web_page_error` says so (``network``), before anything already downloaded is touched.

One exception says "try again later": :class:`RetryLater` (``wait`` from Retry-After, or None
for the back-off; ``throttled`` on 429/503).
"""

from __future__ import annotations

import email.utils
import functools
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from ..errors import PROXY_HINT, Code, SetupError
from . import httperrors
from .client import redact_url

log = logging.getLogger(__name__)

Clock = Callable[[], float]

#: Statuses worth another try (after Retry-After or a back-off).
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Statuses that also mean "too many connections from you": fewer connections to that host.
THROTTLE_STATUSES = frozenset({429, 503})
#: The longest Retry-After honoured, in seconds (a longer one is cut to this).
RETRY_AFTER_CAP = 3600.0

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_UNSATISFIABLE = re.compile(r"bytes \*/(\d+)")


class RetryLater(Exception):
    """A transfer failed in a way worth another try, after ``wait`` seconds (None: back-off).

    ``throttled`` (a 429 or 503) also asks for fewer connections to the host for a while.
    """

    def __init__(self, message: str, wait: float | None = None, *, throttled: bool = False) -> None:
        super().__init__(message)
        self.wait = wait
        self.throttled = throttled


class Stalled(Exception):
    """Under ``Settings.stall_bytes`` arrived in ``Settings.stall_seconds``: reconnect."""


@functools.cache
def retryable_exceptions() -> tuple[type[BaseException], ...]:
    """Exceptions a transfer retries (the connection, not the answer, went wrong). A function, not
    a constant: the first call imports ``requests`` (:mod:`.httperrors`)."""
    return (httperrors.ConnectionError, httperrors.Timeout, httperrors.ChunkedEncodingError,
            httperrors.ContentDecodingError, httperrors.TooManyRedirects, httperrors.InvalidSchema, Stalled)


def is_retryable(exc: BaseException) -> bool:
    """Whether a transfer exception deserves another try."""
    return isinstance(exc, retryable_exceptions())


def as_retry(exc: BaseException) -> RetryLater:
    """A retryable transfer exception as the one "try again later" exception."""
    return RetryLater(describe(exc))


#: The hint for a server certificate this machine does not trust (any client: requests, httpx, keep-alive).
TLS_HINT = ("The server's TLS certificate is not trusted on this machine: a network or proxy that inspects "
            "TLS (ask for its CA certificate and set REQUESTS_CA_BUNDLE=/path/to/ca.pem), or a wrong system "
            "clock. Nothing downloaded so far is lost.")
_UNTRUSTED = re.compile(r"certificate verify failed: ([^(\n]+)")
_UNTRUSTED_PHRASE = "the server's TLS certificate is not trusted"


def untrusted_tls(exc: BaseException) -> bool:
    """Whether a transfer failed because the server's certificate could not be verified (also
    a :class:`RetryLater` made from :func:`describe`'s phrase for it)."""
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or _UNTRUSTED_PHRASE in text


def describe(exc: BaseException) -> str:
    """A short phrase for what went wrong with a transfer (for logs, problems and reports)."""
    if isinstance(exc, RetryLater):
        return str(exc)
    if untrusted_tls(exc):  # before the generic TLS and connection phrases (httpx says ConnectError)
        why = _UNTRUSTED.search(str(exc))
        return _UNTRUSTED_PHRASE + (f" ({why.group(1).strip()})" if why else "")
    if isinstance(exc, Stalled):
        return f"the transfer stalled ({exc})"
    if isinstance(exc, httperrors.TooManyRedirects):
        return "too many redirects (a redirect loop)"
    if isinstance(exc, httperrors.InvalidSchema):
        return "redirected to a URL that is not http(s)"
    if isinstance(exc, httperrors.Timeout):
        return "the server stopped answering (timeout)"
    if isinstance(exc, httperrors.ChunkedEncodingError | httperrors.ContentDecodingError):
        return "the connection dropped mid-file"
    if isinstance(exc, httperrors.InvalidHeader) or type(exc).__name__ in ("HeaderParsingError", "InvalidHeader"):
        return f"the server's answer is not valid HTTP ({exc})"[:300]  # e.g. two different Content-Lengths
    text = str(exc)
    if is_proxy_error(exc):
        if asks_for_proxy_password(exc):
            return "the proxy asks for a user name and password (HTTP 407)"
        if "NameResolution" in text or "Name or service not known" in text or "getaddrinfo" in text:
            return "the proxy's host name is unknown (DNS lookup failed)"
        if "refused" in text.lower():
            return "the proxy refused the connection"
        return "the proxy failed"
    if "NameResolution" in text or "Name or service not known" in text or "getaddrinfo" in text:
        return "DNS lookup failed"
    if isinstance(exc, httperrors.SSLError):
        return "the TLS connection failed"
    if isinstance(exc, httperrors.ConnectionError):
        return "connection failed"
    if "Timeout" in type(exc).__name__:  # other clients' timeouts (the Hub library uses httpx)
        return "the server stopped answering (timeout)"
    if "Redirect" in type(exc).__name__:
        return "too many redirects (a redirect loop)"
    return f"connection problem ({type(exc).__name__})"


def is_proxy_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the proxy (HTTPS_PROXY and the like) failed, not the server: requests',
    the Hub library's (httpx) and the keep-alive client's ``ProxyError``."""
    return type(exc).__name__ == "ProxyError" or isinstance(exc, httperrors.ProxyError)


def asks_for_proxy_password(exc: BaseException) -> bool:
    """Whether a proxy error is the proxy's 407 (the status as a word: a port such as 40765 in the
    message is not one)."""
    return is_proxy_error(exc) and re.search(r"\b407\b", str(exc)) is not None


def retry_after(value: str | None, *, cap: float = RETRY_AFTER_CAP, now: Clock = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date), capped.

    None when there is no usable value: the caller backs off as usual.
    """
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:  # pragma: no cover - older Pythons
            return None
        seconds = when.timestamp() - now()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(seconds, cap))


def backoff(attempt: int, base: float, cap: float, rand: Clock = random.random) -> float:
    """The wait before try ``attempt + 1`` (``attempt`` >= 1): doubling from ``base`` up to ``cap``,
    then "equal jitter" — between half and all of it — so many clients do not retry in step."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay * (0.5 + 0.5 * rand())


def strong(etag: str | None) -> bool:
    """Whether an ETag is strong (only those may be sent in If-Range)."""
    return bool(etag) and not str(etag).startswith("W/")


def accepts_ranges(headers: Mapping[str, str]) -> bool:
    """Whether an answer says its server takes byte ranges (``Accept-Ranges: bytes``)."""
    return "bytes" in [v.strip().lower() for v in headers.get("Accept-Ranges", "").split(",")]


def if_range(etag: str | None, last_modified: str | None) -> str | None:
    """What to send in If-Range: a strong ETag, else the Last-Modified date, else nothing."""
    return etag if etag and strong(etag) else last_modified or None


class Kind(StrEnum):
    """How an answer to a (possibly ranged) GET is to be used."""

    FRESH = "fresh"  # the whole file from byte 0, as asked
    RESUMED = "resumed"  # the asked range
    RESTART = "restart"  # what we have is no good: start from byte 0 (``body``: with this answer)
    COMPLETE = "complete"  # 416 for the exact end: the part already holds everything
    RETRY = "retry"  # a retryable status: ask again after ``wait`` (None: back-off)
    REFUSED = "refused"  # a final status


@dataclass(frozen=True)
class Answer:
    """The reading of one response (see :func:`classify`)."""

    kind: Kind
    status: int
    start: int = 0  # the absolute offset of the body's first byte
    total: int | None = None  # the size of the whole file, when the answer says
    length: int | None = None  # the body's declared length, when the answer says
    etag: str | None = None
    last_modified: str | None = None
    reason: str = ""
    wait: float | None = None
    throttled: bool = False
    body: bool = True  # the body can be used from ``start`` (False: close it and ask again)

    def raise_for(self, url: str, name: str, body: Callable[[], bytes] | None = None) -> None:
        """Raise RetryLater for RETRY and HttpStatusError for REFUSED; return otherwise. ``body``
        gives the start of the refusal's body: it may say that a signed link expired."""
        from ..errors import HttpStatusError

        if self.kind is Kind.RETRY:
            raise RetryLater(self.reason, self.wait, throttled=self.throttled)
        if self.kind is Kind.REFUSED:
            expired = self.status in (400, 403) and body is not None and signature_expired(body())
            raise HttpStatusError(self.status, url, name, expired=expired)


#: What an S3-style server (Amazon S3, CloudFront, the CDN behind Meta's SA-1B links) says in the
#: XML body of its 403 (400 for some) to a signed link whose time ran out.
_EXPIRED = re.compile(rb"<Message>\s*Request has expired\s*</Message>|<Code>\s*(?:ExpiredToken|TokenExpired)"
                      rb"\s*</Code>", re.IGNORECASE)
#: How much of a refusal's body is read to find that out.
REFUSAL_PEEK = 4096


def signature_expired(body: bytes) -> bool:
    """Whether the start of a refusal's body says that its signed link expired."""
    return _EXPIRED.search(body[:REFUSAL_PEEK]) is not None


def peek_body(resp: Any) -> Callable[[], bytes]:
    """The start of ``resp``'s body (at most :data:`REFUSAL_PEEK` bytes; b"" when it cannot be read),
    for :meth:`Answer.raise_for`."""
    def read() -> bytes:
        try:
            return bytes(next(resp.iter_content(REFUSAL_PEEK), b""))[:REFUSAL_PEEK]
        except OSError:  # requests' errors too: only a better message was at stake
            return b""
    return read


def content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes a-b/T`` as (a, b, T or None for ``*``); None when it is not one."""
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), None if match.group(3) == "*" else int(match.group(3))


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


def classify(status: int, headers: Mapping[str, str], offset: int = 0, *,
             etag: str | None = None, last_modified: str | None = None, total: int | None = None,
             cap: float = RETRY_AFTER_CAP, now: Clock = time.time) -> Answer:
    """Read the answer to a GET that asked for bytes from ``offset`` (0: the whole file).

    ``etag``/``last_modified``/``total`` are what an earlier answer said about the file: a
    different validator or size means it changed upstream.
    """
    new_etag, new_modified = headers.get("ETag"), headers.get("Last-Modified")
    # A body the server compressed although asked for ``identity`` reaches us decoded: its
    # Content-Length and Content-Range count the compressed bytes, not the file's.
    encoded = headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
    if status == 200 and not offset:  # the usual answer (many per second for small files): no detour
        length = None if encoded else _int(headers.get("Content-Length"))
        return Answer(Kind.FRESH, status, total=length, length=length, etag=new_etag, last_modified=new_modified)
    base = Answer(Kind.REFUSED, status, etag=new_etag, last_modified=new_modified)
    if status in RETRYABLE_STATUSES:
        return replace(base, kind=Kind.RETRY, reason=f"server answered {status}", throttled=status in THROTTLE_STATUSES,
                      wait=retry_after(headers.get("Retry-After"), cap=cap, now=now), body=False)
    if status == 416:
        match = _UNSATISFIABLE.match(headers.get("Content-Range", ""))
        size = int(match.group(1)) if match else total  # no Content-Range: the size an earlier answer gave
        if offset and size == offset:
            return replace(base, kind=Kind.COMPLETE, start=offset, total=offset, body=False)
        return replace(base, kind=Kind.RESTART, reason="the server no longer has the range we were resuming from",
                      body=False)
    if status >= 400:
        return replace(base, kind=Kind.REFUSED, reason=f"server answered {status}", body=False)
    length = None if encoded else _int(headers.get("Content-Length"))
    if status == 206:
        if encoded:
            return replace(base, kind=Kind.RESTART, body=False,
                           reason="the server compressed the range (Content-Encoding), which cannot be appended")
        got = content_range(headers.get("Content-Range"))
        if got is None or got[0] != offset:
            return replace(base, kind=Kind.RESTART, reason="the server sent a different range than asked", body=False)
        if got[2] is not None and total is not None and got[2] != total:
            return replace(base, kind=Kind.RESTART, reason=f"the file changed upstream (size {total:,} -> {got[2]:,})",
                          body=False)
        return replace(base, kind=Kind.RESUMED, start=offset, total=got[2], length=got[1] - got[0] + 1)
    if not offset:
        return Answer(Kind.FRESH, status, total=length, length=length, etag=new_etag, last_modified=new_modified)
    old, new = etag or last_modified, new_etag or new_modified
    changed = bool(old and new and old != new) or (total is not None and length is not None and length != total)
    reason = (f"the file changed upstream (validator {old} -> {new})" if changed
              else "the server ignored the Range request")
    return replace(base, kind=Kind.RESTART, total=length, length=length, reason=reason)


def web_page(headers: Mapping[str, str], name: str) -> bool:
    """Whether an answer is an HTML page where a file that is no page was asked for (a network's
    sign-in page, a proxy's or the server's error page, all with status 200)."""
    kind = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return kind in ("text/html", "application/xhtml+xml") and not name.lower().endswith((".html", ".htm"))


def web_page_error(url: str, name: str) -> SetupError:
    """``network``: a web page came instead of ``name`` (nothing of it is kept, nothing before it lost)."""
    return SetupError(
        Code.NETWORK,
        f"{urlsplit(url).netloc or 'The server'} answered with a web page instead of {name} ({redact_url(url)}).",
        "A network sign-in page (hotel or office Wi-Fi, a proxy) or an error page came back instead of "
        "the file. Open the link in a browser: if the network asks you to sign in, do so and run again "
        "(nothing downloaded so far is lost). If the browser shows an error page, the link is dead: "
        "point the catalog at a mirror (--catalog).")


def log_retry(what: str, reason: str, delay: float, attempt: int, limit: int, server_said: bool) -> None:
    """The run log's line for a retry: what, why, how long, and whether the server said so."""
    log.info("retry %s in %.2f s (attempt %d/%d): %s%s", what, delay, attempt, limit, reason,
             " (Retry-After)" if server_said else "")


class Attempts:
    """The retry budget of one transfer: consecutive failed attempts that made no progress.

    ``failed(exc, progressed)`` returns how long to wait before the next try (Retry-After when
    the server said, else the jittered back-off) or raises ``retries-exhausted``.
    """

    def __init__(self, what: str, retries: int, base: float, cap: float, *, rand: Clock = random.random) -> None:
        self.what = what
        self.retries = retries
        self.base = base
        self.cap = cap
        self.rand = rand
        self.failures = 0

    def failed(self, exc: BaseException, progressed: bool = False) -> float:
        if progressed:
            self.failures = 0  # the budget is for attempts that get nowhere
        self.failures += 1
        reason = describe(exc)
        if self.failures > self.retries:
            log.warning("giving up on %s after %d attempts: %s", self.what, self.failures, reason)
            raise SetupError(
                Code.RETRIES_EXHAUSTED,
                f"Gave up on {self.what} after {self.failures} failed attempts: {reason}",
                TLS_HINT if untrusted_tls(exc)
                else PROXY_HINT if is_proxy_error(exc)
                else "The bytes downloaded so far are kept; run again later to resume.",
            )
        wait = exc.wait if isinstance(exc, RetryLater) else None
        delay = wait if wait is not None else backoff(self.failures, self.base, self.cap, self.rand)
        log_retry(self.what, reason, delay, self.failures, self.retries, wait is not None)
        return delay

    def note(self, delay: float) -> str:
        """The user-facing tail of a retry message."""
        return f"retrying in {delay:.1f} s (attempt {self.failures}/{self.retries})"
