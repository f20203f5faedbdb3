"""Many small GETs over kept-alive connections: one :class:`KeepAlive` per worker thread.

OCR-VQA fetches ~80,000 images of 10–60 KB, one URL at a time, mostly from one host. What costs
there is the client, not the bytes: ``requests`` spends ~1.6 ms of CPU per GET against ~0.65 ms for
a bare urllib3 pool request, and every new connection is a TCP (and, on the real host, TLS)
handshake. So each worker keeps its own urllib3 connection pool per host (one connection, reused
from one image to the next) and asks it directly.

What is *not* here: which answers are retried and how long to wait. urllib3 is told never to
retry; it follows redirects (through the pool manager, which drops ``Authorization`` on a
redirect to another host, as requests does). The caller reads the answer with the project's one
policy (:mod:`.policy`), and what urllib3 raises is re-raised as the ``requests`` exception of the
same meaning (as requests' own adapter does), so :func:`.policy.is_retryable` and
:func:`.policy.describe` judge it like any other transfer's. Each request is logged like
:func:`.client.get` does. Proxies come from the environment as for requests
(``HTTP(S)_PROXY``, ``NO_PROXY``).
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from urllib3 import exceptions as u3

from .client import log as request_log
from .client import redact_url

log = logging.getLogger(__name__)

#: Follow up to 30 redirects (requests' limit); never retry a connection, a read or a status.
_NO_RETRIES = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=30,
                            raise_on_redirect=True, raise_on_status=False)

Response = urllib3.BaseHTTPResponse


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
        """Start a GET; read the body (``read``/``stream``), then call :func:`done`.

        Raises the ``requests`` exception that matches what went wrong (see the module docstring).
        The host's connection pool is looked up once per host and asked directly (the pool
        manager's per-request URL parsing and pool lookup are a fair share of the CPU per small
        file); a redirect, or a proxied host, goes through the pool manager.
        """
        with _translated():
            parts = urlsplit(url)
            pool = self._pools.get((parts.scheme, parts.netloc))
            if pool is None and self._manager(url) is self._direct:
                pool = self._pools[(parts.scheme, parts.netloc)] = self._direct.connection_from_url(url)
            if pool is None:
                resp = self._via_manager(url, headers)
            else:
                target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                resp = pool.urlopen("GET", target, headers=dict(headers), redirect=False, retries=_NO_RETRIES,
                                    preload_content=False, timeout=self.timeout, assert_same_host=False)
                location = resp.get_redirect_location()
                if location:
                    request_log.info("GET %s -> %s redirect", redact_url(url), resp.status)
                    done(resp, complete=False)
                    resp = self._via_manager(urljoin(url, location), headers)
        request_log.info("GET %s range=%s -> %s content-range=%s length=%s", redact_url(url),
                         headers.get("Range", "-"), resp.status, resp.headers.get("Content-Range", "-"),
                         resp.headers.get("Content-Length", "-"))
        return resp

    def _via_manager(self, url: str, headers: Mapping[str, str]) -> Response:
        return self._manager(url).request("GET", url, headers=dict(headers), preload_content=False,
                                          retries=_NO_RETRIES, timeout=self.timeout)

    def close(self) -> None:
        self._pools.clear()
        self._direct.clear()
        for manager in self._proxied.values():
            manager.clear()


def read(resp: Response, amount: int | None = None) -> bytes:
    """``resp.read(amount)``, with urllib3's exceptions translated (see the module docstring)."""
    with _translated():
        return resp.read(amount)


def stream(resp: Response, chunk_size: int) -> Iterator[bytes]:
    """The body in pieces of up to ``chunk_size`` bytes, exceptions translated."""
    with _translated():
        yield from resp.stream(chunk_size)


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


@contextmanager
def _translated() -> Iterator[None]:
    """Re-raise urllib3's exceptions as the ``requests`` exceptions of the same meaning."""
    try:
        yield
    except u3.MaxRetryError as exc:
        reason = exc.reason
        if isinstance(reason, u3.ConnectTimeoutError):
            raise requests.ConnectTimeout(str(reason)) from exc
        if isinstance(reason, u3.ReadTimeoutError):  # no answer in time (retries are off, so it is wrapped)
            raise requests.ReadTimeout(str(reason)) from exc
        if isinstance(reason, u3.ProtocolError):  # the connection dropped before the answer
            raise requests.ConnectionError(str(reason)) from exc
        if isinstance(reason, u3.ResponseError):  # the redirect budget ran out
            raise requests.TooManyRedirects(str(reason)) from exc
        if isinstance(reason, u3.SSLError):
            raise requests.exceptions.SSLError(str(reason)) from exc
        raise requests.ConnectionError(str(reason)) from exc
    except u3.ReadTimeoutError as exc:
        raise requests.ReadTimeout(str(exc)) from exc
    except u3.ConnectTimeoutError as exc:
        raise requests.ConnectTimeout(str(exc)) from exc
    except u3.SSLError as exc:
        raise requests.exceptions.SSLError(str(exc)) from exc
    except u3.ProtocolError as exc:  # the connection dropped (mid-body or before the answer)
        raise requests.exceptions.ChunkedEncodingError(str(exc)) from exc
    except (u3.LocationValueError, u3.URLSchemeUnknown) as exc:  # e.g. a redirect to ftp://
        raise requests.exceptions.InvalidSchema(str(exc)) from exc
    except u3.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(str(exc)) from exc
    except u3.HTTPError as exc:
        raise requests.ConnectionError(str(exc)) from exc
