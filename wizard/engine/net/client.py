"""Sending requests: the one place a request leaves the engine, and the log line it leaves.

:func:`get` sends a GET through the job's ``requests`` session and logs it on the
``wizard.engine.net.requests`` logger (method, URL without query string or credentials, status,
the ``Range`` sent and the ``Content-Range`` received, redirects). :func:`redact_url` is what
every log line uses for a URL: signed-URL query strings and ``user:password@`` never appear in a
log. Headers are never logged (they may carry a token).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from . import httperrors

if TYPE_CHECKING:
    import requests

log = logging.getLogger("wizard.engine.net.requests")


def redact_url(url: str) -> str:
    """``url`` without its query string, fragment and user-info (safe to log)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def get(session: requests.Session, url: str, *, headers: Mapping[str, str] | None = None,
        timeout: float | tuple[float, float] | None = None, stream: bool = True) -> requests.Response:
    """GET ``url`` (following redirects) and log the request and its answer."""
    sent = dict(headers or {})
    try:
        resp = session.get(url, headers=sent, timeout=timeout, stream=stream)
    except httperrors.RequestException as exc:
        log.info("GET %s range=%s -> %s", redact_url(url), sent.get("Range", "-"), type(exc).__name__)
        raise
    log_response("GET", url, resp, sent.get("Range"))
    return resp


def log_response(method: str, url: str, resp: requests.Response, sent_range: str | None = None) -> None:
    """One log line for a request that got an answer (with its redirects, if any)."""
    for hop in resp.history:
        log.info("%s %s -> %s redirect", method, redact_url(hop.url), hop.status_code)
    log.info("%s %s range=%s -> %s content-range=%s length=%s", method, redact_url(url), sent_range or "-",
             resp.status_code, resp.headers.get("Content-Range", "-"), resp.headers.get("Content-Length", "-"))


def abort_response(resp: object) -> None:
    """Shut the connection under ``resp`` (a requests response, or :class:`.keepalive.Response`)
    from another thread (``Control.on_cancel``): a read blocked on a stalled link returns at once
    with a clean "connection ended" error. Closing the socket or the response instead does not
    wake a blocked ``recv`` on Linux, and races with the reading thread."""
    requests = sys.modules.get("requests")  # not imported: ``resp`` is not one of its responses
    raw = resp.raw if requests is not None and isinstance(resp, requests.Response) else resp
    conn = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
