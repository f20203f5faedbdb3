"""Proxies as clusters set them (``HTTP_PROXY``/``HTTPS_PROXY``, no ``NO_PROXY`` for the servers):
every source kind goes through the proxy, and a proxy that asks for a password or refuses the
connection is named as the proxy, with a hint about its settings, not as the server.

A small forward/CONNECT proxy on 127.0.0.1 is started by the test; the runs are subprocesses so
that no library's client, created earlier in this process without a proxy, is reused.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from wizard.demo import MirrorServer, World
from wizard.engine.errors import PROXY_HINT, SetupError
from wizard.engine.net.policy import Attempts, describe


class Proxy:
    """A forward proxy for http URLs and a CONNECT proxy for https. ``ask_password``: every
    request gets 407. ``lines`` are the request lines it saw."""

    def __init__(self, ask_password: bool = False) -> None:
        self.ask_password = ask_password
        self.lines: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Proxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            reader = conn.makefile("rb")
            line = reader.readline().decode("latin-1").strip()
            headers = []
            while (header := reader.readline()) not in (b"\r\n", b"\n", b""):
                headers.append(header)
            self.lines.append(line)
            if self.ask_password:
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\n"
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                return
            method, target, _version = line.split(" ", 2)
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                url = urlsplit(target)
                upstream = socket.create_connection((url.hostname or "", url.port or 80))
                path = url.path + (f"?{url.query}" if url.query else "")
                kept = b"".join(h for h in headers if not h.lower().startswith((b"proxy-", b"connection")))
                upstream.sendall(f"{method} {path} HTTP/1.1\r\n".encode() + kept + b"Connection: close\r\n\r\n")
            with upstream:
                threading.Thread(target=_pump, args=(upstream, conn), daemon=True).start()
                _pump(conn, upstream)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    with Proxy() as server:
        yield server


@pytest.fixture
def password_proxy() -> Iterator[Proxy]:
    with Proxy(ask_password=True) as server:
        yield server


def _run(proxy_url: str, *args: str | Path, names: tuple[str, ...] = ("HTTP_PROXY", "HTTPS_PROXY")
         ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("no_proxy", "http_proxy", "https_proxy", "all_proxy")}
    env.update(dict.fromkeys(names, proxy_url))
    return subprocess.run([sys.executable, "-m", "wizard", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_every_source_kind_goes_through_the_proxy(tmp_path: Path, world: World, mirror: MirrorServer,
                                                  demo_catalog: Path, sam_links: Path, proxy: Proxy) -> None:
    root = tmp_path / "root"
    done = _run(proxy.url, "run", "--catalog", demo_catalog, "--hf-endpoint", mirror.base_url, "--root", root,
                "--sam-links", sam_links, "--preset", "cap100k", "--components", "ocr-vqa,json-sft", "--yes",
                "--quiet")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    seen = {urlsplit(line.split(" ")[1]).path.split("/")[1] for line in proxy.lines}
    # the Hub (metadata and bytes), plain http, Google Drive (gdown), SA-1B links, OCR-VQA images
    assert {"datasets", "images.cocodataset.org", "drive", "sam", "amazon"} <= seen, seen


def test_all_proxy_alone_is_used_for_the_ocr_vqa_images_too(tmp_path: Path, mirror: MirrorServer,
                                                             demo_catalog: Path, proxy: Proxy) -> None:
    """ALL_PROXY without HTTP(S)_PROXY: requests and the Hub library use it, and so must the
    keep-alive client of the OCR-VQA images (before, they went around the proxy)."""
    done = _run(proxy.url, "run", "--catalog", demo_catalog, "--root", tmp_path / "root", "--components",
                "ocr-vqa", "--yes", "--quiet", names=("ALL_PROXY",))
    assert done.returncode == 0, done.stderr
    images = [line for line in proxy.lines if urlsplit(line.split(" ")[1]).path.startswith("/amazon/")]
    assert images and all(line.startswith("GET http://") for line in images), proxy.lines


def test_a_proxy_that_asks_for_a_password_is_named_with_its_settings(
        tmp_path: Path, mirror: MirrorServer, demo_catalog: Path, password_proxy: Proxy) -> None:
    root = tmp_path / "root"
    done = _run(password_proxy.url, "run", "--catalog", demo_catalog, "--hf-endpoint", mirror.base_url,
                "--root", root, "--components", "json-sft,coco-train2017,sam-9k", "--yes", "--quiet")
    assert done.returncode == 1, done.stderr
    err = done.stderr
    assert "Traceback" not in err and "The server answered 407" not in err
    for line in ("FAILED  json-sft: [hub-metadata]", "FAILED  coco-train2017: [http-status] The proxy asks",
                 "FAILED  sam-9k: [http-status] The proxy asks"):
        assert line in err, err
    lines = err.splitlines()
    failed = [i for i, line in enumerate(lines) if line.startswith("FAILED")]
    assert len(failed) == 3 and all(lines[i + 1] == f"  hint: {PROXY_HINT}" for i in failed), err
    assert not mirror.requests  # nothing reached the server


def test_a_proxy_that_refuses_the_connection_is_named_as_the_proxy() -> None:
    """requests' ProxyError (here for an https URL, through CONNECT): the proxy, not the server."""
    import requests

    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    proxy = f"http://127.0.0.1:{port}"  # nothing listens there now
    with pytest.raises(requests.exceptions.ProxyError) as failed:
        requests.get("https://127.0.0.1:9/file.zip", proxies={"https": proxy}, timeout=10)
    assert describe(failed.value) == "the proxy refused the connection"
    with pytest.raises(SetupError) as gave_up:
        Attempts("file.zip", 0, 0.0, 0.0).failed(failed.value)
    assert gave_up.value.problem.hint == PROXY_HINT


@pytest.mark.parametrize("name", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_variable_naming_a_missing_file_is_said_up_front(
        tmp_path: Path, mirror: MirrorServer, demo_catalog: Path, name: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Before, each source failed after its retries in its own library's words ("[Errno 2] No such
    file or directory" from the Hub's), naming neither the variable nor the file."""
    from wizard.cli import main

    missing = tmp_path / "gone" / "ca.pem"
    monkeypatch.setenv(name, str(missing))
    code = main(["run", "--catalog", str(demo_catalog), "--hf-endpoint", mirror.base_url, "--root",
                 str(tmp_path / "root"), "--components", "json-sft,coco-train2017", "--yes", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"[network] {name} is set to {missing}, which does not exist" in err
    assert f"hint: Point {name} at your certificate bundle" in err
    assert not mirror.requests


def test_the_image_clients_refused_proxy_is_named_as_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The OCR-VQA images' keep-alive client: a proxy that refuses the connection (before,
    "connection failed", as if the image host were down)."""
    from wizard.engine.net.keepalive import KeepAlive

    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    pool = KeepAlive(5.0, 5.0)
    try:
        with pytest.raises(OSError) as failed:
            pool.get("http://images-amazon.invalid/123.jpg", {})
    finally:
        pool.close()
    assert describe(failed.value) == "the proxy refused the connection"


@pytest.mark.parametrize("no_proxy", ["127.0.0.0/8", "localhost,127.0.0.1", "example.org, 127.0.0.1"])
def test_no_proxy_as_clusters_write_it_reaches_the_image_client_too(monkeypatch: pytest.MonkeyPatch,
                                                                    mirror: MirrorServer, no_proxy: str) -> None:
    """NO_PROXY with a CIDR range (as clusters set it for their own networks): requests goes direct
    for every other source, and so must the OCR-VQA images' keep-alive client (before, it read NO_PROXY
    with urllib, which ignores ranges, and sent the images to the proxy, here one that refuses)."""
    from wizard.engine.net.keepalive import KeepAlive

    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    for name in ("no_proxy", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    url = mirror.base_url + "/coco/annotations.txt"  # any path: an answer at all means it went direct
    pool = KeepAlive(5.0, 5.0)
    try:
        answer = pool.get(url, {})
        answer.close()
    finally:
        pool.close()
    assert answer.status == 404 and mirror.requests


def test_a_port_that_looks_like_407_is_no_password_request() -> None:
    import requests

    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    proxy = f"http://127.0.0.1:{port}"
    with pytest.raises(requests.exceptions.ProxyError) as failed:  # the URL names a port 40765
        requests.get("http://127.0.0.1:40765/drive/folders/x", proxies={"http": proxy}, timeout=10)
    assert describe(failed.value) == "the proxy refused the connection"


# -- a site's own certificate authority ------------------------------------------------------------------
_CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


@pytest.fixture
def tls_front(tmp_path: Path, mirror: MirrorServer) -> Iterator[tuple[str, Path]]:
    """``mirror`` behind TLS on 127.0.0.1 with a certificate of a certificate authority made here:
    (its https base URL, the authority's PEM file)."""
    import ssl

    ca, key, csr, cert, ext = (tmp_path / n for n in ("ca.pem", "srv.key", "srv.csr", "srv.pem", "ext.cnf"))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", tmp_path / "ca.key", "-out", ca,
             "-days", "2", "-subj", "/CN=Site CA")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", tmp_path / "ca.key", "-CAcreateserial", "-out", cert,
             "-days", "2", "-extfile", ext)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def handle(conn: socket.socket) -> None:
        try:
            tls = context.wrap_socket(conn, server_side=True)
        except OSError:
            conn.close()
            return
        with tls, socket.create_connection(("127.0.0.1", mirror.port)) as upstream:
            back = threading.Thread(target=_pump, args=(upstream, tls), daemon=True)
            back.start()
            _pump(tls, upstream)
            back.join(timeout=30)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}", ca
    finally:
        listener.close()


@pytest.mark.parametrize("name", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_a_sites_certificate_authority_in_any_one_variable_reaches_every_source(
        tmp_path: Path, world: World, tls_front: tuple[str, Path], name: str) -> None:
    """Before, requests read only REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE and the Hub library's httpx
    only SSL_CERT_FILE: with one of them set, the Hub or every other source failed its TLS check."""
    base, ca = tls_front
    catalog = world.write_catalog(base, tmp_path / "tls-catalog.toml")
    env = {k: v for k, v in os.environ.items() if k not in _CA_VARIABLES}
    env[name] = str(ca)
    proc = subprocess.run([sys.executable, "-m", "wizard", "run", "--catalog", str(catalog), "--root",
                           str(tmp_path / "root"), "--components", "json-sft,coco-train2017,sam-9k,wikiart",
                           "--yes", "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
