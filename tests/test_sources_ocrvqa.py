"""OCR-VQA: dataset.json from the Drive folder, images from their URLs as <key>.jpg, dead links
reported (404s, timeouts), the annotation-driven subset, and resume image by image after kill -9."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from helpers import Recorder, fast_settings, make_ctx, settled_requests

from wizard.cli import main
from wizard.demo import MirrorServer, World
from wizard.demo.server import Fault
from wizard.demo.world import dumps_toml, jpeg_bytes
from wizard.engine.catalog import load_catalog
from wizard.engine.errors import Code, SetupError
from wizard.engine.journal import read_status
from wizard.engine.plan import build_plan
from wizard.engine.runner import Runner, RunResult
from wizard.engine.sources import kind_of, ocrvqa

OCR_FOLDER = "1_GYPY5UkUy7HIcR0zq3ZCFgeZN7BAfm_"
SFT_JSON = "sharegpt4v_mix665k_cap23k_coco-ap9k_lcs3k_sam9k_div2k.json"


def run(catalog: Path, root: Path, comps: list[str], **overrides: Any) -> tuple[RunResult, Recorder]:
    cat = load_catalog(catalog)
    settings = fast_settings(**overrides)
    root.mkdir(parents=True, exist_ok=True)
    rec = Recorder()
    return Runner(build_plan(root, cat, cat.resolve(None, comps), settings), cat, settings, rec).run(), rec


def image_gets(server: MirrorServer) -> list[str]:
    return [r.path for r in server.requests if r.method == "GET" and r.path.startswith("/amazon/")]


def missing_report(root: Path) -> dict[str, tuple[str, str]]:
    lines = (root / ".sharegpt4v-setup/reports/ocr-vqa-missing.tsv").read_text().splitlines()
    assert lines[0] == "key\turl\tstatus"
    return {k: (u, s) for k, u, s in (line.split("\t") for line in lines[1:])}


def test_dead_links_and_timeouts_are_reported_the_rest_saved_as_jpg(
        world: World, demo_catalog: Path, mirror: MirrorServer, tmp_path: Path) -> None:
    slow = "/amazon/images/I/51rkQ7dG2WL.jpg"  # key 1885167768
    mirror.add_fault(slow, Fault(delay=5.0, times=None))
    root = tmp_path / "root"
    result, rec = run(demo_catalog, root, ["ocr-vqa"], read_timeout=0.3, ocr_retries=1)
    assert result.ok and result.done == ["ocr-vqa"]
    images = root / "ocr_vqa/images"
    alive = {k for k, rel in world.ocr_images.items() if rel} - {"1885167768"}
    assert {p.name for p in images.iterdir()} == {f"{k}.jpg" for k in alive}
    assert (images / "439139651.jpg").read_bytes().startswith(b"GIF89a")  # a GIF behind a .jpg URL
    assert (images / "1402779925.jpg").read_bytes().startswith(b"\x89PNG")  # a .png URL, saved as .jpg
    assert (images / "761183272.jpg").read_bytes() == (world.docroot / world.ocr_images["761183272"]).read_bytes()
    report = missing_report(root)
    assert {k: s for k, (_u, s) in report.items()} == {"871132753": "404", "1580084184": "404",
                                                       "1885167768": "timeout", "1590302842": "placeholder"}
    assert not (images / "1590302842.jpg").exists()  # a 200 with a 1x1 GIF is not an image
    assert report["871132753"][0].endswith("/amazon/images/I/51QXa2Ph8sL.jpg")
    logs = rec.logs()
    assert any("4 of 9 images could not be fetched" in t for t in logs)
    assert any("2 saved images are GIF/PNG content" in t for t in logs)
    info = (read_status(root) or [])[0].info
    assert info["ocr_dead"] == 4 and info["ocr_saved"] == 5 and info["ocr_not_jpeg"] == 2
    assert not (root / ".sharegpt4v-setup/downloads/ocr-vqa-dataset.json").exists()
    assert (root / ".sharegpt4v-setup/downloads").is_dir() and not (root / "ocr_vqa/images/.tmp").exists()


def _write_json(root: Path, images: list[str | None]) -> None:
    records = [{"id": str(n), **({"image": img} if img else {}), "conversations": []} for n, img in enumerate(images)]
    (root / "sharegpt4v").mkdir(parents=True, exist_ok=True)
    (root / "sharegpt4v" / SFT_JSON).write_text(json.dumps(records))


def test_only_the_images_the_annotation_jsons_reference(world: World, demo_catalog: Path, mirror: MirrorServer,
                                                       tmp_path: Path) -> None:
    root = tmp_path / "root"
    _write_json(root, ["ocr_vqa/images/761183272.jpg", "./ocr_vqa/images/439139651.jpg", None,
                       "coco/train2017/000000000009.jpg"])
    result, rec = run(demo_catalog, root, ["ocr-vqa"])
    assert result.ok
    assert {p.name for p in (root / "ocr_vqa/images").iterdir()} == {"761183272.jpg", "439139651.jpg"}
    assert sorted(image_gets(mirror)) == ["/amazon/images/I/61EwKc6OoJL.jpg", "/amazon/images/I/61Y5cOdHJbL.jpg"]
    assert any("reference 2 of the 9 images" in t for t in rec.logs())
    assert not (root / ".sharegpt4v-setup/reports/ocr-vqa-missing.tsv").exists()


def test_the_json_of_the_same_run_decides(world: World, demo_catalog: Path, mirror: MirrorServer,
                                          tmp_path: Path) -> None:
    mirror.add_fault(f"/datasets/Lin-Chen/ShareGPT4V/resolve/main/{SFT_JSON}", Fault(delay=0.5, times=1))
    root = tmp_path / "root"
    result, _ = run(demo_catalog, root, ["json-sft", "ocr-vqa"], hf_endpoint=mirror.base_url, concurrency=2)
    assert result.ok, result.failed
    dead_urls = {f"/amazon/images/I/{u}.jpg" for u in ("51QXa2Ph8sL", "41MZk0sH0QL")}
    assert not dead_urls & set(image_gets(mirror))  # json-sft references only live images
    assert {p.name for p in (root / "ocr_vqa/images").iterdir()} == {
        Path(p).name for p in world.references["json-sft"] if p.startswith("ocr_vqa/")}


def test_ocr_vqa_fetches_the_subset_it_is_given(world: World, demo_catalog: Path, mirror: MirrorServer,
                                                 tmp_path: Path) -> None:
    """The runner hands OCR-VQA the images the run's JSONs reference (``only``): no journal polling,
    even while an annotation job of the run is still recorded as downloading."""
    catalog = load_catalog(demo_catalog)
    comp = catalog.component("ocr-vqa")
    ctx, _rec = make_ctx(tmp_path / "root", job="ocr-vqa")
    ctx.journal.record_run({"components": ["json-sft", "ocr-vqa"]})
    ctx.journal.set_stage("json-sft", "downloading")
    assert list(kind_of("ocrvqa").fetch(ctx, comp, comp.sources[0], catalog, only={"1569900396.jpg"})) == []
    assert {p.name for p in (ctx.root / "ocr_vqa/images").iterdir()} == {"1569900396.jpg"}
    assert len(image_gets(mirror)) == 1


def test_without_a_subset_an_unfinished_json_parks_ocr_vqa(demo_catalog: Path, mirror: MirrorServer,
                                                            tmp_path: Path) -> None:
    catalog = load_catalog(demo_catalog)
    comp = catalog.component("ocr-vqa")
    ctx, _rec = make_ctx(tmp_path / "root", job="ocr-vqa")
    ctx.journal.record_run({"components": ["json-sft", "ocr-vqa"]})
    ctx.journal.set_stage("json-sft", "downloading")
    with pytest.raises(SetupError) as caught:
        list(ocrvqa.fetch(ctx, comp, comp.sources[0], catalog))
    assert caught.value.problem.parked and "OCR-VQA waits for json-sft" in caught.value.problem.message
    assert image_gets(mirror) == []


def test_a_json_that_fails_in_the_same_run_parks_ocr_vqa(demo_catalog: Path, mirror: MirrorServer,
                                                          tmp_path: Path) -> None:
    mirror.add_fault(f"/datasets/Lin-Chen/ShareGPT4V/resolve/main/{SFT_JSON}", Fault(status=404, times=None))
    result, _ = run(demo_catalog, tmp_path / "root", ["json-sft", "ocr-vqa"], hf_endpoint=mirror.base_url)
    assert result.failed["json-sft"].code == Code.HUB_METADATA
    problem = result.waiting["ocr-vqa"]
    assert problem.parked and "OCR-VQA waits for json-sft" in problem.message
    assert image_gets(mirror) == []  # not all 207K "just in case"


def test_tiny_placeholders_are_dead_links_with_their_reason(tmp_path: Path) -> None:
    """A 200 answer under 100 bytes, or any 1x1 GIF, is the host's placeholder: not saved."""
    docroot, keys = _ocr_world(tmp_path, 3)
    one_by_one = b"GIF89a\x01\x00\x01\x00" + bytes(2000)  # big, but still a 1x1 GIF
    (docroot / f"amazon/images/I/{keys[0]}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(60))  # a 64-byte "JPEG"
    (docroot / f"amazon/images/I/{keys[1]}.jpg").write_bytes(one_by_one)
    with MirrorServer(docroot) as server:
        _bind(docroot, keys, server.base_url)
        root = tmp_path / "root"
        result, _ = run(_ocr_catalog(tmp_path, server.base_url), root, ["ocr-vqa"])
    assert result.ok
    assert {p.name for p in (root / "ocr_vqa/images").iterdir()} == {f"{keys[2]}.jpg"}
    assert {k: s for k, (_u, s) in missing_report(root).items()} == {keys[0]: "placeholder", keys[1]: "placeholder"}


def test_resume_fetches_only_what_is_missing(world: World, demo_catalog: Path, mirror: MirrorServer,
                                             tmp_path: Path) -> None:
    catalog = load_catalog(demo_catalog)
    comp = catalog.component("ocr-vqa")
    ctx, _ = make_ctx(tmp_path / "root", job="ocr-vqa")
    assert list(ocrvqa.fetch(ctx, comp, comp.sources[0], catalog)) == []
    first = len(image_gets(mirror))
    assert first == 9
    assert ctx.journal.items_counts("ocr-vqa") == {"saved": 6, "dead": 3}
    (ctx.root / "ocr_vqa/images/60930691.jpg").unlink()
    mirror.clear_requests()
    list(ocrvqa.fetch(ctx, comp, comp.sources[0], catalog))
    assert image_gets(mirror) == ["/amazon/images/I/41NbtkpDq0L.jpg"]  # nothing else, not the dead ones
    assert not any(r.path.endswith("dataset.json") for r in mirror.requests)  # the list was kept


# -- a private world with many images ---------------------------------------------------------
def _ocr_world(tmp_path: Path, count: int, image_base: str | None = None) -> tuple[Path, list[str]]:
    docroot = tmp_path / "doc"
    folder = docroot / "drive/folders" / OCR_FOLDER
    folder.mkdir(parents=True)
    keys = [f"{100000000 + n * 7919}" for n in range(count)]
    for key in keys:
        (docroot / "amazon/images/I").mkdir(parents=True, exist_ok=True)
        (docroot / f"amazon/images/I/{key}.jpg").write_bytes(jpeg_bytes(f"ocr/{key}"))
    (folder / "base.txt").write_text(image_base or "")
    return docroot, keys


def _bind(docroot: Path, keys: list[str], base: str) -> None:
    data = {k: {"imageURL": f"{base}/amazon/images/I/{k}.jpg", "questions": [], "answers": [], "split": 1}
            for k in keys}
    (docroot / "drive/folders" / OCR_FOLDER / "dataset.json").write_text(json.dumps(data))


def _ocr_catalog(tmp_path: Path, base: str) -> Path:
    from wizard.paths import default_catalog_path

    raw = tomllib.loads(default_catalog_path().read_text())
    raw["component"] = [c for c in raw["component"] if c["id"] == "ocr-vqa"]
    raw["preset"] = []
    raw["drive"] = {"file_url": base + "/drive/{id}", "folder_url": base + "/drive/folders/{id}"}
    path = tmp_path / "ocr.toml"
    path.write_text(dumps_toml(raw))
    return path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_network_down_is_not_a_pile_of_dead_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocrvqa, "BREAKER", 5)
    docroot, keys = _ocr_world(tmp_path, 30)
    _bind(docroot, keys, f"http://127.0.0.1:{_closed_port()}")
    with MirrorServer(docroot) as srv:
        catalog = load_catalog(_ocr_catalog(tmp_path, srv.base_url))
        comp = catalog.component("ocr-vqa")
        ctx, _ = make_ctx(tmp_path / "root", fast_settings(ocr_retries=0, ocr_workers=2), job="ocr-vqa")
        with pytest.raises(SetupError) as caught:
            list(ocrvqa.fetch(ctx, comp, comp.sources[0], catalog))
    assert caught.value.problem.code == Code.NETWORK and "in a row got no answer" in caught.value.problem.message
    counts = ctx.journal.items_counts("ocr-vqa")
    assert counts.get("todo", 0) >= 25 and counts.get("saved", 0) == 0  # kept to do, not written off


def test_a_sign_in_page_answering_every_image_is_not_a_pile_of_dead_links(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocrvqa, "BREAKER", 5)
    docroot, keys = _ocr_world(tmp_path, 30)
    portal = (b"<!DOCTYPE html><html><head><title>Guest Wi-Fi</title></head><body>"
              + b"<p>Accept the terms of use to continue.</p>" * 20 + b"</body></html>")
    with MirrorServer(docroot) as srv:
        _bind(docroot, keys, srv.base_url)
        srv.add_fault("/amazon/", Fault(status=200, body=portal, content_type="text/html", times=None))
        catalog = load_catalog(_ocr_catalog(tmp_path, srv.base_url))
        comp = catalog.component("ocr-vqa")
        ctx, _ = make_ctx(tmp_path / "root", fast_settings(ocr_retries=0, ocr_workers=2), job="ocr-vqa")
        with pytest.raises(SetupError) as caught:
            list(ocrvqa.fetch(ctx, comp, comp.sources[0], catalog))
        problem = caught.value.problem
        assert problem.code == Code.NETWORK and "web page" in problem.message and "sign in" in problem.hint
        counts = ctx.journal.items_counts("ocr-vqa")
        assert counts.get("todo", 0) >= 25 and counts.get("dead", 0) == 0  # kept to do, not written off
        srv.clear_faults()  # signed in: the next run fetches them
        list(ocrvqa.fetch(ctx, comp, comp.sources[0], catalog))
        assert ctx.journal.items_counts("ocr-vqa").get("saved", 0) == len(keys)


@pytest.mark.slow
def test_kill_9_during_the_image_batch_then_rerun_continues(tmp_path: Path) -> None:
    docroot, keys = _ocr_world(tmp_path, 160)
    root = tmp_path / "root"
    images = root / "ocr_vqa/images"
    with MirrorServer(docroot) as srv:
        _bind(docroot, keys, srv.base_url)
        cat = _ocr_catalog(tmp_path, srv.base_url)
        srv.add_fault("/amazon/", Fault(delay=0.05, times=None))
        proc = subprocess.Popen([sys.executable, "-m", "wizard", "run", "--catalog", str(cat), "--root", str(root),
                                 "--components", "ocr-vqa", "--yes", "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not images.is_dir() or len(os.listdir(images)) < 24:
            assert proc.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        before = {p.name: p.stat().st_ino for p in images.iterdir()}
        assert 24 <= len(before) < len(keys)
        srv.clear_faults()
        srv.clear_requests()
        assert main(["run", "--catalog", str(cat), "--root", str(root), "--components", "ocr-vqa",
                     "--yes", "--quiet"]) == 0
        settled_requests(srv, len(keys) - len(before))
        fetched = {Path(p).stem for p in image_gets(srv)}
    assert not fetched & {Path(n).stem for n in before}  # images saved before the kill are not fetched again
    after = {p.name: p.stat().st_ino for p in images.iterdir()}
    assert set(after) == {f"{k}.jpg" for k in keys}
    assert all(after[n] == ino for n, ino in before.items())
    assert not (root / ".sharegpt4v-setup/reports/ocr-vqa-missing.tsv").exists()
