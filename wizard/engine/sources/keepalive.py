"""Many small GETs over kept-alive connections: one :class:`KeepAlive` per worker thread.

OCR-VQA fetches ~80,000 images of 10–60 KB, one URL at a time, mostly from one host. What costs
there is the client, not the bytes: ``requests`` spends ~1.6 ms of CPU per GET against ~0.65 ms for
a bare urllib3 pool request, and every new connection is a TCP (and, on the real host, TLS)
handshake. So each worker keeps its own urllib3 :class:`~urllib3.PoolManager` (one connection per
host, reused from one image to the next) and asks it directly.

What is *not* here: which statuses are retried and how long to wait. urllib3 is told never to
retry (``Retry`` with zero connect/read/status retries); it only follows redirects, as requests
does. The caller classifies the answer with the project's one retry policy. Proxies are taken
from the environment like requests does (``HTTP(S)_PROXY``, ``NO_PROXY``).
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError, NameResolutionError, ProtocolError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

log = logging.getLogger(__name__)

#: Follow up to 10 redirects; never retry a connection, a read or a status (the caller decides).
_NO_RETRIES = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=10,
                            raise_on_redirect=True, raise_on_status=False)

Response = urllib3.BaseHTTPResponse
#: What urllib3 raises for a failed request or body read (it wraps socket errors; a local OSError,
#: such as a full disk while saving, is not one of these).
RequestError = HTTPError


class KeepAlive:
    """One worker's connections: a urllib3 pool per host (proxy or not), kept between requests."""

    def __init__(self, connect_timeout: float, read_timeout: float) -> None:
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._direct = urllib3.PoolManager(num_pools=4, maxsize=1, retries=_NO_RETRIES, timeout=self.timeout)
        self._proxied: dict[str, urllib3.ProxyManager] = {}
        self._pools: dict[tuple[str, str], urllib3.HTTPConnectionPool] = {}  # direct hosts
        self._proxies = urllib.request.getproxies()

    def _manager(self, url: str) -> urllib3.PoolManager:
        parts = urlsplit(url)
        proxy = self._proxies.get(parts.scheme)
        if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
            return self._direct
        manager = self._proxied.get(proxy)
        if manager is None:
            manager = self._proxied[proxy] = urllib3.ProxyManager(proxy, num_pools=4, maxsize=1,
                                                                  retries=_NO_RETRIES, timeout=self.timeout)
        return manager

    def get(self, url: str, headers: Mapping[str, str]) -> Response:
        """Start a GET; read the body with ``read``/``stream``, then call :func:`done`.

        The host's connection pool is looked up once per host and asked directly (the pool
        manager's per-request URL parsing and pool lookup are a fair share of the CPU per small
        file); a redirect, or a proxied host, goes through the pool manager."""
        parts = urlsplit(url)
        pool = self._pools.get((parts.scheme, parts.netloc))
        if pool is None:
            if self._manager(url) is not self._direct:
                return self._via_manager(url, headers)
            pool = self._pools[(parts.scheme, parts.netloc)] = self._direct.connection_from_url(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        resp = pool.urlopen("GET", target, headers=dict(headers), redirect=False, retries=_NO_RETRIES,
                            preload_content=False, timeout=self.timeout, assert_same_host=False)
        location = resp.get_redirect_location()
        if not location:
            return resp
        done(resp, complete=False)
        return self._via_manager(urljoin(url, location), headers)

    def _via_manager(self, url: str, headers: Mapping[str, str]) -> Response:
        return self._manager(url).request("GET", url, headers=dict(headers), preload_content=False,
                                          retries=_NO_RETRIES, timeout=self.timeout)

    def close(self) -> None:
        self._pools.clear()
        self._direct.clear()
        for manager in self._proxied.values():
            manager.clear()


def done(resp: Response, *, complete: bool) -> None:
    """Give the connection back for the next request: ``complete`` when the body was read to its
    end; otherwise what is left is read and dropped (small error pages) so it can be reused."""
    if not complete:
        resp.drain_conn()
    resp.release_conn()


def abandon(resp: Response) -> None:
    """Close the connection (a body we stopped reading on purpose, e.g. far too large)."""
    resp.close()
    resp.release_conn()


def describe(exc: BaseException) -> str:
    """A short, stable word for a failed request (no URL, so no query string in any log)."""
    reason = getattr(exc, "reason", None) or exc  # MaxRetryError wraps the real cause
    if isinstance(reason, Urllib3Timeout | TimeoutError):
        return "timeout"
    if isinstance(reason, NameResolutionError) or "Name or service not known" in str(reason):
        return "DNS lookup failed"
    if isinstance(reason, ProtocolError):
        return "connection dropped"
    return "connection failed"
