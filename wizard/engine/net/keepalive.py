"""Many small GETs over kept-alive connections: one :class:`KeepAlive` per worker thread.

OCR-VQA fetches ~80,000 images of 10–60 KB, one URL at a time, mostly from one host. What costs
there is the client, not the bytes: ``requests`` spends ~1.6 ms of CPU per GET and a bare urllib3
pool request ~0.65 ms, against well under 0.1 ms for the HTTP/1.1 exchange itself. So this module
speaks HTTP/1.1 on its own sockets, only as much of it as a GET of a small file needs: one request
written with one ``sendall``, the answer's head parsed from one buffer, a body of known length
read into one buffer (``recv_into``), chunked bodies and bodies that end with the connection too.
Each worker keeps one connection per host (plain, TLS, or through an HTTP proxy from
``HTTP(S)_PROXY``/``NO_PROXY``), reused from one image to the next while the server allows it
(HTTP/1.1, no ``Connection: close``, nothing sent past the answer). A kept connection the server
closed meanwhile is replaced once, before any byte of the answer arrived (a GET may be sent again).

What is *not* here: which answers are retried and how long to wait. Nothing is retried here but
that stale connection; redirects are followed (up to 30, as requests does; ``Authorization`` is
dropped on a redirect to another host). The caller reads the answer with the project's one policy
(:mod:`.policy`); what goes wrong is raised as the ``requests`` exception of the same meaning, so
:func:`.policy.is_retryable` and :func:`.policy.describe` judge it like any other transfer's. Each
request is logged like :func:`.client.get` does — or, with ``tally=True`` (the OCR-VQA images: a
run log line costs ~60 µs of CPU, a tenth of an image's), only the requests that got no answer,
the answers being counted by status in ``answers`` for the caller's summary line. TLS is
verified against the CA bundle requests uses (``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, else
its default).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import logging
import os
import re
import select
import socket
import ssl
import urllib.request
import zlib
from collections.abc import Iterator, Mapping
from typing import TypeVar, overload
from urllib.parse import quote, unquote, urljoin, urlsplit

from ... import __version__
from . import httperrors
from .client import ca_bundle, redact_url
from .client import log as request_log

log = logging.getLogger(__name__)

MAX_REDIRECTS = 30  # requests' limit
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HEAD_LIMIT = 64 * 1024  # an answer's status line and headers together
_DRAIN_LIMIT = 256 * 1024  # a body left unread up to this size is read and dropped to keep the connection
_RECV = 256 * 1024
_T = TypeVar("_T")
_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")  # scheme://authority
_CLEAN = re.compile(r"[!-~]*")  # printable ASCII, no space
_USER_AGENT = f"User-Agent: sharegpt4v-setup/{__version__}"
_PORTS = {"http": 80, "https": 443}


class Headers(Mapping[str, str]):
    """An answer's headers, looked up without regard to case (repeated ones joined by ", ")."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items  # lower-case names

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    @overload
    def get(self, name: str, /) -> str | None: ...

    @overload
    def get(self, name: str, default: str, /) -> str: ...

    @overload
    def get(self, name: str, default: _T, /) -> str | _T: ...

    def get(self, name: str, default: object = None, /) -> object:
        return self._items.get(name.lower(), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class _Conn:
    """One socket and the bytes read from it but not used yet."""

    __slots__ = ("buf", "key", "scratch", "served", "sock")

    def __init__(self, sock: socket.socket, key: tuple[str, str, int, str]) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.key = key
        self.served = 0
        self.scratch = memoryview(bytearray(_RECV))  # received into, then appended: no allocation per read

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def recv(self) -> bool:
        """Append what arrives to the buffer; False at the end of the stream."""
        got = self.sock.recv_into(self.scratch)
        if not got:
            return False
        self.buf += self.scratch[:got]
        return True


class Response:
    """An answer whose body is still on the connection: read it with :func:`read` or
    :func:`stream`, then give the connection back with :func:`done` (or :func:`abandon`)."""

    def __init__(self, owner: KeepAlive, conn: _Conn, status: int, headers: Headers, *, keep: bool,
                 length: int | None, chunked: bool) -> None:
        self.status = status
        self.headers = headers
        self.connection: _Conn | None = conn  # ``.sock``: what client.abort_response shuts
        self._owner = owner
        self._keep = keep
        self._left = length  # body bytes still to come (None: chunked, or until the connection ends)
        self._chunked = chunked
        self._chunk_left = 0  # chunked: bytes left in the current chunk
        self._ended = length == 0
        encoding = headers.get("Content-Encoding", "") or ""
        self._decoder = _decoder(encoding.strip().lower())

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def _raw(self, amount: int) -> bytes:
        """Up to ``amount`` body bytes as sent (b"" at the end of the body)."""
        if self._ended:
            return b""
        conn = self.connection
        if conn is None:
            raise _Dropped("the connection was closed")
        if self._chunked:
            return self._chunk(conn, amount)
        left = self._left
        if left is not None and amount >= left:  # the rest of the body, in one buffer
            self._ended = True
            self._left = 0
            return _take_exactly(conn, left)
        buf = conn.buf
        if not buf and not conn.recv():
            if left is None:  # the body ends with the connection
                self._ended, self._keep = True, False
                return b""
            raise _Dropped("the connection ended mid-body")
        want = amount if left is None else min(amount, left)
        data = bytes(buf[:want])
        del buf[:want]
        if left is not None:
            self._left = left - len(data)
            self._ended = self._left == 0
        return data

    def _chunk(self, conn: _Conn, amount: int) -> bytes:
        if self._chunk_left == 0:
            line = _line(conn)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _Dropped("a malformed chunk size") from None
            if size == 0:
                while _line(conn):  # trailers, up to the empty line
                    pass
                self._ended = True
                return b""
            self._chunk_left = size
        data = _take_exactly(conn, min(amount, self._chunk_left))
        self._chunk_left -= len(data)
        if self._chunk_left == 0 and _take_exactly(conn, 2) != b"\r\n":
            raise _Dropped("a chunk without its CRLF")
        return data

    def read_body(self, amount: int) -> bytes:
        """Up to ``amount`` bytes of the body (decoded when the server compressed it anyway)."""
        out = bytearray()
        while len(out) < amount and not self._ended:
            raw = self._raw(amount - len(out))
            if self._decoder is not None:
                raw = self._decoder.decompress(raw, amount - len(out)) if raw else self._decoder.flush()
            out += raw
        return bytes(out)

    def pieces(self, size: int) -> Iterator[bytes]:
        while not self._ended:
            raw = self._raw(size)
            if self._decoder is not None:
                raw = self._decoder.decompress(raw) if raw else self._decoder.flush()
            if raw:
                yield raw

    def finish(self, complete: bool) -> None:
        conn = self.connection
        if conn is None:
            return
        if not complete and not self._ended and (
                self._chunked or (self._left is not None and self._left <= _DRAIN_LIMIT)):
            drained = 0
            try:  # a redirect's or an error page's small body: read and dropped, the connection kept
                while not self._ended and drained <= _DRAIN_LIMIT:
                    drained += len(self._raw(_RECV))
            except (OSError, _Dropped):
                self._keep = False
        self.connection = None
        if self._ended and self._keep and not conn.buf:  # nothing sent past the answer: reusable
            conn.served += 1
            self._owner.keep(conn)
        else:
            conn.close()


class _Dropped(Exception):
    """The connection ended, or sent what is not HTTP, where an answer was due."""


def _take_exactly(conn: _Conn, n: int) -> bytes:
    """``n`` bytes from the connection (its buffer first), read into one buffer."""
    buf = conn.buf
    if len(buf) == n:  # the usual small body: it came with the head
        data = bytes(buf)
        buf.clear()
        return data
    if len(buf) > n:
        with memoryview(buf) as view:
            data = bytes(view[:n])
        del buf[:n]
        return data
    out = bytearray(n)
    view = memoryview(out)
    have = len(buf)
    view[:have] = buf
    buf.clear()
    recv_into = conn.sock.recv_into
    while have < n:
        got = recv_into(view[have:])
        if not got:
            raise _Dropped(f"the connection ended after {have} of {n} bytes")
        have += got
    return bytes(out)


def _line(conn: _Conn) -> bytes:
    """One CRLF-ended line (without it), at most ``_HEAD_LIMIT`` bytes long."""
    while True:
        end = conn.buf.find(b"\r\n")
        if end >= 0:
            line = bytes(conn.buf[:end])
            del conn.buf[:end + 2]
            return line
        if len(conn.buf) > _HEAD_LIMIT:
            raise _Dropped("a line too long")
        if not conn.recv():
            raise _Dropped("the connection ended mid-line")


def _decoder(encoding: str) -> zlib._Decompress | None:
    """A decompressor for a body the server compressed although ``identity`` was asked."""
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    return None


def _ca_file() -> str:
    ca_file = ca_bundle()
    if ca_file:
        return ca_file
    import certifi  # what requests.utils.DEFAULT_CA_BUNDLE_PATH is (requests depends on certifi)

    return certifi.where()


class KeepAlive:
    """One worker's connections: at most one per (scheme, host, port, proxy), kept between requests."""

    def __init__(self, connect_timeout: float, read_timeout: float, *, tally: bool = False) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.tally = tally
        #: With ``tally``: answers by HTTP status (redirects included), instead of a log line each.
        self.answers: collections.Counter[int] = collections.Counter()
        self._idle: dict[tuple[str, str, int, str], _Conn] = {}
        self._routes: dict[str, tuple[tuple[str, str, int, str], str, bool]] = {}  # by origin
        self._proxies = urllib.request.getproxies()
        self._tls: ssl.SSLContext | None = None
        self._busy: _Conn | None = None  # the connection of the latest request
        self._aborted = False
        self.connections = 0  # opened so far (for tests and logs)

    def get(self, url: str, headers: Mapping[str, str]) -> Response:
        """GET ``url``, following redirects; read the body (``read``/``stream``), then call :func:`done`.

        Raises the ``requests`` exception that matches what went wrong (see the module docstring).
        """
        sent = dict(headers)
        hops = 0
        while True:
            try:
                resp = self._exchange(url, sent)
            except httperrors.RequestException as exc:
                request_log.info("GET %s range=%s -> %s", redact_url(url), sent.get("Range", "-"),
                                 type(exc).__name__)
                raise
            location = resp.headers.get("Location") if resp.status in _REDIRECTS else None
            if not location:
                break
            if self.tally:
                self.answers[resp.status] += 1
            else:
                request_log.info("GET %s -> %s redirect", redact_url(url), resp.status)
            done(resp, complete=False)
            hops += 1
            if hops > MAX_REDIRECTS:
                raise httperrors.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")
            target = urljoin(url, location)
            if urlsplit(target).hostname != urlsplit(url).hostname:
                sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            url = target
        if self.tally:
            self.answers[resp.status] += 1
        elif request_log.isEnabledFor(logging.INFO):  # (redact_url costs, and this is per image)
            request_log.info("GET %s range=%s -> %s content-range=%s length=%s", redact_url(url),
                             sent.get("Range", "-"), resp.status, resp.headers.get("Content-Range", "-"),
                             resp.headers.get("Content-Length", "-"))
        return resp

    def keep(self, conn: _Conn) -> None:
        """A connection whose last answer was read to its end: kept for the next request."""
        old = self._idle.pop(conn.key, None)
        if old is not None and old is not conn:
            old.close()
        self._idle[conn.key] = conn

    def close(self) -> None:
        for conn in self._idle.values():
            conn.close()
        self._idle.clear()

    def abort(self) -> None:
        """From another thread (a cancel, ``Control.on_cancel``): shut the connection of the
        request under way — a read blocked on a stalled host, waiting for the answer or inside
        its body, returns at once — and refuse every request after (``ConnectionError``).
        One hook per worker for all its requests, as :func:`.client.abort_response` is per
        response (shutting, not closing: see there)."""
        self._aborted = True
        conn = self._busy
        if conn is not None:
            with contextlib.suppress(OSError):  # (a socket closed meanwhile has no descriptor left)
                conn.sock.shutdown(socket.SHUT_RDWR)

    # -- one request and the head of its answer --------------------------------------------------
    def _exchange(self, url: str, headers: Mapping[str, str]) -> Response:
        if self._aborted:
            raise httperrors.ConnectionError("the transfer was cancelled")
        match = _ORIGIN.match(url)
        route = self._routes.get(match.group()) if match else None
        if route is None or match is None:
            route = self._route(url)
            match = _ORIGIN.match(url)
            assert match is not None  # _route refuses what does not match
            self._routes[match.group()] = route
        key, host_line, via_proxy = route
        target = url.split("#", 1)[0] if via_proxy else url[match.end():].split("#", 1)[0]
        if not target.startswith("/") and not via_proxy:
            target = "/" + target  # "http://host" or "http://host?q"
        if not _CLEAN.fullmatch(target):  # spaces, controls (a CR/LF would forge a header), non-ASCII
            target = quote(target, safe="!#$%&'()*+,/:;=?@[]~-._")
        lines = [f"GET {target} HTTP/1.1", host_line, *(f"{k}: {v}" for k, v in headers.items())]
        if not any(k.lower() == "user-agent" for k in headers):
            lines.append(_USER_AGENT)
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        conn = self._idle.pop(key, None)
        if conn is not None and not _quiet(conn):  # bytes nobody asked for, or the server closed it
            conn.close()
            conn = None
        if conn is not None:
            try:  # a kept connection the server closed meanwhile: once more on a new one
                return self._ask(conn, request)
            except _Stale:
                if self._aborted:  # (not closed by the server: shut by a cancel)
                    raise httperrors.ConnectionError("the transfer was cancelled") from None
        conn = self._connect(key)
        try:
            return self._ask(conn, request)
        except _Stale as exc:
            raise httperrors.ConnectionError(f"the connection ended before an answer: {exc}") from None

    def _route(self, url: str) -> tuple[tuple[str, str, int, str], str, bool]:
        """Where the requests for ``url``'s origin go: (connection key, the Host line and any
        proxy authorization, whether the request goes to an HTTP proxy in absolute form)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _PORTS or not _ORIGIN.match(url):
            raise httperrors.InvalidSchema(f"not an http(s) URL: {redact_url(url)}")
        host = parts.hostname
        if not host or not _CLEAN.fullmatch(parts.netloc):
            raise httperrors.InvalidURL(f"no usable host in {redact_url(url)}")
        try:
            port = parts.port or _PORTS[scheme]
        except ValueError as exc:
            raise httperrors.InvalidURL(str(exc)) from exc
        proxy = self._proxy_for(scheme, host)
        name = f"[{host}]" if ":" in host else host
        host_line = f"Host: {name if port == _PORTS[scheme] else f'{name}:{port}'}"
        via_proxy = bool(proxy) and scheme == "http"  # https goes through a CONNECT tunnel
        if via_proxy and "@" in proxy:
            host_line += f"\r\nProxy-Authorization: {_basic(proxy)}"
        return (scheme, host, port, proxy), host_line, via_proxy

    def _ask(self, conn: _Conn, request: bytes) -> Response:
        """Send ``request`` on ``conn`` and read the answer's head."""
        self._busy = conn
        if self._aborted:  # (cancelled while this connection was being opened)
            conn.close()
            raise httperrors.ConnectionError("the transfer was cancelled")
        try:
            conn.sock.sendall(request)
            head = self._head(conn)
        except TimeoutError as exc:
            conn.close()
            raise httperrors.ReadTimeout(f"no answer in {self.read_timeout} s") from exc
        except ssl.SSLError as exc:
            conn.close()
            raise httperrors.SSLError(str(exc)) from exc
        except (OSError, _Dropped) as exc:
            conn.close()
            if httperrors.is_request_exception(exc):  # already judged by _head
                raise
            if not conn.buf:
                raise _Stale(str(exc)) from None
            raise httperrors.ConnectionError(f"the connection ended before an answer: {exc}") from exc
        status, version, fields = head
        length: int | None = None
        chunked = "chunked" in fields.get("transfer-encoding", "").lower()
        if not chunked:
            declared = fields.get("content-length")
            if declared is not None:
                declared = declared.split(",")[0].strip()
                if not declared.isdigit():
                    conn.close()
                    raise httperrors.ConnectionError(f"a malformed Content-Length: {declared!r}")
                length = int(declared)
            elif status in (204, 304):
                length = 0
        keep = version == "HTTP/1.1" and "close" not in fields.get("connection", "").lower() and (
            chunked or length is not None)
        return Response(self, conn, status, Headers(fields), keep=keep, length=length, chunked=chunked)

    def _head(self, conn: _Conn) -> tuple[int, str, dict[str, str]]:
        """The status, HTTP version and headers of the next final answer on ``conn`` (1xx skipped)."""
        while True:
            buf = conn.buf
            start = 0
            while True:
                end = buf.find(b"\r\n\r\n", start)
                if end >= 0:
                    break
                if len(buf) > _HEAD_LIMIT:
                    raise httperrors.ConnectionError("an answer's headers too long")
                start = max(0, len(buf) - 3)
                if not conn.recv():
                    raise _Dropped("the connection ended before an answer")
            head = bytes(buf[:end]).decode("latin-1")
            del buf[:end + 4]
            status_line, _, rest = head.partition("\r\n")
            version, _, tail = status_line.partition(" ")
            code = tail[:3]
            if not version.startswith("HTTP/") or not code.isdigit():
                raise httperrors.ConnectionError(f"not an HTTP answer: {status_line[:60]!r}")
            status = int(code)
            if 100 <= status < 200 and status != 101:
                continue  # 100 Continue and the like: the real answer follows
            return status, version, _fields(rest)

    # -- connections -----------------------------------------------------------------------------
    def _proxy_for(self, scheme: str, host: str) -> str:
        proxy = self._proxies.get(scheme) or self._proxies.get("all")  # ALL_PROXY, as requests and httpx
        if not proxy or self._bypasses(scheme, host):
            return ""
        return proxy if "://" in proxy else f"http://{proxy}"

    @staticmethod
    def _bypasses(scheme: str, host: str) -> bool:
        """Whether NO_PROXY names ``host``, read as requests reads it for every other source (names,
        suffixes, and CIDR ranges such as ``10.0.0.0/8``, which clusters set and urllib ignores).
        Once per origin: routes are kept by origin."""
        from requests.utils import should_bypass_proxies

        name = f"[{host}]" if ":" in host else host
        return bool(should_bypass_proxies(f"{scheme}://{name}/", None))

    def _connect(self, key: tuple[str, str, int, str]) -> _Conn:
        scheme, host, port, proxy = key
        where = (host, port)
        if proxy:
            p = urlsplit(proxy)
            if p.scheme != "http" or not p.hostname:
                raise httperrors.ProxyError(f"unsupported proxy {redact_url(proxy)} (http:// proxies only)")
            where = (p.hostname, p.port or 80)
        try:
            sock = socket.create_connection(where, timeout=self.connect_timeout)
        except TimeoutError as exc:
            raise httperrors.ConnectTimeout(f"no connection to {where[0]}:{where[1]} in "
                                          f"{self.connect_timeout} s") from exc
        except OSError as exc:  # to the proxy, when there is one: its failure is named as the proxy's
            failed = httperrors.ProxyError if proxy else httperrors.ConnectionError
            if isinstance(exc, socket.gaierror):
                raise failed(f"NameResolutionError: {where[0]}: {exc}") from exc
            raise failed(f"cannot connect to {where[0]}:{where[1]}: {exc}") from exc
        conn = _Conn(sock, key)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if proxy and scheme == "https":
                self._tunnel(conn, host, port, proxy)
            if scheme == "https":
                sock.settimeout(self.connect_timeout)
                conn.sock = self._tls_context().wrap_socket(sock, server_hostname=host)
            conn.sock.settimeout(self.read_timeout)
        except ssl.SSLError as exc:
            conn.close()
            raise httperrors.SSLError(str(exc)) from exc
        except TimeoutError as exc:
            conn.close()
            raise httperrors.ConnectTimeout(f"no TLS handshake with {host} in {self.connect_timeout} s") from exc
        except OSError as exc:
            conn.close()
            if httperrors.is_request_exception(exc):  # the proxy's refusal (_tunnel)
                raise
            raise httperrors.ConnectionError(f"cannot connect to {host}:{port}: {exc}") from exc
        self.connections += 1
        return conn

    def _tunnel(self, conn: _Conn, host: str, port: int, proxy: str) -> None:
        """CONNECT through an HTTP proxy (for an https URL)."""
        lines = [f"CONNECT {host}:{port} HTTP/1.1", f"Host: {host}:{port}"]
        if "@" in proxy:
            lines.append(f"Proxy-Authorization: {_basic(proxy)}")
        conn.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        try:
            status, _version, _fields = self._head(conn)
        except _Dropped as exc:
            raise httperrors.ProxyError(f"the proxy ended the connection: {exc}") from exc
        if status != 200 or conn.buf:
            raise httperrors.ProxyError(f"the proxy refused the tunnel (HTTP {status})")

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            ca = _ca_file()
            self._tls = (ssl.create_default_context(capath=ca) if os.path.isdir(ca)  # requests takes a folder too
                         else ssl.create_default_context(cafile=ca))
        return self._tls


def _fields(text: str) -> dict[str, str]:
    """The header fields of an answer's head (after its status line), names in lower case and
    repeated ones joined by ", "; obsolete line folding and lines that are no field are skipped.
    (Split and partition: a third of what one regular expression over the head costs.)"""
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        name, colon, value = line.partition(":")
        if not colon or not name or name[0].isspace() or "\r" in name:
            continue
        name = name.rstrip(" \t").lower()
        value = value.strip(" \t\r")
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    return fields


def _quiet(conn: _Conn) -> bool:
    """Whether a kept connection can carry the next request: nothing left over and nothing arrived
    since (late bytes past an answer, or the server's close) — what urllib3 checks before reusing."""
    if conn.buf:
        return False
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(conn.sock, select.POLLIN)
            return not poller.poll(0)
        return not select.select([conn.sock], [], [], 0)[0]  # Windows: no poll()
    except (OSError, ValueError):
        return False


class _Stale(Exception):
    """A connection that failed before any byte of the answer (it may be tried again)."""


def _basic(proxy: str) -> str:
    p = urlsplit(proxy)
    pair = f"{unquote(p.username or '')}:{unquote(p.password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


# -- reading an answer -----------------------------------------------------------------------------
def read(resp: Response, amount: int) -> bytes:
    """Up to ``amount`` bytes of the body (all of it when it is shorter), errors as ``requests``'."""
    try:
        return resp.read_body(amount)
    except BaseException as exc:
        _raise_body_error(resp, exc)
        raise


def stream(resp: Response, chunk_size: int) -> Iterator[bytes]:
    """The body in pieces of up to ``chunk_size`` bytes (as sent), errors as ``requests``'."""
    try:
        yield from resp.pieces(chunk_size)
    except BaseException as exc:
        _raise_body_error(resp, exc)
        raise


def _raise_body_error(resp: Response, exc: BaseException) -> None:
    if isinstance(exc, TimeoutError):
        resp.close()
        raise httperrors.ReadTimeout("the server stopped sending the body") from exc
    if isinstance(exc, zlib.error):
        resp.close()
        raise httperrors.ContentDecodingError(str(exc)) from exc
    if isinstance(exc, OSError | _Dropped):
        resp.close()
        raise httperrors.ChunkedEncodingError(f"the connection dropped mid-body: {exc}") from exc


def done(resp: Response, *, complete: bool) -> None:
    """Give the connection back for the next request: ``complete`` when the body was read to its
    end; otherwise what is left of a small body is read and dropped so that it can be reused."""
    resp.finish(complete)


def abandon(resp: Response) -> None:
    """Close the connection (a body we stopped reading on purpose, e.g. far too large)."""
    resp.close()
