"""nginx over a docroot on 127.0.0.1, for tests that want a real-world web server.

``nginx_server(docroot, workdir)`` is a context manager yielding an :class:`NginxServer`;
``start_nginx(docroot, workdir)`` returns ``(base_url, stop)``. Both skip the test cleanly when
there is no nginx binary — and fail it in CI (``CI=true``), which must install nginx. The config
mirrors :class:`wizard.demo.server.MirrorServer`'s routes:
static files with ranges and ETags, ``/datasets/<ns>/<name>/resolve/<rev>/<path>`` served from
``hub/<ns>/<name>/<path>`` with ``X-Repo-Commit`` (no ``X-Linked-Etag``: nginx cannot hash), and
JSON folder listings under ``/drive/folders/``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from helpers import require_tool

from wizard.demo.server import HUB_COMMIT

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


@dataclass(frozen=True)
class NginxServer:
    """A running nginx: where it listens and where its logs are."""

    base_url: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes]

    @property
    def access_log(self) -> Path:
        return self.workdir / "access.log"

    @property
    def error_log(self) -> Path:
        return self.workdir / "error.log"


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return next((c for c in NGINX_CANDIDATES if os.access(c, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_conf(docroot: Path, workdir: Path, port: int, hub_commit: str = HUB_COMMIT) -> str:
    temp = workdir / "tmp"
    user = "user root;\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
daemon off;
master_process on;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    types {{
        application/json json;
        application/zip zip;
        application/x-tar tar;
        image/jpeg jpg;
        image/png png;
        image/gif gif;
    }}
    default_type application/octet-stream;
    sendfile on;
    etag on;
    absolute_redirect off;
    server {{
        listen 127.0.0.1:{port};
        root {docroot};
        location ~ ^/datasets/(?<repo>[^/]+/[^/]+)/resolve/[^/]+/(?<file>.+)$ {{
            add_header X-Repo-Commit {hub_commit} always;
            add_header X-Linked-Size $sent_http_content_length;
            try_files /hub/$repo/$file =404;
        }}
        location /drive/folders/ {{
            autoindex on;
            autoindex_format json;
        }}
    }}
}}
"""


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()  # SIGTERM: fast shutdown of master and workers
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def launch_nginx(docroot: Path, workdir: Path) -> NginxServer:
    """Start nginx over ``docroot`` (config and logs in ``workdir``); skip if nginx is absent."""
    binary = require_tool("nginx", "nginx-light", nginx_binary())
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tmp").mkdir(exist_ok=True)
    for attempt in range(3):
        port = _free_port()
        conf = workdir / "nginx.conf"
        conf.write_text(nginx_conf(Path(docroot).resolve(), workdir.resolve(), port), encoding="utf-8")
        proc = subprocess.Popen(
            [binary, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        if _wait_for_port(port, proc):
            return NginxServer(f"http://127.0.0.1:{port}", port, workdir, proc)
        _stop(proc)
        if attempt == 2:
            error_log = workdir / "error.log"
            log = error_log.read_text(errors="replace") if error_log.exists() else ""
            raise RuntimeError(f"nginx did not start on 127.0.0.1:{port}:\n{log[-2000:]}")
    raise AssertionError("unreachable")


def stop_nginx(server: NginxServer) -> None:
    _stop(server.process)


@contextlib.contextmanager
def nginx_server(docroot: Path, workdir: Path) -> Iterator[NginxServer]:
    server = launch_nginx(docroot, workdir)
    try:
        yield server
    finally:
        stop_nginx(server)


def start_nginx(docroot: Path, workdir: Path) -> tuple[str, Callable[[], None]]:
    """Start nginx; return its base URL and a function that stops it."""
    server = launch_nginx(docroot, workdir)
    return server.base_url, lambda: stop_nginx(server)
