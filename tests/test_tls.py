"""Every real upstream but COCO answers over https: the whole SFT selection over TLS, end to end
through the CLI, with a private CA named the way the app documents (``REQUESTS_CA_BUNDLE``, as
behind a TLS-inspecting proxy or with a private mirror): requests (http sources, remote zip
directories, the Drive mirror), the Hub library's httpx client (metadata) and the keep-alive
client (OCR-VQA's images) must all trust it."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path, PurePosixPath
from typing import Any

import certifi
import huggingface_hub
import pytest
from helpers import LocalHTTPServer

from wizard.cli import main
from wizard.demo import MirrorServer, World
from wizard.demo.world import dumps_toml

# A self-signed certificate for localhost and 127.0.0.1, valid 2000-2100 (made with openssl ca).
CERT = """-----BEGIN CERTIFICATE-----
MIIBrzCCAVWgAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv
c3QwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBQxEjAQBgNVBAMM
CWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKdAEzMaGgXo+lmt
aZN8TjABxF/w0Jkqa0acQN3fsVW9I6so/UT1ajDWeM9fxmd2llJDMmSjsCLOTDqT
JEcRym+jgZUwgZIwGgYDVR0RBBMwEYIJbG9jYWxob3N0hwR/AAABMA8GA1UdEwEB
/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgKEMBMGA1UdJQQMMAoGCCsGAQUFBwMBMB0G
A1UdDgQWBBSBB3Olr8egZGHFxz71mDjX8X00FDAfBgNVHSMEGDAWgBSBB3Olr8eg
ZGHFxz71mDjX8X00FDAKBggqhkjOPQQDAgNIADBFAiEA8i3rDZLeNmB+gcW/Pr+c
awUv6KCdGHXWPAV/tMZJhhcCIG/VOAFD05BrCp8KMYs6iufxnSkzQWdm7RSskHYL
RyYL
-----END CERTIFICATE-----
"""
KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgzQJEScMDgJpDCrNo
5T7es9et6I2PKsIvC43+WF83q0OhRANCAASnQBMzGhoF6PpZrWmTfE4wAcRf8NCZ
KmtGnEDd37FVvSOrKP1E9Wow1njPX8ZndpZSQzJko7Aizkw6kyRHEcpv
-----END PRIVATE KEY-----
"""


@pytest.fixture
def https_mirror(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MirrorServer]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(CERT)
    key.write_text(KEY)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())  # many systems point it at their default bundle
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    monkeypatch.setattr("wizard.engine.net.policy.backoff", lambda *args, **kwargs: 0.0)
    huggingface_hub.close_session()  # the library's client is made again, reading the CA now
    with MirrorServer(world.docroot, tls=context) as server:
        yield server
    huggingface_hub.close_session()


def test_the_sft_selection_over_https_with_a_private_ca(
        world: World, https_mirror: MirrorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert https_mirror.base_url.startswith("https://")
    catalog = world.write_catalog(https_mirror.base_url, tmp_path / "cat.toml")  # every URL is https
    root = tmp_path / "root"
    code = main(["run", "--catalog", str(catalog), "--root", str(root), "--preset", "sft", "--yes"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert "layout checked before downloading" in captured.out + captured.err  # a zip's directory, by Range
    assert main(["verify", "--root", str(root)]) == 0, capsys.readouterr().out
    hub = [r for r in https_mirror.requests if r.path.startswith("/datasets/")]
    ocr = [r for r in https_mirror.requests if r.path.startswith("/amazon/")]
    assert any(r.method == "HEAD" for r in hub) and ocr  # the Hub library and the image client both came


def test_a_certificate_this_machine_does_not_trust_is_named_with_what_to_do(
        world: World, https_mirror: MirrorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same servers without their CA: a TLS-inspecting proxy nobody told the machine about."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    catalog = world.write_catalog(https_mirror.base_url, tmp_path / "cat.toml")
    code = main(["run", "--catalog", str(catalog), "--root", str(tmp_path / "root"), "--components",
                 "json-sft,coco-train2017,web-celebrity", "--yes"])
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert code == 1
    lines = out.splitlines()
    failed = [(line, lines[i + 1]) for i, line in enumerate(lines) if line.startswith("FAILED  ")]
    assert {line.split(":")[0] for line, _ in failed} == {"FAILED  json-sft", "FAILED  coco-train2017",
                                                           "FAILED  web-celebrity"}
    for line, hint in failed:
        assert "TLS certificate is not trusted (self-signed certificate)" in line, line
        assert "REQUESTS_CA_BUNDLE" in hint and "run again later" not in hint, hint


def test_amazons_http_image_urls_moved_to_https_are_followed(
        world: World, https_mirror: MirrorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """OCR-VQA's dataset.json names http://ecx.images-amazon.com/...; Amazon answers 301 to an https
    host today. The keep-alive client follows it onto TLS, keeping each connection."""
    moved = _Moved(https_mirror.base_url)
    try:
        data = world.catalog_data(https_mirror.base_url)
        world.bind(moved.url)  # the image URLs name the plain-http host
        assert world.ocr_dataset is not None
        ocr = next(c for c in data["component"] if c["id"] == "ocr-vqa")
        ocr["source"][0].update(size=world.ocr_dataset.size, sha256=world.ocr_dataset.sha256)
        catalog = tmp_path / "cat.toml"
        catalog.write_text(dumps_toml(data), encoding="utf-8")
        root = tmp_path / "root"
        code = main(["run", "--catalog", str(catalog), "--root", str(root), "--components", "json-sft,ocr-vqa",
                     "--yes"])
        captured = capsys.readouterr()
        assert code == 0, captured.out + captured.err
    finally:
        moved.close()
        world.bind(https_mirror.base_url)
    assert moved.seen and all(path.startswith("/amazon/") for path in moved.seen)
    fetched = {r.path for r in https_mirror.requests if r.path.startswith("/amazon/")}
    assert fetched == set(moved.seen)
    saved = {p.name for p in (root / "ocr_vqa/images").iterdir()}
    assert saved and saved <= {PurePosixPath(p).name for p in world.expected_tree(["ocr-vqa"])}


class _Moved(LocalHTTPServer):
    """A plain-http host that answers every GET with 301 to the same path on ``target``."""

    def __init__(self, target: str) -> None:
        self.seen: list[str] = []
        moved = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                moved.seen.append(self.path)
                self.send_response(301)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)
