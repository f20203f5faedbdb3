"""Small helpers shared by the engine tests (no fixtures here; see conftest.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from wizard.engine.context import JobContext, Settings
from wizard.engine.control import Control
from wizard.engine.events import Event, Log
from wizard.engine.journal import Journal
from wizard.engine.net.ratelimit import NetShared


def in_ci() -> bool:
    """Whether the tests run in CI (``CI=true``), where a missing tool fails instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_tool(name: str, package: str, found: str | None = None) -> str:
    """The path of tool ``name``; skips the test when it is missing — fails in CI, which must
    install it (Debian package ``package``; ``.ci/run`` does)."""
    import pytest

    path = found or shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: apt-get install {package})"
        if in_ci():
            pytest.fail(f"{message}; CI must install it", pytrace=False)
        pytest.skip(message)
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fast_settings(**overrides: object) -> Settings:
    """Settings with short back-offs and timeouts so fault tests run in seconds."""
    values: dict[str, object] = {"backoff": 0.01, "backoff_cap": 0.05, "retries": 4,
                                 "connect_timeout": 5.0, "read_timeout": 5.0, "chunk_size": 64 * 1024}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


class Recorder:
    """An engine observer that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def logs(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, Log)]

    def of(self, kind: type) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


def make_ctx(root: Path, settings: Settings | None = None, job: str = "test",
             control: Control | None = None, net: NetShared | None = None) -> tuple[JobContext, Recorder]:
    root.mkdir(parents=True, exist_ok=True)
    rec = Recorder()
    ctx = JobContext(job, root, settings or fast_settings(), Journal(root), control or Control(), rec, net=net)
    return ctx, rec


def settled_requests(server: Any, count: int, timeout: float = 5.0) -> list[Any]:
    """The server's request records once ``count`` are in: a loopback server records a request
    just after the client has read its answer, so the last record can lag by a moment."""
    deadline = time.monotonic() + timeout
    while len(server.requests) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(server.requests)


def wait_for(condition: Any, timeout: float = 60.0) -> None:
    """Wait until ``condition()`` holds (the deadline only keeps a broken test from hanging)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


class CountingCondition(threading.Condition):
    """A condition that counts the threads waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting += 1  # (the lock is held here)
        try:
            return super().wait(timeout)
        finally:
            self.waiting -= 1


class SilentServer:
    """A server on 127.0.0.1 that takes each connection, reads the request and never answers;
    ``held`` is the connections it holds (one per request). :meth:`close` ends it and them."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            conn.recv(65536)
            self.held.append(conn)  # read the request; never answer

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


class LocalHTTPServer:
    """``handler`` served on 127.0.0.1 by a thread of its own: ``url``; :meth:`close` ends it."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
