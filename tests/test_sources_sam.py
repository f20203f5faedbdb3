"""SA-1B tars through a signed links file: parsing (with line numbers), expiry, a 403 mid-run that
parks the job, and a rerun with a fresh file that continues without fetching finished tars."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import Recorder, fast_settings

from wizard.demo import MirrorServer, World
from wizard.demo.server import Fault
from wizard.demo.session import tree_of
from wizard.engine.catalog import load_catalog
from wizard.engine.errors import Code, SetupError
from wizard.engine.journal import read_status
from wizard.engine.plan import build_plan
from wizard.engine.runner import Runner, RunResult
from wizard.engine.sources.samlinks import LinksFileError, expiry_note, parse_links_file, tar_names

HEADER = "file_name\tcdn_link\n"
GOOD = "https://scontent.example/v/sa_000000.tar?_nc_cat=1&oh=00_abc&oe=699024E8"


def run(demo_catalog: Path, root: Path, links: Path | None, **overrides: Any) -> tuple[RunResult, Recorder]:
    cat = load_catalog(demo_catalog)
    settings = fast_settings(sam_links=links, **overrides)
    root.mkdir(parents=True, exist_ok=True)
    rec = Recorder()
    plan = build_plan(root, cat, cat.resolve(None, ["sam-tars"]), settings)
    return Runner(plan, cat, settings, rec).run(), rec


def tar_gets(mirror: MirrorServer) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in mirror.requests if r.method == "GET" and r.path.startswith("/sam/")]


def test_parse_the_worlds_links_file(world: World, sam_links: Path) -> None:
    links = parse_links_file(sam_links, [f"sa_{i:06d}.tar" for i in range(51)])
    assert len(links.names) == 51 and set(links.names) == {f"sa_{i:06d}.tar" for i in range(51)}
    assert set(links.skipped) == {"sa_images_ids.txt", "sa_co_gold.tar", "sa_000999.tar"}
    assert list(links.names) != sorted(links.names)  # any order is fine
    expiry = links.earliest_expiry()
    assert expiry is not None and 29 * 86400 < expiry.timestamp() - time.time() < 31 * 86400
    assert not links.expired() and links.expired(expiry) and links.missing(["sa_000051.tar"]) == ["sa_000051.tar"]
    first = links.links["sa_000000.tar"]
    assert first.url.startswith("http://127.0.0.1:") and "oe=" in first.url and first.line >= 2


@pytest.mark.parametrize(("text", "line", "words"), [
    ("name\tlink\n" + f"sa_000000.tar\t{GOOD}\n", 1, "header must be 'file_name<TAB>cdn_link'"),
    ("file_name cdn_link\n" + f"sa_000000.tar {GOOD}\n", 1, "spaces instead of a tab"),
    ("\n<!DOCTYPE html>\n<html><head><title>Segment Anything</title></head>\n", 2, "a web page (HTML)"),
    (HEADER + f"sa_000000.tar\t{GOOD}\nsa_000001.tar {GOOD}\n", 3, "expected 2 tab-separated fields, found 1"),
    (HEADER + f"\nsa_000000.tar\t{GOOD}\textra\n", 3, "found 3"),
    (HEADER + "sa_000000.tar\tftp://example.org/sa_000000.tar\n", 2, "not an http(s) URL"),
    (HEADER + f"../sa_000000.tar\t{GOOD}\n", 0, "lists no links to the SA-1B tars needed (it lists only ../sa"),
    (HEADER + f"sa_000000.tar\t{GOOD}\nsa_000000.tar\t{GOOD}\n", 3, "listed twice (first on line 2)"),
    (HEADER + "sa_000000.tar\thttps://x.example/a.tar?oe=NOTHEX1\n", 2, "not a hexadecimal Unix time"),
    ("", 0, "the file is empty"),
    (HEADER, 0, "lists no links"),
])
def test_malformed_links_files_name_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "links.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LinksFileError) as caught:
        parse_links_file(path)
    err = caught.value
    assert err.problem.code == Code.SAM_LINKS_INVALID and err.line == line
    assert words in err.problem.message
    if line:
        assert f"line {line}:" in err.problem.message
    assert "--sam-links" in err.problem.hint


def test_rows_the_component_does_not_need_are_skipped_with_one_note(tmp_path: Path) -> None:
    """Meta's real file lists sa_images_ids.txt (and sa_co_gold.tar, tars up to 999): skipped, named
    once; a malformed row of a needed tar is still an error naming its line."""
    path = tmp_path / "links.tsv"
    path.write_text(HEADER + "sa_images_ids.txt\thttps://scontent.example/v/sa_images_ids.txt?oe=699024E8\n"
                    f"sa_000000.tar\t{GOOD}\n" "sa_co_gold.tar\tnot even a url\n"
                    "sa_000500.tar\tftp://elsewhere\n", encoding="utf-8")
    links = parse_links_file(path, ["sa_000000.tar", "sa_000001.tar"])
    assert links.names == ("sa_000000.tar",)
    assert links.skipped == ("sa_images_ids.txt", "sa_co_gold.tar", "sa_000500.tar")
    note = links.skipped_note()
    assert note is not None and "skipped 3 row(s)" in note and "sa_images_ids.txt, sa_co_gold.tar" in note
    with pytest.raises(LinksFileError) as caught:  # sa_000500.tar is needed when the range covers it
        parse_links_file(path, ["sa_000000.tar", "sa_000500.tar"])
    assert caught.value.line == 5 and "not an http(s) URL" in caught.value.problem.message
    path.write_text(HEADER + f"sa_000001.tar {GOOD}\n", encoding="utf-8")  # a needed row, badly separated
    with pytest.raises(LinksFileError) as caught:
        parse_links_file(path, ["sa_000001.tar"])
    assert caught.value.line == 2 and "found 1" in caught.value.problem.message


def test_run_with_the_links_file_as_served_notes_the_skipped_rows(world: World, demo_catalog: Path,
                                                                  mirror: MirrorServer, sam_links: Path,
                                                                  tmp_path: Path) -> None:
    result, rec = run(demo_catalog, tmp_path / "root", sam_links)
    assert result.ok, result.failed
    notes = [t for t in rec.logs() if "this download does not need" in t]
    assert len(notes) == 1 and "sa_images_ids.txt" in notes[0] and "sa_co_gold.tar" in notes[0]
    assert not [r for r in mirror.requests if "sa_images_ids" in r.path or "gold" in r.path]


def test_crlf_bom_and_blank_lines_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "links.tsv"
    path.write_bytes(("\ufeff" + HEADER + "\n" + f"sa_000000.tar\t{GOOD}\n\n").replace("\n", "\r\n").encode())
    assert parse_links_file(path).names == ("sa_000000.tar",)


def test_missing_tars_are_listed(world: World, sam_links: Path, demo_catalog: Path, tmp_path: Path) -> None:
    kept = [line for line in sam_links.read_text().splitlines()
            if not line.startswith(("sa_000007.tar", "sa_000033.tar"))]
    short = tmp_path / "short.tsv"
    short.write_text("\n".join(kept) + "\n")
    source = load_catalog(demo_catalog).component("sam-tars").sources[0]
    with pytest.raises(SetupError) as caught:
        parse_links_file(short).require(tar_names(source))
    assert caught.value.problem.code == Code.SAM_LINKS_INVALID
    assert "2 of the 51 tars" in caught.value.problem.message
    assert "sa_000007.tar, sa_000033.tar" in caught.value.problem.message


def test_expired_links_park_the_job_without_a_request(world: World, demo_catalog: Path, mirror: MirrorServer,
                                                      tmp_path: Path) -> None:
    links = world.sam_links_file(mirror.base_url, tmp_path / "old.tsv", expires=int(time.time()) - 3600)
    result, _ = run(demo_catalog, tmp_path / "root", links)
    problem = result.waiting["sam-tars"]
    assert problem.code == Code.SAM_LINKS_EXPIRED and problem.parked
    assert "Get a fresh links file from Meta's SA-1B page and pass --sam-links" in problem.hint
    assert tar_gets(mirror) == []


def test_links_expiring_soon_are_warned_about(world: World, demo_catalog: Path, mirror: MirrorServer,
                                              tmp_path: Path) -> None:
    links = world.sam_links_file(mirror.base_url, tmp_path / "soon.tsv", expires=int(time.time()) + 2 * 3600)
    root = tmp_path / "root"
    cat = load_catalog(demo_catalog)
    plan = build_plan(root.parent, cat, cat.resolve(None, ["sam-tars"]), fast_settings(sam_links=links))
    assert any("expire on" in n for n in plan.items[0].notes)
    result, rec = run(demo_catalog, root, links)
    assert result.ok
    assert any(re.search(r"SA-1B links expire on .* \(in [12]\.\d h\)", t) for t in rec.logs())
    note = expiry_note(parse_links_file(links), ["sa_000000.tar"], 10 * 10**12)
    assert note is not None and "at 10 MB/s" in note


def test_403_mid_run_parks_then_a_fresh_file_continues(world: World, demo_catalog: Path, mirror: MirrorServer,
                                                        sam_links: Path, tmp_path: Path) -> None:
    mirror.add_fault("/sam/sa_000005.tar", Fault(status=403, times=None))
    root = tmp_path / "root"
    result, _ = run(demo_catalog, root, sam_links)
    problem = result.waiting["sam-tars"]
    assert problem.code == Code.SAM_LINKS_EXPIRED and problem.parked and "HTTP 403" in problem.message
    done = (read_status(root) or [])[0].info["items_done"]
    assert done == [f"sa_{i:06d}.tar" for i in range(5)]
    images = {p.name for p in (root / "sam/images").iterdir()}
    assert len(images) == 10 and all(n.endswith(".jpg") for n in images)  # only the jpgs, not the masks
    assert tar_gets(mirror)[:5] == done

    mirror.clear_faults()
    mirror.clear_requests()
    fresh = world.sam_links_file(mirror.base_url, tmp_path / "fresh.tsv")
    result, rec = run(demo_catalog, root, fresh)
    assert result.ok and result.done == ["sam-tars"]
    fetched = tar_gets(mirror)
    assert fetched == [f"sa_{i:06d}.tar" for i in range(5, 51)]  # nothing finished is fetched again
    assert any("5 of 51 SA-1B tars were finished earlier" in t for t in rec.logs())
    assert tree_of(root) == world.expected_tree(["sam-tars"])
    assert not list((root / ".sharegpt4v-setup/downloads").iterdir())


def test_tars_are_saved_under_their_file_name(world: World, demo_catalog: Path, mirror: MirrorServer,
                                              sam_links: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    result, _ = run(demo_catalog, root, sam_links, keep_archives=True)
    assert result.ok
    kept = sorted(p.name for p in (root / ".sharegpt4v-setup/downloads").iterdir())
    assert kept == [f"sa_{i:06d}.tar" for i in range(51)]
    assert all(r.query and "oe=" in r.query for r in mirror.requests if r.path.startswith("/sam/"))


def test_no_links_file_means_sam_links_missing(demo_catalog: Path, tmp_path: Path) -> None:
    result, _ = run(demo_catalog, tmp_path / "root", None)
    assert result.failed["sam-tars"].code == Code.SAM_LINKS_MISSING
