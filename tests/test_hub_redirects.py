"""Hub endpoints that redirect, end to end through the CLI's ``run`` and ``verify``.

The real Hub answers a resolve URL of an LFS file with a 302 to a CDN (a signed URL on another
host) carrying ``X-Linked-Size``, ``X-Linked-Etag`` (the sha256) and ``X-Repo-Commit``; and
hf-mirror.com now sends some resolve URLs on to huggingface.co (huggingface_hub #4637), which
does not help a user who cannot reach huggingface.co. Here a front server on 127.0.0.1 plays the
endpoint, the demo mirror plays the CDN (or the official Hub), and a closed port plays a host the
user cannot reach.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from helpers import LocalHTTPServer

from wizard.cli import main
from wizard.demo import MirrorServer, World
from wizard.demo.server import HUB_COMMIT, Fault
from wizard.engine.journal import read_status

_RESOLVE = re.compile(r"^/datasets/([^/]+)/([^/]+)/resolve/([^/]+)/([^?]+)")


class _Front(LocalHTTPServer):
    """A Hub endpoint that answers every resolve request with a redirect to ``target(path)``;
    ``linked`` adds the Hub's file headers (size, sha256, commit) as huggingface.co does."""

    def __init__(self, docroot: Path, target: Callable[[str, str, str], str], *, status: int = 302,
                 linked: bool = True) -> None:
        self.seen: list[tuple[str, str]] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer()

            def do_GET(self) -> None:
                self._answer()

            def _answer(self) -> None:
                front.seen.append((self.command, self.path))
                match = _RESOLVE.match(self.path)
                file = docroot.joinpath("hub", *match.groups()[:2], match.group(4)) if match else None
                if match is None or file is None or not file.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(status)
                self.send_header("Location", target(match.group(1), match.group(2), match.group(4)))
                if linked:
                    data = file.read_bytes()
                    self.send_header("X-Repo-Commit", HUB_COMMIT)
                    self.send_header("X-Linked-Size", str(len(data)))
                    self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)


@pytest.fixture
def front_factory() -> Iterator[Callable[..., _Front]]:
    made: list[_Front] = []

    def make(*args: Any, **kwargs: Any) -> _Front:
        made.append(_Front(*args, **kwargs))
        return made[-1]

    yield make
    for front in made:
        front.close()


@pytest.fixture(autouse=True)
def _quick_and_tokenless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    monkeypatch.setattr("wizard.engine.net.policy.backoff", lambda *args, **kwargs: 0.0)  # no waiting between retries


def _elsewhere(url: str) -> str:
    """``url`` on another host name for the same server: the CDN and huggingface.co are other hosts
    than the endpoint. (huggingface_hub follows a redirect to the same host itself: 2.0 compares host
    names, later versions origins, so two ports of 127.0.0.1 would be one host to 2.0.)"""
    return url.replace("//127.0.0.1:", "//localhost:", 1)


def _as_hub_host(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Make huggingface_hub take ``url``'s host for a Hub host, whose redirects it follows itself."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _http

    if hasattr(_http, "_HUB_ORIGINS"):  # huggingface_hub >= 2.1: origins
        monkeypatch.setattr(_http, "_HUB_ORIGINS", _http._HUB_ORIGINS | {_http._url_origin(url)})
    else:  # 2.0: host names
        monkeypatch.setattr(constants, "HF_URL_HOSTS", constants.HF_URL_HOSTS | {urlsplit(url).hostname})


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _said(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def _run(catalog: Path, root: Path, endpoint: str, components: str) -> int:
    return main(["run", "--catalog", str(catalog), "--root", str(root), "--hf-endpoint", endpoint,
                 "--components", components, "--yes"])


def test_hub_files_come_through_the_cdn_redirect_and_the_zip_is_read_there(
        world: World, mirror: MirrorServer, front_factory: Callable[..., _Front], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """As huggingface.co answers: 302 with the file's headers to a signed URL on a CDN host."""
    def cdn(ns: str, name: str, path: str) -> str:
        signed = "X-Amz-Expires=3600&X-Amz-Signature=0f&response-content-disposition=attachment"
        return _elsewhere(mirror.url(f"hub/{ns}/{name}/{path}")) + "?" + signed

    hub = front_factory(world.docroot, cdn)
    catalog = world.write_catalog(hub.url, tmp_path / "cat.toml")
    root = tmp_path / "root"
    assert _run(catalog, root, hub.url, "json-cap100k,llava-pretrain") == 0
    out = _said(capsys)
    assert "layout checked before downloading" in out  # the zip's directory was read on the CDN
    assert "redirects this file" not in out  # a CDN is no mirror sending the user elsewhere
    gets = [r for r in mirror.requests if r.method == "GET"]
    assert {r.path for r in gets} == {"/hub/Lin-Chen/ShareGPT4V/sharegpt4v_instruct_gpt4-vision_cap100k.json",
                                      "/hub/liuhaotian/LLaVA-Pretrain/images.zip"}
    assert all("X-Amz-Signature" in r.query for r in gets)
    status = {r.id: r.info for r in read_status(root) or []}
    assert status["json-cap100k"]["hub_commit"] == HUB_COMMIT
    cap100k = world.components["json-cap100k"].served[0]
    assert cap100k is not None
    assert status["json-cap100k"]["hub_sha256"] == cap100k.sha256
    assert (root / "sharegpt4v/sharegpt4v_instruct_gpt4-vision_cap100k.json").stat().st_size == cap100k.size
    llava = sorted(p.relative_to(root).as_posix() for p in (root / "llava").rglob("*.jpg"))
    assert llava and all(p.startswith("llava/llava_pretrain/images/") for p in llava)
    capsys.readouterr()
    assert main(["verify", "--root", str(root), "--json"]) == 1  # only two of the JSON's folders were asked for
    folders = json.loads(capsys.readouterr().out)["jsons"][0]["folders"]
    assert folders["llava"]["missing"] == 0 and folders["llava"]["present"] == len(llava)


def test_a_mirror_that_redirects_to_an_official_hub_says_so_and_the_file_comes(
        world: World, mirror: MirrorServer, front_factory: Callable[..., _Front], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """hf-mirror.com sending a resolve URL on to huggingface.co (here: the catalog's endpoint)."""
    official = mirror.base_url
    front = front_factory(world.docroot, lambda ns, name, path: f"{official}/datasets/{ns}/{name}/resolve/main/{path}",
                          status=307, linked=False)
    catalog = world.write_catalog(official, tmp_path / "cat.toml")
    root = tmp_path / "root"
    assert _run(catalog, root, front.url, "json-cap100k") == 0
    out = _said(capsys)
    assert f"the Hub endpoint {front.url.split('//')[1]} redirects this file to {official.split('//')[1]}" in out
    assert (root / "sharegpt4v/sharegpt4v_instruct_gpt4-vision_cap100k.json").is_file()


@pytest.mark.parametrize("hub_host", [False, True], ids=["download-follows", "library-follows"])
def test_a_mirror_that_redirects_to_a_host_that_cannot_be_reached_names_it(
        world: World, mirror: MirrorServer, front_factory: Callable[..., _Front], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, hub_host: bool) -> None:
    """The user cannot reach huggingface.co (a closed port here) and the mirror sends them there.
    huggingface_hub follows a redirect between Hub hosts itself (``library-follows``: the metadata
    request fails); to any other host it does not, and the download fails."""
    blocked = f"http://localhost:{_closed_port()}"
    if hub_host:
        _as_hub_host(monkeypatch, blocked)
    front = front_factory(world.docroot, lambda ns, name, path: f"{blocked}/datasets/{ns}/{name}/resolve/main/{path}",
                          status=307, linked=False)
    catalog = world.write_catalog(mirror.base_url, tmp_path / "cat.toml")
    assert _run(catalog, tmp_path / "root", front.url, "json-cap100k") == 1
    out = _said(capsys)
    failed = next(line for line in out.splitlines() if line.startswith("FAILED  json-cap100k"))
    hint = out[out.index(failed):].splitlines()[1]
    via, to = front.url.split("//")[1], blocked.split("//")[1]
    assert f"({via} sent the request on to {to}, which did not answer)" in failed
    assert ("[hub-metadata]" if hub_host else "[retries-exhausted]") in failed
    assert f"redirects this file to {to}" in hint and "--local" in hint
    assert not mirror.requests  # nothing reached the official host in between


def test_a_cdn_that_answers_503_is_not_called_unreachable(
        world: World, mirror: MirrorServer, front_factory: Callable[..., _Front], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The redirect target answered (503 each time): the message is the plain one, not 'did not answer'."""
    mirror.add_fault("/hub/", Fault(status=503, times=None))
    hub = front_factory(world.docroot, lambda ns, name, path: _elsewhere(mirror.url(f"hub/{ns}/{name}/{path}")))
    catalog = world.write_catalog(hub.url, tmp_path / "cat.toml")
    assert _run(catalog, tmp_path / "root", hub.url, "json-cap100k") == 1
    out = _said(capsys)
    failed = next(line for line in out.splitlines() if line.startswith("FAILED  json-cap100k"))
    assert "[retries-exhausted]" in failed and "503" in failed and "did not answer" not in failed
