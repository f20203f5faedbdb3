"""Layout probes: a zip's central directory is read with one or two range requests before the
download; the catalog's prefix is checked, another single prefix is adopted (log, journal,
finish summary), anything else fails before a byte of the archive is fetched. Servers without
Range are checked after the download."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from helpers import Recorder, fast_settings

from wizard.demo import MirrorServer, World
from wizard.demo.server import Fault
from wizard.demo.session import tree_of
from wizard.demo.world import dumps_toml
from wizard.engine.catalog import Layout, load_catalog
from wizard.engine.errors import Code, SetupError
from wizard.engine.events import JobDone
from wizard.engine.journal import read_status
from wizard.engine.layoutprobe import check_layout, remote_names
from wizard.engine.plan import build_plan
from wizard.engine.runner import Runner, RunResult

TEXTVQA = "/dl.fbaipublicfiles.com/textvqa/images/train_val_images.zip"


def run(catalog: Path, root: Path, comps: list[str], **overrides: Any) -> tuple[RunResult, Recorder]:
    cat = load_catalog(catalog)
    settings = fast_settings(min_free_bytes=0, **overrides)
    root.mkdir(parents=True, exist_ok=True)
    rec = Recorder()
    return Runner(build_plan(root, cat, cat.resolve(None, comps), settings), cat, settings, rec).run(), rec


def gets(mirror: MirrorServer, path: str) -> list[Any]:
    return [r for r in mirror.requests if r.method == "GET" and r.path == path]


@pytest.mark.parametrize(("names", "strip", "expected"), [
    (["train_images/a.jpg"], "train_images/", None),  # as the catalog says
    (["train_val_images/", "train_val_images/train_images/a.jpg", "train_val_images/train_images/b.jpg"],
     "train_images/", "train_val_images/train_images/"),
    (["data/wikiart/images/a.jpg"], "data/wikiart/images/", None),
])
def test_check_layout_keeps_or_adapts(names: list[str], strip: str, expected: str | None) -> None:
    verdict = check_layout(names, Layout(strip=strip), "x.zip")
    assert verdict.adapted is (expected is not None)
    assert verdict.layout.strip == (expected or strip)


@pytest.mark.parametrize("names", [
    ["val_images/a.jpg", "test_images/b.jpg"],  # nothing under train_images/
    ["a/train_images/1.jpg", "b/train_images/2.jpg"],  # two candidate prefixes: ambiguous
])
def test_check_layout_fails_listing_the_members(names: list[str]) -> None:
    with pytest.raises(SetupError) as caught:
        check_layout(names, Layout(strip="train_images/"), "x.zip")
    assert caught.value.problem.code == Code.LAYOUT_INCOMPLETE
    assert names[0] in caught.value.problem.message


def test_remote_names_take_one_request_or_two_for_a_big_directory(tmp_path: Path) -> None:
    docroot = tmp_path / "doc"
    docroot.mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n in range(400):
            zf.writestr(f"train_images/{n:06d}_{'x' * 40}.jpg", b"j" * 20_000)  # 8 MB in all
    (docroot / "a.zip").write_bytes(buf.getvalue())
    with MirrorServer(docroot) as server:
        import requests

        with requests.Session() as session:
            names, count = remote_names(session, server.url("a.zip"), {})
            assert len(names) == 400 and count == 1
            assert sum(r.sent for r in server.requests) == 1 << 20  # the tail only, of 8 MB
            server.clear_requests()
            names, count = remote_names(session, server.url("a.zip"), {}, tail=4096)  # directory ~30 KB
            assert len(names) == 400 and count == 2
            assert sum(r.sent for r in server.requests) < 64 * 1024
        assert all(r.headers["Range"].startswith("bytes=") for r in server.requests)


def test_textvqa_under_another_prefix_is_adapted_before_downloading(world: World, demo_catalog: Path,
                                                                    mirror: MirrorServer, tmp_path: Path) -> None:
    root = tmp_path / "root"
    result, rec = run(demo_catalog, root, ["textvqa"])
    assert result.ok, result.failed
    assert tree_of(root) == world.expected_tree(["textvqa"])
    first, *rest = gets(mirror, TEXTVQA)
    assert first.headers["Range"].startswith("bytes=-") and first.status == 206  # the probe came first
    assert rest and "Range" not in rest[0].headers
    assert any("its files are under 'train_val_images/train_images/', not 'train_images/'" in t
               for t in rec.logs())
    done = [e for e in rec.of(JobDone) if e.job == "textvqa"]
    assert "layout adapted: files under 'train_val_images/train_images/'" in done[0].detail
    info = next(r.info for r in read_status(root) or [] if r.id == "textvqa")
    assert info["layout_strip"] == {"from": "train_images/", "to": "train_val_images/train_images/"}


def test_a_zip_with_an_unknown_layout_fails_before_the_download(world: World, mirror: MirrorServer,
                                                                tmp_path: Path) -> None:
    data = world.catalog_data(mirror.base_url)
    comp = next(c for c in data["component"] if c["id"] == "textvqa")
    comp["layout"]["strip"] = "test_images/"
    catalog = tmp_path / "cat.toml"
    catalog.write_text(dumps_toml(data), encoding="utf-8")
    result, _ = run(catalog, tmp_path / "root", ["textvqa"])
    problem = result.failed["textvqa"]
    assert problem.code == Code.LAYOUT_INCOMPLETE
    assert "train_val_images/train_images/0000599864fd15b3.jpg" in problem.message
    assert all("Range" in r.headers for r in gets(mirror, TEXTVQA))  # the 7 GB body was never asked for


def test_without_range_the_check_happens_after_the_download(world: World, demo_catalog: Path,
                                                            mirror: MirrorServer, tmp_path: Path) -> None:
    mirror.add_fault(TEXTVQA, Fault(ignore_range=True, times=None))
    root = tmp_path / "root"
    result, rec = run(demo_catalog, root, ["textvqa"], segments=1)
    assert result.ok, result.failed
    assert tree_of(root) == world.expected_tree(["textvqa"])
    assert any("layout not checked before downloading" in t for t in rec.logs())
    assert any("using that prefix" in t for t in rec.logs())
