"""Hub files: pinned to the commit the Hub names, sha256 from X-Linked-Etag when the catalog has
none (recorded in the journal), the saved token used, the token sent only where the user chose,
and a gated repo's own explanation shown with a hint. Every server is a 127.0.0.1 mirror that
records the Authorization header it receives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import Recorder, fast_settings

from wizard.demo import MirrorServer, World
from wizard.demo.server import HUB_COMMIT, Fault
from wizard.demo.world import dumps_toml
from wizard.engine.catalog import load_catalog
from wizard.engine.context import Settings
from wizard.engine.errors import Code
from wizard.engine.journal import read_status
from wizard.engine.plan import build_plan
from wizard.engine.runner import Runner, RunResult
from wizard.engine.sources import hub

JSON_PATH = "/datasets/Lin-Chen/ShareGPT4V/resolve/"


def run(catalog: Path, root: Path, **overrides: Any) -> tuple[RunResult, Recorder]:
    cat = load_catalog(catalog)
    settings = fast_settings(min_free_bytes=0, **overrides)
    root.mkdir(parents=True, exist_ok=True)
    rec = Recorder()
    plan = build_plan(root, cat, cat.resolve(None, ["json-cap100k"]), settings)
    return Runner(plan, cat, settings, rec).run(), rec


def hub_requests(mirror: MirrorServer) -> list[Any]:
    return [r for r in mirror.requests if r.path.startswith(JSON_PATH)]


def info(root: Path) -> dict[str, Any]:
    return next(r.info for r in read_status(root) or [] if r.id == "json-cap100k")


@pytest.fixture(autouse=True)
def _no_saved_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)


def test_a_catalogs_own_endpoint_gets_no_token(demo_catalog: Path, mirror: MirrorServer, tmp_path: Path) -> None:
    result, rec = run(demo_catalog, tmp_path / "root", hf_token="hf_secret")
    assert result.ok, result.failed
    reqs = hub_requests(mirror)
    assert reqs and all("Authorization" not in r.headers for r in reqs)
    assert any("not sending the Hugging Face token" in t and "--hf-endpoint" in t for t in rec.logs())


def test_an_endpoint_the_user_names_gets_the_token(demo_catalog: Path, mirror: MirrorServer,
                                                   tmp_path: Path) -> None:
    result, _ = run(demo_catalog, tmp_path / "root", hf_token="hf_secret", hf_endpoint=mirror.base_url)
    assert result.ok, result.failed
    reqs = hub_requests(mirror)
    assert reqs and all(r.headers.get("Authorization") == "Bearer hf_secret" for r in reqs)


def test_the_saved_token_is_used_and_hf_endpoint_env_counts_as_chosen(
        demo_catalog: Path, mirror: MirrorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("huggingface_hub.get_token", lambda: "hf_saved")
    monkeypatch.setenv("HF_ENDPOINT", mirror.base_url)
    result, _ = run(demo_catalog, tmp_path / "root")
    assert result.ok, result.failed
    assert all(r.headers.get("Authorization") == "Bearer hf_saved" for r in hub_requests(mirror))


@pytest.mark.parametrize(("chosen", "endpoint", "allowed"), [
    (None, "https://huggingface.co", True),
    (None, "https://huggingface.co/", True),
    (None, "https://hf-mirror.com", False),  # from a catalog: not chosen by the user
    ("https://hf-mirror.com", "https://hf-mirror.com", True),
    ("http://mirror.example", "http://mirror.example", False),  # chosen, but clear text
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080", True),  # loopback may be http
    ("http://localhost:8080", "http://localhost:8080", True),
    ("http://[::1]:8080", "http://[::1]:8080", True),
])
def test_token_trust_rules(chosen: str | None, endpoint: str, allowed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(hf_token="hf_x", hf_endpoint=chosen)
    assert (hub.token_for(settings, endpoint) == "hf_x") is allowed
    assert (hub.token_refusal(settings, endpoint) is None) is allowed


def test_files_are_fetched_from_the_commit_the_hub_names_and_it_is_recorded(
        demo_catalog: Path, mirror: MirrorServer, tmp_path: Path) -> None:
    result, rec = run(demo_catalog, tmp_path / "root")
    assert result.ok, result.failed
    heads = [r for r in hub_requests(mirror) if r.method == "HEAD"]
    gets = [r for r in hub_requests(mirror) if r.method == "GET"]
    assert heads and all("/resolve/main/" in r.path for r in heads)  # the catalog names a branch
    assert gets and all(f"/resolve/{HUB_COMMIT}/" in r.path for r in gets)  # the bytes come from the commit
    assert info(tmp_path / "root")["hub_commit"] == HUB_COMMIT
    assert any(f"is commit {HUB_COMMIT[:12]}" in t for t in rec.logs())


def _catalog_without_sha(world: World, mirror: MirrorServer, path: Path) -> tuple[Path, str]:
    data = world.catalog_data(mirror.base_url)
    comp = next(c for c in data["component"] if c["id"] == "json-cap100k")
    expected = str(comp["source"][0].pop("sha256"))
    path.write_text(dumps_toml(data), encoding="utf-8")
    return path, expected


def test_sha256_from_x_linked_etag_is_checked_and_recorded(world: World, mirror: MirrorServer,
                                                           tmp_path: Path) -> None:
    catalog, expected = _catalog_without_sha(world, mirror, tmp_path / "cat.toml")
    assert load_catalog(catalog).component("json-cap100k").sources[0].sha256 is None
    result, _ = run(catalog, tmp_path / "root")
    assert result.ok, result.failed
    assert info(tmp_path / "root")["hub_sha256"] == expected

    # A Hub that names another sha256 than the bytes it sends: the bytes are not placed.
    mirror.add_fault(JSON_PATH, Fault(etag='"' + "0" * 64 + '"', methods=("HEAD",)))
    result, _ = run(catalog, tmp_path / "other")
    assert result.failed["json-cap100k"].code == Code.CHECKSUM_MISMATCH
    assert not (tmp_path / "other/sharegpt4v").exists()


def test_an_endpoint_with_a_path_says_404_and_what_to_check(demo_catalog: Path, mirror: MirrorServer,
                                                            tmp_path: Path) -> None:
    """HF_ENDPOINT=https://mirror/hub (a path too many): before, the message was httpx's
    "For more information check: https://developer.mozilla.org/…/404" and the hint "check the network"."""
    result, _ = run(demo_catalog, tmp_path / "root", hf_endpoint=mirror.base_url + "/hub")
    problem = result.failed["json-cap100k"]
    assert problem.code == Code.HUB_METADATA
    assert "developer.mozilla.org" not in problem.message and "404" in problem.message
    assert "root URL" in problem.hint and "HF_ENDPOINT" in problem.hint


@pytest.mark.parametrize(("given", "sent"), [("hf_abcdefghijk ", "Bearer hf_abcdefghijk"),
                                             ("hf_abcdefghijk\r", "Bearer hf_abcdefghijk"), (" ", None)])
def test_a_token_with_a_line_end_or_spaces_around_is_sent_without_them(
        demo_catalog: Path, mirror: MirrorServer, tmp_path: Path, given: str, sent: str | None) -> None:
    """``export HF_TOKEN=$(cat token.txt)`` of a Windows file keeps its CR: before, every request
    failed locally (LocalProtocolError), was retried as a network failure, and the job ended in
    "connection problem"."""
    result, _ = run(demo_catalog, tmp_path / "root", hf_endpoint=mirror.base_url, hf_token=given)
    assert result.done == ["json-cap100k"], result.failed
    assert {r.headers.get("Authorization") for r in hub_requests(mirror)} == {sent}


def test_a_token_no_request_can_carry_is_said_at_once(demo_catalog: Path, mirror: MirrorServer,
                                                      tmp_path: Path) -> None:
    result, _ = run(demo_catalog, tmp_path / "root", hf_endpoint=mirror.base_url, hf_token="hf_abc def\u00e4")
    problem = result.failed["json-cap100k"]
    assert problem.code == Code.HUB_METADATA and "no request can carry" in problem.message
    assert "hf_abc" not in problem.message + problem.hint  # never the token itself
    assert not hub_requests(mirror)


def test_a_gated_repo_shows_the_servers_explanation_and_a_hint(demo_catalog: Path, mirror: MirrorServer,
                                                               tmp_path: Path) -> None:
    why = ("Access to dataset Lin-Chen/ShareGPT4V is restricted. You must have access to it and be "
           "authenticated to access it. Please log in.")
    mirror.add_fault(JSON_PATH, Fault(status=401, times=None,
                                      headers={"X-Error-Code": "GatedRepo", "X-Error-Message": why}))
    result, _ = run(demo_catalog, tmp_path / "root")
    problem = result.failed["json-cap100k"]
    assert problem.code == Code.HUB_METADATA
    assert "HTTP 401" in problem.message and "is restricted" in problem.message
    assert "Accept the terms on https://huggingface.co/datasets/Lin-Chen/ShareGPT4V" in problem.hint
    assert "hf auth login" in problem.hint


def test_a_cancel_ends_a_hub_metadata_request_still_waiting_for_its_answer(tmp_path: Path) -> None:
    """The Hub's metadata request goes through huggingface_hub's own httpx client, which the
    run's cancel hook cannot shut: a Stop (and the wizard's Quit) waited for its timeout (17.6 s
    measured). Now a cancel ends the wait at once. The server holds the request for as long as
    the test runs, with a timeout of an hour: the run can only end by the cancel. (The joins
    below only keep a broken build from hanging.)"""
    import threading

    from helpers import SilentServer, wait_for

    from wizard.engine.control import Control

    silent = SilentServer()
    port, held = silent.port, silent.held
    catalog = load_catalog()
    settings = fast_settings(min_free_bytes=0, hf_endpoint=f"http://127.0.0.1:{port}",
                             connect_timeout=3600.0, read_timeout=3600.0)
    root = tmp_path / "root"
    root.mkdir()
    control = Control()
    runner = Runner(build_plan(root, catalog, catalog.resolve(None, ["json-sft"]), settings), catalog,
                    settings, Recorder(), control)
    results: list[RunResult] = []
    worker = threading.Thread(target=lambda: results.append(runner.run()))
    try:
        worker.start()
        wait_for(lambda: bool(held))  # the metadata request is in; its answer never comes
        control.cancel()
        worker.join(60)
        assert not worker.is_alive(), "the cancel waited for the metadata request's timeout"
        assert results and results[0].cancelled
        assert len(held) == 1  # the answer never came: the run ended by the cancel alone
    finally:
        silent.close()
        worker.join(60)
