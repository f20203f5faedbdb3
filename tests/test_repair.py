"""verify → repair → verify on the demo world: only what is missing is fetched again."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from wizard.cli import main
from wizard.demo import MirrorServer, World, build_world
from wizard.demo.server import Fault
from wizard.engine.catalog import load_catalog
from wizard.engine.context import Settings
from wizard.engine.repair import repair
from wizard.engine.verify import verify

COMPS = ["coco-train2017", "gqa", "llava-pretrain", "textvqa", "vg-part1", "vg-part2"]
MINI = "sharegpt4v/mini.json"


@pytest.fixture
def prepared(world: World, demo_catalog: Path, mirror: MirrorServer, tmp_path: Path) -> Path:
    root = tmp_path / "root"
    assert main(["run", "--catalog", str(demo_catalog), "--hf-endpoint", mirror.base_url, "--root", str(root),
                 "--components", ",".join(COMPS), "--yes", "--quiet"]) == 0
    mirror.clear_requests()
    # An annotation JSON that references every image those components provide, plus a text record.
    records: list[dict[str, object]] = [{"id": str(n), "image": path, "conversations": []}
                                        for n, path in enumerate(sorted(world.expected_tree(COMPS)))]
    records.append({"id": "text", "conversations": [{"from": "human", "value": "hi"}]})
    (root / "sharegpt4v").mkdir()
    (root / MINI).write_text(json.dumps(records))
    return root


def _damage(root: Path) -> dict[str, bytes]:
    victims = {p: (root / p).read_bytes() for p in (
        "coco/train2017/000000000009.jpg", "llava/llava_pretrain/images/00000/000000012.jpg",
        "gqa/images/2354786.jpg")}
    (root / "coco/train2017/000000000009.jpg").unlink()
    (root / "llava/llava_pretrain/images/00000/000000012.jpg").unlink()
    (root / "gqa/images/2354786.jpg").write_bytes(victims["gqa/images/2354786.jpg"][:100])  # truncated
    return victims


def _bad(report_json: dict[str, object]) -> set[str]:
    out: set[str] = set()
    for result in report_json["jsons"]:  # type: ignore[attr-defined]
        out.update(Path(result["missing_report"]).read_text().split())
    return out


def test_verify_reports_exactly_the_damage_and_repair_restores_it(
        prepared: Path, demo_catalog: Path, mirror: MirrorServer, capsys: pytest.CaptureFixture[str]) -> None:
    root = prepared
    victims = _damage(root)
    sft = root / MINI
    assert main(["verify", "--root", str(root), "--deep", "--json", str(sft)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert _bad(report) == set(victims)
    assert report["totals"]["missing"] == 2 and report["totals"]["unreadable"] == 1

    catalog = load_catalog(demo_catalog)
    settings = Settings(hf_endpoint=mirror.base_url)
    rep = repair(root, catalog, settings, deep=True)
    assert rep.restored == 3 and rep.unrecoverable == {} and rep.ok
    for path, data in victims.items():
        assert (root / path).read_bytes() == data
    # the archives were read remotely with range requests (test_rangefile checks the byte savings)
    gets = [r for r in mirror.requests if r.method == "GET"]
    assert gets and all(r.status == 206 and "Range" in r.headers for r in gets)
    assert verify(root, [sft], deep=True, catalog=catalog).ok
    # the components' own journal records are untouched by repair
    assert main(["status", "--root", str(root), "--json"]) == 0
    stages = {r["id"]: r["stage"] for r in json.loads(capsys.readouterr().out)}
    assert stages["coco-train2017"] == "done" and stages["repair:coco-train2017"] == "done"


def test_repair_falls_back_to_the_whole_archive_when_range_is_ignored(
        prepared: Path, demo_catalog: Path, mirror: MirrorServer) -> None:
    root = prepared
    (root / "coco/train2017/000000000009.jpg").unlink()
    mirror.add_fault("images.cocodataset.org", Fault(ignore_range=True, times=None))
    rep = repair(root, load_catalog(demo_catalog), Settings(hf_endpoint=mirror.base_url))
    assert rep.restored == 1 and (root / "coco/train2017/000000000009.jpg").is_file()
    assert not list((root / ".sharegpt4v-setup/downloads").glob("train2017.zip*"))  # removed again


def _remove(victim: Path) -> tuple[Path, bytes]:
    """Delete an image repair should bring back; returns it and its bytes."""
    data = victim.read_bytes()
    victim.unlink()
    return victim, data


def test_a_503_while_reading_the_zip_remotely_is_retried_not_a_crash(
        prepared: Path, demo_catalog: Path, mirror: MirrorServer) -> None:
    root = prepared
    victim, data = _remove(root / "coco/train2017/000000000009.jpg")
    mirror.add_fault("images.cocodataset.org", Fault(status=503, retry_after="0"))  # the probe, once
    mirror.add_fault("images.cocodataset.org", Fault())  # its second try goes through
    mirror.add_fault("images.cocodataset.org", Fault(status=503, retry_after="0"))  # then a range read
    rep = repair(root, load_catalog(demo_catalog), Settings(hf_endpoint=mirror.base_url, backoff=0.01))
    assert rep.restored == 1 and victim.read_bytes() == data
    gets = [r for r in mirror.requests if r.method == "GET"]
    assert [r.status for r in gets].count(503) == 2
    assert all("Range" in r.headers for r in gets)  # retried as a range read, not the whole archive


def test_a_server_that_stops_taking_ranges_mid_read_falls_back_to_the_whole_archive(
        prepared: Path, demo_catalog: Path, mirror: MirrorServer) -> None:
    root = prepared
    victim, data = _remove(root / "coco/train2017/000000000009.jpg")
    mirror.add_fault("images.cocodataset.org", Fault())  # the probe gets its 206
    mirror.add_fault("images.cocodataset.org", Fault(ignore_range=True, times=None))  # then the whole file
    rep = repair(root, load_catalog(demo_catalog), Settings(hf_endpoint=mirror.base_url))
    assert rep.restored == 1 and victim.read_bytes() == data


def test_images_no_source_has_are_listed_with_a_reason(prepared: Path, demo_catalog: Path,
                                                       mirror: MirrorServer) -> None:
    root = prepared
    extra = root / "sharegpt4v" / "extra.json"
    extra.write_text(json.dumps([
        {"id": "a", "image": "coco/train2017/999999999999.jpg", "conversations": []},
        {"id": "b", "image": "nowhere/images/x.jpg", "conversations": []},
    ]))
    catalog = load_catalog(demo_catalog)
    rep = repair(root, catalog, Settings(hf_endpoint=mirror.base_url))
    assert rep.unrecoverable == {
        "coco/train2017/999999999999.jpg": "not in any archive of COCO train2017",
        "nowhere/images/x.jpg": "no catalog component provides nowhere/",
    }
    assert not rep.ok and "no source can provide" in rep.render_text()


def test_ocr_vqa_images_are_refetched_one_by_one_and_dead_ones_explained(
        world: World, demo_catalog: Path, mirror: MirrorServer, tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert main(["run", "--catalog", str(demo_catalog), "--hf-endpoint", mirror.base_url, "--root", str(root),
                 "--components", "json-sft,ocr-vqa", "--yes", "--quiet"]) == 0
    images = sorted((root / "ocr_vqa/images").iterdir())
    gone, dead = images[0], images[1]
    data = gone.read_bytes()
    gone.unlink()
    dead.unlink()
    dataset = json.loads((mirror.docroot / world.ocr_dataset_path).read_text())
    dead_url = dataset[dead.stem]["imageURL"]
    mirror.add_fault(dead_url.split(mirror.base_url, 1)[1], Fault(status=404, times=None))
    mirror.clear_requests()
    settings = Settings(hf_endpoint=mirror.base_url, retries=1, backoff=0.01)
    rep = repair(root, load_catalog(demo_catalog), settings)
    # (the SFT JSON also names images of components this root never prepared: repair brings them too)
    assert gone.read_bytes() == data and rep.restored == rep.before.totals.missing - 1
    assert rep.unrecoverable == {f"ocr_vqa/images/{dead.name}": f"dead image URL (HTTP 404): {dead_url}"}
    fetched = {r.path for r in mirror.requests if r.path.startswith("/amazon/")}
    assert len(fetched) == 2  # only the two missing images were asked for


def test_sam_images_come_back_with_one_range_request_each(
        world: World, demo_catalog: Path, mirror: MirrorServer, sam_links: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert main(["run", "--catalog", str(demo_catalog), "--hf-endpoint", mirror.base_url, "--root", str(root),
                 "--components", "sam-tars", "--sam-links", str(sam_links), "--yes", "--quiet"]) == 0
    images = sorted((root / "sam/images").iterdir())
    victims = {p.name: p.read_bytes() for p in images[:2]}
    for name in victims:
        (root / "sam/images" / name).unlink()
    records = [{"id": p.name, "image": f"sam/images/{p.name}", "conversations": []} for p in images]
    records.append({"id": "x", "image": "sam/images/sa_99999999.jpg", "conversations": []})
    (root / "sharegpt4v").mkdir()
    (root / "sharegpt4v/mini.json").write_text(json.dumps(records))
    mirror.clear_requests()
    rep = repair(root, load_catalog(demo_catalog), Settings(hf_endpoint=mirror.base_url, sam_links=sam_links))
    for name, data in victims.items():
        assert (root / "sam/images" / name).read_bytes() == data
    assert rep.restored == 2
    assert rep.unrecoverable == {"sam/images/sa_99999999.jpg": "not in any of the SA-1B tars sa_000000–sa_000050"}
    gets = [r for r in mirror.requests if r.method == "GET"]
    assert len(gets) == 2 and all(r.status == 206 for r in gets)  # no whole tar was downloaded
    assert sum(r.sent for r in gets) < 2 * max(len(d) for d in victims.values()) + 4 * 1024


@pytest.mark.parametrize("fault", [Fault(status=503, retry_after="0"), Fault(drop_after=100),
                                   Fault(ignore_range=True, times=None)], ids=["503", "dropped", "range-ignored"])
def test_a_failed_range_read_of_a_sam_image_is_retried_or_read_from_its_tar(
        fault: Fault, world: World, demo_catalog: Path, mirror: MirrorServer, sam_links: Path,
        tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert main(["run", "--catalog", str(demo_catalog), "--hf-endpoint", mirror.base_url, "--root", str(root),
                 "--components", "sam-tars", "--sam-links", str(sam_links), "--yes", "--quiet"]) == 0
    images = sorted((root / "sam/images").iterdir())
    victim = images[0]
    data = victim.read_bytes()
    victim.unlink()
    (root / "sharegpt4v").mkdir()
    (root / "sharegpt4v/mini.json").write_text(json.dumps(
        [{"id": p.name, "image": f"sam/images/{p.name}", "conversations": []} for p in images]))
    mirror.add_fault("/sam/", fault)
    rep = repair(root, load_catalog(demo_catalog), Settings(hf_endpoint=mirror.base_url, sam_links=sam_links,
                                                            backoff=0.01))
    assert rep.restored == 1 and rep.unrecoverable == {} and victim.read_bytes() == data


def _reorder_tar(path: Path) -> None:
    """The tar at ``path`` rebuilt with its members in the opposite order (upstream repacked it)."""
    members = []
    with tarfile.open(path) as src:
        for ti in src.getmembers():
            body = src.extractfile(ti)
            members.append((ti, body.read() if body is not None else None))
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as out:
        for ti, data in reversed(members):
            out.addfile(ti, io.BytesIO(data) if data is not None else None)


@pytest.mark.parametrize("case", ["range-ignored", "tar-repacked-upstream"])
def test_sam_images_whose_indexed_range_fails_come_back_from_the_whole_tar(case: str, tmp_path: Path) -> None:
    """The member index says where an image sat in its tar; a server that answers the range with
    the whole tar left the image 'not in any of the SA-1B tars', and a tar repacked since it was
    indexed gave tarfile a header that is not one: an internal error (ReadError)."""
    world = build_world(tmp_path / "docroot")  # a private world: its tars are changed below
    with MirrorServer(world.docroot) as mirror:
        catalog_path = world.write_catalog(mirror.base_url, tmp_path / "catalog.toml")
        links = world.sam_links_file(mirror.base_url, tmp_path / "links.tsv")
        root = tmp_path / "root"
        assert main(["run", "--catalog", str(catalog_path), "--root", str(root), "--components", "sam-tars",
                     "--sam-links", str(links), "--yes", "--quiet"]) == 0
        images = sorted((root / "sam/images").iterdir())
        victim = root / "sam/images/sa_1.jpg"  # the first member of sa_000000.tar
        data = victim.read_bytes()
        victim.unlink()
        (root / "sharegpt4v").mkdir()
        (root / "sharegpt4v/mini.json").write_text(json.dumps(
            [{"id": p.name, "image": f"sam/images/{p.name}", "conversations": []} for p in images]))
        if case == "range-ignored":
            mirror.add_fault("/sam/", Fault(ignore_range=True, times=None))
        else:
            _reorder_tar(world.docroot / "sam/sa_000000.tar")
        rep = repair(root, load_catalog(catalog_path), Settings(sam_links=links))
    assert victim.read_bytes() == data
    assert rep.restored == 1 and rep.unrecoverable == {} and rep.ok


# -- repair picks the archive that holds the file ------------------------------------------------
@pytest.fixture
def cap100k_root(world: World, demo_catalog: Path, mirror: MirrorServer, sam_links: Path, tmp_path: Path) -> Path:
    """A root prepared with the cap100k preset: the SAM 9K zip plus the first two SA-1B tars."""
    root = tmp_path / "cap"
    assert main(["run", "--catalog", str(demo_catalog), "--hf-endpoint", mirror.base_url, "--root", str(root),
                 "--preset", "cap100k", "--sam-links", str(sam_links), "--yes", "--quiet"]) == 0
    mirror.clear_requests()
    return root


def _sam_9k_requests(world: World, mirror: MirrorServer) -> list[str]:
    zips = {served.path for served in world.components["sam-9k"].served if served is not None}
    return [r.path for r in mirror.requests if r.path.lstrip("/") in zips or "sam_images_share-sft" in r.path]


@pytest.mark.parametrize("zip_list_kept", [True, False], ids=["zip-member-list", "tar-index-only"])
def test_repair_chooses_the_tar_over_the_9k_zip(cap100k_root: Path, world: World, demo_catalog: Path,
                                                mirror: MirrorServer, sam_links: Path, zip_list_kept: bool) -> None:
    root = cap100k_root
    if not zip_list_kept:  # an older root: only the tars' member index says where the image is
        for kept in (root / ".sharegpt4v-setup/index").glob("*.zip-members"):
            kept.unlink()
    victim = root / "sam/images/sa_1.jpg"  # in sa_000000.tar
    data = victim.read_bytes()
    victim.unlink()
    rep = repair(root, load_catalog(demo_catalog), Settings(hf_endpoint=mirror.base_url, sam_links=sam_links))
    assert victim.read_bytes() == data and rep.restored == 1 and rep.ok
    assert _sam_9k_requests(world, mirror) == []  # the 9K zip was not asked for
    gets = [r for r in mirror.requests if r.method == "GET"]
    assert [(r.path, r.status) for r in gets] == [("/sam/sa_000000.tar", 206)]


def test_an_image_of_a_gzip_tar_comes_back_from_that_tar_only(cap100k_root: Path, world: World,
                                                              demo_catalog: Path, mirror: MirrorServer,
                                                              sam_links: Path) -> None:
    root = cap100k_root
    wanted = [p for p in world.references["json-cap100k"] if p.startswith("sam/")]
    victim = next(root / p for p in wanted if (root / p).is_file() and "sa_11201" in p)  # in sa_000001.tar (gzip)
    data = victim.read_bytes()
    victim.unlink()
    rep = repair(root, load_catalog(demo_catalog), Settings(hf_endpoint=mirror.base_url, sam_links=sam_links))
    assert victim.read_bytes() == data and rep.ok
    gets = [r.path for r in mirror.requests if r.method == "GET"]
    assert gets == ["/sam/sa_000001.tar"] and not _sam_9k_requests(world, mirror)


def test_repair_fixes_what_the_last_deep_verify_found_and_says_what_it_checked(
        prepared: Path, demo_catalog: Path, mirror: MirrorServer, capsys: pytest.CaptureFixture[str]) -> None:
    root = prepared
    victim = root / "gqa/images/2354786.jpg"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # truncated: a plain check may not see it
    assert main(["verify", "--root", str(root), "--deep"]) == 1
    capsys.readouterr()
    assert main(["repair", "--root", str(root), "--catalog", str(demo_catalog),
                 "--hf-endpoint", mirror.base_url]) == 0
    out = capsys.readouterr().out
    assert victim.read_bytes() == data
    assert "plus 1 damaged file(s) the last verify reported" in out and "Checked " in out
    assert "Restored 1 file(s)." in out


def test_check_and_repair_in_the_engine_child_match_the_calls_in_this_process(
        prepared: Path, demo_catalog: Path, mirror: MirrorServer) -> None:
    """The wizard checks and repairs through engine/runchild.py: same reports as the direct calls."""
    from wizard.engine.calls import RepairTask, VerifyTask
    from wizard.engine.control import Control
    from wizard.engine.events import Event
    from wizard.engine.runchild import call_in_child

    root = prepared
    victims = _damage(root)
    sft = root / MINI
    catalog = load_catalog(demo_catalog)
    here = verify(root, [sft], catalog=catalog)
    there = call_in_child(VerifyTask(root, [sft], catalog), lambda event: None, Control())
    assert there.to_json() == here.to_json() and not there.ok
    events: list[Event] = []
    rep = call_in_child(RepairTask(root, catalog, Settings(hf_endpoint=mirror.base_url), [sft]), events.append,
                        Control())
    assert rep.ok and rep.restored == len(victims) and events
    assert [r.json_path for r in rep.after.results] == [sft]
    for path, data in victims.items():
        assert (root / path).read_bytes() == data


def test_the_engine_child_refuses_a_first_frame_that_is_not_a_task(tmp_path: Path) -> None:
    from wizard.engine import child

    for first in (("run", "plan", "catalog", "settings"), ("task", "not a task"), "task"):
        proc = child.spawn("run")
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        child.write_frame(proc.stdin, first)
        proc.stdin.close()
        assert proc.wait(60) == 2
        assert proc.stdout.read() == b""
        proc.stdout.close()
        proc.stderr.close()


def test_repair_deletes_no_file_that_no_image_component_provides(
        prepared: Path, demo_catalog: Path, mirror: MirrorServer, capsys: pytest.CaptureFixture[str]) -> None:
    """A JSON naming the app's journal or an annotation JSON as an image (hostile, or a broken
    community file): deep verify calls them unreadable; repair must not delete them to refetch."""
    root = prepared
    mini = root / MINI
    records = json.loads(mini.read_text())
    records += [{"id": "x1", "image": ".sharegpt4v-setup/journal.sqlite"},
                {"id": "x2", "image": "./.ShareGPT4V-Setup/journal.sqlite"},
                {"id": "x3", "image": MINI}]
    mini.write_text(json.dumps(records))
    journal = root / ".sharegpt4v-setup" / "journal.sqlite"
    kept = journal.stat().st_ino, mini.read_bytes()
    assert main(["verify", "--root", str(root), "--deep", "--json", str(mini)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["invalid"] >= 2  # the state folder paths are refused, never looked up
    assert main(["repair", "--root", str(root), "--catalog", str(demo_catalog), "--hf-endpoint", mirror.base_url,
                 "--deep"]) == 1
    out = capsys.readouterr().out
    assert MINI in out  # unrecoverable, with its reason
    assert (journal.stat().st_ino, mini.read_bytes()) == kept  # the same journal (not set aside), the same JSON
    assert not list(journal.parent.glob("journal.sqlite.broken-*"))


def test_repair_puts_back_a_damaged_file_no_source_replaces(
        prepared: Path, demo_catalog: Path, mirror: MirrorServer, capsys: pytest.CaptureFixture[str]) -> None:
    """A file under an image folder that deep verify calls unreadable and no archive holds (the
    user's own file a JSON names; an image whose link is dead) was deleted before its replacement
    was sought, and lost. Now it is set aside and put back; a replaceable one is replaced."""
    root = prepared
    mini = root / MINI
    notes = root / "coco/train2017/notes.txt"
    notes.write_text("the user's own notes, not an image\n")
    victim = sorted((root / "coco/train2017").glob("*.jpg"))[0]
    original = victim.read_bytes()
    victim.write_bytes(original[: len(original) // 2])  # truncated: the zip has it whole
    records = json.loads(mini.read_text())
    records.append({"id": "notes", "image": "coco/train2017/notes.txt"})
    mini.write_text(json.dumps(records))
    code = main(["repair", "--root", str(root), "--catalog", str(demo_catalog), "--hf-endpoint", mirror.base_url,
                 "--deep"])
    out = capsys.readouterr().out
    assert code == 1, out  # notes.txt stays unreadable (it is no image)
    assert notes.read_text() == "the user's own notes, not an image\n"
    assert "coco/train2017/notes.txt" in out and "the damaged file was put back" in out, out
    assert victim.read_bytes() == original
    assert not list((root / "coco/train2017").glob(".*.damaged"))
    assert not (root / ".sharegpt4v-setup/repair-set-aside.txt").exists()


def test_a_repair_killed_half_way_puts_its_damaged_files_back_next_time(
        prepared: Path, demo_catalog: Path, mirror: MirrorServer, capsys: pytest.CaptureFixture[str]) -> None:
    root = prepared
    victim = sorted((root / "coco/train2017").glob("*.jpg"))[0]
    original = victim.read_bytes()
    held = victim.with_name(f".{victim.name}.damaged")  # where the killed repair had set it aside
    os.replace(victim, held)
    (root / ".sharegpt4v-setup/repair-set-aside.txt").write_text(f"coco/train2017/{victim.name}\n")
    mirror.add_fault("/", Fault(status=503, times=None))  # nothing can be fetched this time
    assert main(["repair", "--root", str(root), "--catalog", str(demo_catalog), "--hf-endpoint", mirror.base_url]) == 0
    assert victim.read_bytes() == original and not held.exists()  # back in place: nothing to repair
    assert not (root / ".sharegpt4v-setup/repair-set-aside.txt").exists()
    assert [r for r in mirror.requests if r.method == "GET"] == []


def test_a_network_error_in_one_component_does_not_end_the_whole_repair(
        prepared: Path, demo_catalog: Path, mirror: MirrorServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Only SetupError was taken per component: a requests error that no lower layer had turned
    into one (e.g. a connection dropped in a path without the retry policy) ended the repair of
    every other component too."""
    import requests

    from wizard.engine import repair as repair_module

    root = prepared
    coco = sorted((root / "coco/train2017").glob("*.jpg"))[0]
    gqa = sorted((root / "gqa/images").glob("*.jpg"))[0]
    coco.unlink()
    gqa.unlink()
    real = repair_module._repair_component

    def flaky(ctx: Any, component: Any, catalog: Any, wanted: set[str]) -> set[str]:
        if component.id == "coco-train2017":
            raise requests.exceptions.ChunkedEncodingError("connection broken mid-body")
        return real(ctx, component, catalog, wanted)

    monkeypatch.setattr(repair_module, "_repair_component", flaky)
    code = main(["repair", "--root", str(root), "--catalog", str(demo_catalog), "--hf-endpoint", mirror.base_url])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in out + err
    assert gqa.is_file() and not coco.exists()
    assert "coco-train2017: [network]" in out, out


def test_a_temp_file_a_killed_repair_left_is_deleted_by_the_next_repair(
        prepared: Path, demo_catalog: Path, mirror: MirrorServer) -> None:
    """kill -9 while repair wrote a member over 1 MiB leaves ``.NAME.extracting`` beside the still
    missing image; the component's journal record stays done, so no run sweeps it."""
    root = prepared
    victim, data = _remove(root / "coco/train2017/000000000009.jpg")
    temp = root / "coco/train2017/.000000000009.jpg.extracting"
    temp.write_bytes(data[: len(data) // 2])
    mine = root / "coco/train2017/notes.extracting"
    mine.write_bytes(b"the user's")
    rep = repair(root, load_catalog(demo_catalog), Settings(hf_endpoint=mirror.base_url))
    assert rep.restored == 1 and victim.read_bytes() == data
    assert not temp.exists() and mine.read_bytes() == b"the user's"
