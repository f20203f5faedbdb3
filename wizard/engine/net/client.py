"""Sending requests: the one place a request leaves the engine, and the log line it leaves.

:func:`new_session` makes every ``requests`` session the engine uses: its connections are
tracked while a request holds them, so :func:`abort_in_flight` (a run's cancel hook) can shut
one still waiting for its answer's first byte — a stalled server would otherwise keep a Stop or
a Quit waiting for the read timeout. :func:`abort_response` does the same for a body being read.

:func:`get` sends a GET through the job's ``requests`` session and logs it on the
``wizard.engine.net.requests`` logger (method, URL without query string or credentials, status,
the ``Range`` sent and the ``Content-Range`` received, redirects). :func:`redact_url` is what
every log line uses for a URL: signed-URL query strings and ``user:password@`` never appear in a
log. Headers are never logged (they may carry a token).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import Code, Problem
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


# ------------------------------------------------------------------------------------------
# Connections in use, for a cancel that cannot wait for the read timeout
# ------------------------------------------------------------------------------------------
_busy: weakref.WeakSet[Any] = weakref.WeakSet()  # urllib3 connections a request holds now
_busy_lock = threading.Lock()
_pool_classes: dict[str, type] | None = None


def _tracked_pools() -> dict[str, type]:
    """urllib3 pool classes that note which connections a request holds, and connection classes
    that shut themselves at once when an abort came while they were still connecting."""
    global _pool_classes
    if _pool_classes is None:
        from urllib3.connection import HTTPConnection, HTTPSConnection
        from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

        class _Connection:
            aborted = False

            def connect(self) -> None:
                super().connect()  # type: ignore[misc]
                if self.aborted:
                    _shut(self)

        class _Pool:
            def _get_conn(self, timeout: float | None = None) -> Any:
                conn = super()._get_conn(timeout)  # type: ignore[misc]
                with _busy_lock:
                    _busy.add(conn)
                return conn

            def _put_conn(self, conn: Any) -> None:
                if conn is not None:
                    with _busy_lock:
                        _busy.discard(conn)
                    if getattr(conn, "aborted", False):  # shut by a cancel: connect afresh if used again
                        conn.close()
                        conn.aborted = False
                super()._put_conn(conn)  # type: ignore[misc]

        http_conn = type("TrackedHTTPConnection", (_Connection, HTTPConnection), {})
        https_conn = type("TrackedHTTPSConnection", (_Connection, HTTPSConnection), {})
        _pool_classes = {
            "http": type("TrackedHTTPConnectionPool", (_Pool, HTTPConnectionPool), {"ConnectionCls": http_conn}),
            "https": type("TrackedHTTPSConnectionPool", (_Pool, HTTPSConnectionPool), {"ConnectionCls": https_conn}),
        }
    return _pool_classes


def tracked_adapter(**options: Any) -> Any:
    """A ``requests`` HTTPAdapter (``options`` as HTTPAdapter's) whose connections :func:`abort_in_flight` can reach."""
    import requests.adapters
    import urllib3.poolmanager

    def track(manager: Any) -> Any:
        if manager.pool_classes_by_scheme is urllib3.poolmanager.pool_classes_by_scheme:  # not SOCKS's own
            manager.pool_classes_by_scheme = _tracked_pools()
        return manager

    class TrackedAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            track(self.poolmanager)

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            return track(super().proxy_manager_for(proxy, **kwargs))

    return TrackedAdapter(**options)


#: Environment variables naming the CA certificates to trust: requests' and curl's (a file or a
#: folder) and OpenSSL's (a file; the Hub library's httpx reads it).
CA_VARIABLES = (("REQUESTS_CA_BUNDLE", os.path.exists), ("CURL_CA_BUNDLE", os.path.exists),
                ("SSL_CERT_FILE", os.path.isfile))


def ca_bundle() -> str | None:
    """The certificates to trust that the environment names (the first of :data:`CA_VARIABLES`
    set), for every client of the engine alike: requests reads only its own two variables and the
    Hub library's httpx only SSL_CERT_FILE, so a site's certificate authority given in one of them
    reached some sources and not the others. None: each client's default."""
    for name, _usable in CA_VARIABLES:
        value = os.environ.get(name)
        if value:
            return value
    return None


def ca_environment_problem() -> Problem | None:
    """``network`` when a CA variable names nothing usable: every https request would fail, each
    source with its own library's words ("[Errno 2] No such file or directory", "Could not find a
    suitable TLS CA certificate bundle"), after its retries."""
    for name, usable in CA_VARIABLES:
        value = os.environ.get(name)
        if value and not usable(value):
            return Problem(Code.NETWORK, f"{name} is set to {value}, which does not exist: no https "
                           "server can be checked against it.",
                           f"Point {name} at your certificate bundle (a PEM file), or unset it to use the "
                           "certificates that come with the app.")
    return None


def new_session() -> requests.Session:
    """A ``requests`` session for the engine (see the module docstring)."""
    import requests

    session = requests.Session()
    ca = ca_bundle()
    if ca is not None:
        session.verify = ca
    session.mount("http://", tracked_adapter())
    session.mount("https://", tracked_adapter())
    return session


def abort_in_flight() -> None:
    """Shut every connection a request of this process holds (a run's cancel hook: one process
    runs one run). A request waiting for its answer ends at once with a connection error, which
    the cancelled run takes as its stop; one still connecting is shut as soon as it is connected."""
    with _busy_lock:
        held = list(_busy)
    for conn in held:
        conn.aborted = True
        _shut(conn)


def _shut(conn: Any) -> None:
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
