"""The lean HTTP/1.1 keep-alive client of OCR-VQA's images (``net.keepalive``) against scripted
servers on 127.0.0.1: connection reuse, chunked bodies, redirects, and the faults a small-file
host shows (a short body, a stall, 429 with Retry-After, a kept connection closed meanwhile,
bytes past the declared length, a cancel while a read is blocked)."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

import wizard
from wizard.engine.net import client, keepalive
from wizard.engine.net.policy import Kind, classify, describe, is_retryable

HEADERS = {"Accept-Encoding": "identity"}


@dataclass
class Request:
    conn: int  # which connection (0, 1, ...)
    index: int  # which request on that connection
    path: str
    headers: dict[str, str]


#: What the script answers: raw bytes to send, then "keep" the connection, "close" it, or "hold" it
#: open without a word until the test ends (a stall).
Answer = tuple[bytes, str]


@dataclass
class Scripted:
    """A loopback server that reads requests one by one and answers each with ``script(request)``."""

    script: Callable[[Request], Answer]
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            number = self.connections
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        buf = b""
        index = 0
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                fields = dict(line.split(": ", 1) for line in lines[1:])
                request = Request(number, index, lines[0].split(" ")[1], fields)
                self.requests.append(request)
                index += 1
                raw, then = self.script(request)
                try:
                    conn.sendall(raw)
                except OSError:
                    return
                if then == "hold":
                    self.release.wait(30)
                if then != "keep":
                    return

    def close(self) -> None:
        self.release.set()
        self.sock.close()


def answer(status: int, body: bytes = b"", *extra: str, length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body) if length is None else length}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(body: bytes, size: int = 1000) -> bytes:
    out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    for start in range(0, len(body), size):
        piece = body[start:start + size]
        out += f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\nX-Trailer: yes\r\n\r\n"


_POOLS: list[keepalive.KeepAlive] = []


def new_pool(read_timeout: float = 5.0) -> keepalive.KeepAlive:
    """A worker's connections, closed when the test ends (by the ``serve`` fixture)."""
    _POOLS.append(keepalive.KeepAlive(5.0, read_timeout))
    return _POOLS[-1]


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[Request], Answer]], Scripted]]:
    servers: list[Scripted] = []

    def start(script: Callable[[Request], Answer]) -> Scripted:
        servers.append(Scripted(script))
        return servers[-1]

    yield start
    while _POOLS:
        _POOLS.pop().close()
    for srv in servers:
        srv.close()


def fetch(pool: keepalive.KeepAlive, url: str, amount: int = 1 << 20) -> tuple[int, bytes]:
    resp = pool.get(url, HEADERS)
    body = keepalive.read(resp, amount)
    keepalive.done(resp, complete=True)
    return resp.status, body


BODY = bytes(range(256)) * 160  # 40 KB


def test_one_connection_serves_many_images(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (answer(200, BODY + r.path.encode()), "keep"))
    pool = new_pool()
    for n in range(20):
        assert fetch(pool, srv.url(f"/i/{n}.jpg")) == (200, BODY + f"/i/{n}.jpg".encode())
    assert srv.connections == 1 and pool.connections == 1
    assert [r.index for r in srv.requests] == list(range(20))
    sent = srv.requests[0].headers
    assert sent["Host"] == f"127.0.0.1:{srv.port}" and sent["Accept-Encoding"] == "identity"
    assert sent["User-Agent"] == f"sharegpt4v-setup/{wizard.__version__}"


def test_a_chunked_body_is_joined_and_the_connection_kept(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (chunked(BODY), "keep"))
    pool = new_pool()
    assert fetch(pool, srv.url("/a.jpg")) == (200, BODY)
    resp = pool.get(srv.url("/b.jpg"), HEADERS)  # streamed in pieces this time
    assert b"".join(keepalive.stream(resp, 4096)) == BODY
    keepalive.done(resp, complete=True)
    assert srv.connections == 1


def test_a_short_body_is_a_dropped_connection(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (answer(200, BODY[:5000], length=len(BODY)), "close"))
    pool = new_pool()
    resp = pool.get(srv.url("/short.jpg"), HEADERS)
    with pytest.raises(requests.exceptions.ChunkedEncodingError) as caught:
        keepalive.read(resp, 1 << 20)
    assert is_retryable(caught.value) and describe(caught.value) == "the connection dropped mid-file"
    keepalive.done(resp, complete=False)
    assert resp.connection is None and pool.connections == 1


def test_a_stalled_body_times_out(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (answer(200, BODY[:1000], length=len(BODY)), "hold"))
    pool = new_pool(0.3)
    resp = pool.get(srv.url("/stall.jpg"), HEADERS)
    with pytest.raises(requests.ReadTimeout) as caught:
        keepalive.read(resp, 1 << 20)
    assert is_retryable(caught.value) and "timeout" in describe(caught.value)
    keepalive.done(resp, complete=False)
    assert resp.connection is None  # not kept with half a body on it


def test_a_429_is_read_by_the_policy_and_the_connection_kept(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (answer(429, b"slow down", "Retry-After: 7"), "keep") if r.index == 0
                else (answer(200, BODY), "keep"))
    pool = new_pool()
    resp = pool.get(srv.url("/a.jpg"), HEADERS)
    verdict = classify(resp.status, resp.headers)
    assert verdict.kind is Kind.RETRY and verdict.wait == 7.0 and verdict.throttled
    keepalive.done(resp, complete=False)  # the error page is read and dropped
    assert fetch(pool, srv.url("/a.jpg")) == (200, BODY)
    assert srv.connections == 1


def test_a_kept_connection_closed_meanwhile_is_replaced_once(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (answer(200, BODY), "close"))  # closes after each answer, without saying so
    pool = new_pool()
    for n in range(3):
        assert fetch(pool, srv.url(f"/{n}.jpg")) == (200, BODY)
    assert srv.connections == 3 and len(srv.requests) == 3  # each request sent once


def test_connection_close_is_obeyed(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (answer(200, BODY, "Connection: close"), "keep"))
    pool = new_pool()
    assert fetch(pool, srv.url("/a.jpg")) == (200, BODY)
    assert fetch(pool, srv.url("/b.jpg")) == (200, BODY)
    assert srv.connections == 2


def test_a_new_connection_closed_before_an_answer_is_a_connection_error(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (b"", "close"))
    pool = new_pool()
    with pytest.raises(requests.ConnectionError) as caught:
        pool.get(srv.url("/a.jpg"), HEADERS)
    assert is_retryable(caught.value)
    assert srv.connections == 1  # not retried here: the policy decides


def test_bytes_past_the_declared_length_end_the_connection(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (answer(200, BODY) + b"GARBAGE", "keep"))
    pool = new_pool()
    assert fetch(pool, srv.url("/a.jpg")) == (200, BODY)
    assert fetch(pool, srv.url("/b.jpg")) == (200, BODY)
    assert srv.connections == 2  # the first was not reused with garbage on it


def test_redirects_are_followed_and_the_body_of_the_redirect_drained(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (answer(302, b"moved", "Location: /real" + r.path), "keep")
                if not r.path.startswith("/real") else (answer(200, r.path.encode()), "keep"))
    pool = new_pool()
    assert fetch(pool, srv.url("/a.jpg")) == (200, b"/real/a.jpg")
    assert srv.connections == 1 and [r.path for r in srv.requests] == ["/a.jpg", "/real/a.jpg"]


def test_a_redirect_to_another_host_drops_authorization(serve: Callable[..., Scripted]) -> None:
    other = serve(lambda r: (answer(200, b"there"), "keep"))
    srv = serve(lambda r: (answer(301, b"", f"Location: http://localhost:{other.port}/x"), "keep"))
    pool = new_pool()
    resp = pool.get(srv.url("/a.jpg"), {**HEADERS, "Authorization": "Bearer secret"})
    assert keepalive.read(resp, 100) == b"there"
    keepalive.done(resp, complete=True)
    assert srv.requests[0].headers["Authorization"] == "Bearer secret"
    assert "Authorization" not in other.requests[0].headers


def test_a_redirect_loop_and_a_redirect_to_file_are_retryable_errors(serve: Callable[..., Scripted]) -> None:
    loop = serve(lambda r: (answer(302, b"", f"Location: /hop{r.index}"), "keep"))
    pool = new_pool()
    with pytest.raises(requests.TooManyRedirects) as caught:
        pool.get(loop.url("/a.jpg"), HEADERS)
    assert is_retryable(caught.value) and len(loop.requests) == keepalive.MAX_REDIRECTS + 1
    to_file = serve(lambda r: (answer(302, b"", "Location: file:///etc/passwd"), "keep"))
    with pytest.raises(requests.exceptions.InvalidSchema) as schema:
        pool.get(to_file.url("/a.jpg"), HEADERS)
    assert describe(schema.value) == "redirected to a URL that is not http(s)"


def test_a_read_stops_at_the_amount_asked(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (answer(200, BODY), "keep"))
    pool = new_pool()
    resp = pool.get(srv.url("/big.jpg"), HEADERS)
    assert keepalive.read(resp, 1000) == BODY[:1000]
    keepalive.abandon(resp)
    assert fetch(pool, srv.url("/a.jpg")) == (200, BODY)
    assert srv.connections == 2  # the abandoned one was closed


def test_a_compressed_body_is_decoded(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (answer(200, gzip.compress(BODY), "Content-Encoding: gzip"), "keep"))
    pool = new_pool()
    assert fetch(pool, srv.url("/a.jpg")) == (200, BODY)
    assert srv.connections == 1


def test_an_interim_answer_is_skipped(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (b"HTTP/1.1 100 Continue\r\n\r\n" + answer(200, BODY), "keep"))
    assert fetch(new_pool(), srv.url("/a.jpg")) == (200, BODY)


def test_a_cancel_wakes_a_blocked_read(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (answer(200, BODY[:1000], length=len(BODY)), "hold"))
    pool = new_pool(60.0)
    resp = pool.get(srv.url("/stall.jpg"), HEADERS)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            keepalive.read(resp, 1 << 20)
        except BaseException as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    client.abort_response(resp)  # what Control.on_cancel's hook does (before or during the read)
    reader.join(timeout=15)  # generous: the read timeout is a minute
    assert not reader.is_alive()
    assert isinstance(outcome[0], requests.exceptions.ChunkedEncodingError)


@pytest.mark.parametrize("stall", ["head", "body"])
def test_abort_wakes_a_request_waiting_for_its_answer_and_refuses_the_next(
        serve: Callable[..., Scripted], stall: str) -> None:
    srv = serve(lambda r: (b"" if stall == "head" else answer(200, BODY[:1000], length=len(BODY)), "hold"))
    pool = new_pool(60.0)
    outcome: list[BaseException] = []
    headed = threading.Event()

    def work() -> None:
        try:
            resp = pool.get(srv.url("/stall.jpg"), HEADERS)
            headed.set()
            keepalive.read(resp, 1 << 20)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    while not srv.requests:  # asked (the answer never comes, or stops after 1000 bytes)
        threading.Event().wait(0.005)
    if stall == "body":  # (on a busy machine the cancel could otherwise come before the head is read)
        assert headed.wait(15)
    pool.abort()  # what a cancel does (Control.on_cancel)
    worker.join(timeout=15)  # generous: the read timeout is a minute
    assert not worker.is_alive()
    expected = requests.ConnectionError if stall == "head" else requests.exceptions.ChunkedEncodingError
    assert isinstance(outcome[0], expected)  # (a dropped connection)
    with pytest.raises(requests.ConnectionError, match="cancelled"):
        pool.get(srv.url("/next.jpg"), HEADERS)
    assert len(srv.requests) == 1 and srv.connections == 1


def test_a_url_cannot_forge_a_header(serve: Callable[..., Scripted]) -> None:
    srv = serve(lambda r: (answer(200, r.path.encode()), "keep"))
    status, body = fetch(new_pool(), srv.url("/a b.jpg\r\nX-Evil: 1"))
    assert status == 200 and body == b"/a%20b.jpg%0D%0AX-Evil:%201"
    assert "X-Evil" not in srv.requests[0].headers


def test_header_fields_are_read_as_a_lenient_client_reads_them() -> None:
    head = ("Content-Length : 42\r\nX-Twice: a\r\nx-twice:  b \r\n folded continuation\r\n"
            "no colon here\r\n: no name\r\nBare-LF: yes\nCache-Control:\r\nBad\rName: x\r\n")
    assert keepalive._fields(head) == {"content-length": "42", "x-twice": "a, b", "bare-lf": "yes",
                                       "cache-control": ""}


def test_image_gets_can_be_tallied_instead_of_logged(serve: Callable[..., Scripted],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    srv = serve(lambda r: (answer(302, b"", "Location: /b.jpg"), "keep") if r.path == "/a.jpg"
                else (answer(200, BODY), "keep"))
    pool = keepalive.KeepAlive(5.0, 5.0, tally=True)
    _POOLS.append(pool)
    with caplog.at_level("INFO", logger=client.log.name):
        assert fetch(pool, srv.url("/a.jpg")) == (200, BODY)
        assert fetch(pool, srv.url("/b.jpg")) == (200, BODY)
    assert pool.answers == {302: 1, 200: 2}
    assert not [r for r in caplog.records if r.name == client.log.name]  # no line per request


_LEAN = """
import socket, sys, threading
import wizard.engine.sources.ocrsplit
from wizard.engine.net import keepalive
from wizard.engine.net.policy import describe, is_retryable
heavy = [m for m in ("requests", "urllib3", "simdjson", "wizard.engine.annotations", "wizard.engine.catalog")
         if m in sys.modules]
print("heavy:", heavy)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(2)
def answer_once_per_connection():
    for _ in range(2):
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nabc")
        conn.recv(65536)  # the next request on the kept connection ...
        conn.close()  # ... gets no answer: a stale connection, replaced once
threading.Thread(target=answer_once_per_connection, daemon=True).start()
pool = keepalive.KeepAlive(2.0, 2.0)
for _ in range(2):
    resp = pool.get(f"http://127.0.0.1:{server.getsockname()[1]}/a.jpg", {})
    assert keepalive.read(resp, 10) == b"abc"
    keepalive.done(resp, complete=True)
print("after a kept connection the server closed:", pool.connections, "requests" in sys.modules)
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
port = sock.getsockname()[1]
sock.close()  # nothing listens there now: the GET fails to connect
try:
    keepalive.KeepAlive(2.0, 2.0).get(f"http://127.0.0.1:{port}/a.jpg", {})
except Exception as exc:
    import requests
    print("error:", isinstance(exc, requests.exceptions.ConnectionError), is_retryable(exc), describe(exc))
"""


def test_the_image_process_starts_without_requests_and_still_reports_its_errors() -> None:
    """The OCR-VQA image process (``ocrsplit``) imports neither requests, simdjson nor the catalog
    to start (~0.2 s of CPU saved per run); its first transfer error imports requests and is the
    same requests exception the one retry policy judges."""
    package_root = str(Path(wizard.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _LEAN], capture_output=True, text=True, env=env, check=True).stdout
    assert "heavy: []" in out
    assert "after a kept connection the server closed: 2 False" in out
    assert "error: True True connection failed" in out
