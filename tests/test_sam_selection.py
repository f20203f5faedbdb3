"""SA-1B tars chosen by the annotations: with the run's JSONs known, tars are read in order and
stop once every SAM image they reference is in place (the 9K zip's count too); the plan says
"up to" before any run and names the exact tars once a run has learned the member map;
``--full-archives`` reads every tar as before. Requests are checked on the 127.0.0.1 mirror."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import Recorder, fast_settings

from wizard.cli import main
from wizard.demo import MirrorServer, World
from wizard.demo.session import tree_of
from wizard.engine.catalog import load_catalog
from wizard.engine.journal import read_status
from wizard.engine.plan import build_plan
from wizard.engine.runner import Runner, RunResult


def run(catalog: Path, root: Path, links: Path, base: str, **overrides: Any) -> tuple[RunResult, Recorder]:
    cat = load_catalog(catalog)
    settings = fast_settings(sam_links=links, hf_endpoint=base, min_free_bytes=0, **overrides)
    root.mkdir(parents=True, exist_ok=True)
    rec = Recorder()
    plan = build_plan(root, cat, cat.resolve("cap100k", None), settings)
    return Runner(plan, cat, settings, rec).run(), rec


def tar_gets(mirror: MirrorServer) -> list[str]:
    return sorted(r.path.rsplit("/", 1)[-1] for r in mirror.requests
                  if r.method == "GET" and r.path.startswith("/sam/"))


def sam_note(catalog: Path, root: Path, links: Path, base: str) -> tuple[int, str]:
    cat = load_catalog(catalog)
    plan = build_plan(root, cat, cat.resolve("cap100k", None), fast_settings(sam_links=links, hf_endpoint=base))
    item = next(i for i in plan.items if i.component.id == "sam-tars")
    return item.download_bytes, " | ".join(item.notes)


def test_cap100k_reads_the_first_tars_and_never_the_last(world: World, demo_catalog: Path, mirror: MirrorServer,
                                                         sam_links: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    result, rec = run(demo_catalog, root, sam_links, mirror.base_url)
    assert result.ok, result.failed
    wanted = set(world.references["json-cap100k"])
    assert {p for p in tree_of(root) if p.startswith("sam/")} == {p for p in wanted if p.startswith("sam/")}
    assert tar_gets(mirror) == ["sa_000000.tar", "sa_000001.tar"]  # sa_000002 … sa_000050: never asked for
    assert any("SAM images the selected annotations reference are in place; sa_000002.tar and the tars "
               "after it are not needed" in t for t in rec.logs())
    info = next(r.info for r in read_status(root) or [] if r.id == "sam-tars")
    assert info["sam_tar_map"] == {"sa_000000.tar": 2, "sa_000001.tar": 1}


def test_full_archives_reads_every_tar(world: World, demo_catalog: Path, mirror: MirrorServer,
                                       sam_links: Path, tmp_path: Path) -> None:
    result, _ = run(demo_catalog, tmp_path / "root", sam_links, mirror.base_url, full_archives=True)
    assert result.ok, result.failed
    assert len(tar_gets(mirror)) == 51


def test_plan_says_up_to_then_the_exact_tars_once_learned(world: World, demo_catalog: Path, mirror: MirrorServer,
                                                         sam_links: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    cat = load_catalog(demo_catalog)
    all_tars = cat.component("sam-tars").sources[0].planned_size
    # Only the JSON so far: the plan knows how many SAM images, not which tars hold them.
    settings = fast_settings(sam_links=sam_links, hf_endpoint=mirror.base_url)
    Runner(build_plan(root, cat, cat.resolve(None, ["json-cap100k"]), settings), cat, settings).run()
    size, note = sam_note(demo_catalog, root, sam_links, mirror.base_url)
    sam_images = sum(1 for p in world.references["json-cap100k"] if p.startswith("sam/"))
    assert f"reference {sam_images} SAM images" in note and "stop once they are all in place: up to" in note
    assert "(51 tars)" in note and size == all_tars

    result, _ = run(demo_catalog, root, sam_links, mirror.base_url)
    assert result.ok, result.failed
    _, note = sam_note(demo_catalog, root, sam_links, mirror.base_url)
    assert "came from sa_000000.tar (2), sa_000001.tar (1)" in note

    shutil.rmtree(root / "sam")  # the images are gone: the learned map says exactly where they are
    size, note = sam_note(demo_catalog, root, sam_links, mirror.base_url)
    assert "places the 3 not in place in 2 tar(s): sa_000000.tar, sa_000001.tar" in note
    assert "the other 3 come from the folder's other components" in note
    per_tar = all_tars // 51
    assert size == 2 * per_tar

    mirror.clear_requests()
    result, _ = run(demo_catalog, root, sam_links, mirror.base_url)
    assert result.ok, result.failed
    assert tar_gets(mirror) == ["sa_000000.tar", "sa_000001.tar"]


def test_cli_plan_for_cap100k_on_a_root_with_its_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    assert main(["run", "--demo", "--root", str(root), "--components", "json-cap100k", "--yes", "-q"]) == 0
    capsys.readouterr()
    assert main(["plan", "--demo", "--root", str(root), "--preset", "cap100k"]) == 0
    out = capsys.readouterr().out
    assert "the selected annotations reference 6 SAM images" in out
    assert "tars are read in order and stop once they are all in place: up to" in out
