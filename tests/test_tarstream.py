"""SA-1B tars extracted while they download (wizard.engine.tarstream): only the jpgs, no tar on
disk, resume from a member boundary after a drop or a kill -9 (Range + If-Range, finished members
untouched), servers that ignore Range, truncated and unsafe tars, and the compressed fallback."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import random
import signal
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from helpers import Recorder, fast_settings, make_ctx, settled_requests

from wizard.demo import MirrorServer, World, build_world
from wizard.demo.server import Fault
from wizard.demo.session import tree_of
from wizard.demo.world import dumps_toml
from wizard.engine.catalog import Layout, load_catalog
from wizard.engine.context import JobContext
from wizard.engine.control import Control
from wizard.engine.errors import Cancelled, Code, SetupError
from wizard.engine.events import Event, Progress
from wizard.engine.extract import extract_archive
from wizard.engine.journal import Journal, read_status
from wizard.engine.plan import build_plan
from wizard.engine.runner import Runner, RunResult
from wizard.engine.tarstream import STATE_KEY, NotStreamable, read_member_index, stream_tar

SAM = Layout(include=("*.jpg",), flatten=True)
MEMBER_MTIME = 1_600_000_000  # every member write_tar writes has this mtime
LONG = "x" * 120  # longer than a ustar name: GNU longname / pax path headers


def sam_members(count: int, size: int, seed: int = 1, long_every: int = 0) -> list[tuple[str, bytes]]:
    """SA-1B-like members: ``./sa_N.jpg`` of ``size`` random bytes and a small ``./sa_N.json``."""
    rng = random.Random(seed)
    out: list[tuple[str, bytes]] = []
    for i in range(count):
        stem = f"sa_{i + 1}" + (f"_{LONG}" if long_every and i % long_every == 0 else "")
        out.append((f"./{stem}.jpg", rng.randbytes(size + rng.randrange(0, 511))))
        out.append((f"./{stem}.json", b'{"annotations": []}' * 3))
    return out


def write_tar(path: Path, members: list[tuple[str, bytes]], fmt: int = tarfile.GNU_FORMAT,
              extra: list[tarfile.TarInfo] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w", format=fmt) as tf:
        tf.addfile(_dir("./"))
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), MEMBER_MTIME, 0o644
            tf.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tf.addfile(info)
    return path


def _dir(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info


def boundaries(path: Path) -> set[int]:
    """Where each member's header (sequence) starts, and where the end-of-archive block starts."""
    with tarfile.open(path) as tf:
        starts = {ti.offset for ti in tf.getmembers()}
        return starts | {tf.offset}


def jpgs(members: list[tuple[str, bytes]]) -> dict[str, bytes]:
    return {name.rsplit("/", 1)[-1]: data for name, data in members if name.endswith(".jpg")}


def on_disk(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.is_dir() else {}


def gets(server: MirrorServer, path: str) -> list[Any]:
    return [r for r in server.requests if r.method == "GET" and r.path == path]


@pytest.fixture
def served(tmp_path: Path) -> Any:
    docroot = tmp_path / "doc"
    docroot.mkdir()
    with MirrorServer(docroot) as server:
        yield docroot, server


def stream(root: Path, url: str, name: str = "t.tar", **overrides: Any) -> tuple[Any, Recorder]:
    ctx, rec = make_ctx(root, fast_settings(min_free_bytes=0, **overrides))
    try:
        return stream_tar(ctx, url, name, root / "sam/images", SAM), rec
    finally:
        ctx.journal.close()


def saved_state(root: Path) -> dict[str, Any]:
    rec = next(r for r in read_status(root) or [] if r.id == "test")
    return dict(rec.info[STATE_KEY])


# -- the world's SAM tars through the whole engine ---------------------------------------------------
def run_sam(catalog: Path, root: Path, links: Path, emit: Any = None, **overrides: Any) -> RunResult:
    cat = load_catalog(catalog)
    settings = fast_settings(sam_links=links, min_free_bytes=0, **overrides)
    root.mkdir(parents=True, exist_ok=True)
    plan = build_plan(root, cat, cat.resolve(None, ["sam-tars"]), settings)
    return Runner(plan, cat, settings, emit or Recorder()).run()


def test_world_tars_stream_into_place_without_a_tar_on_disk(world: World, demo_catalog: Path,
                                                           mirror: MirrorServer, sam_links: Path,
                                                           tmp_path: Path) -> None:
    root = tmp_path / "root"
    downloads = root / ".sharegpt4v-setup/downloads"
    seen: set[str] = set()

    def watch(event: Event) -> None:
        if isinstance(event, Progress) and downloads.is_dir():
            seen.update(p.name for p in downloads.iterdir())

    result = run_sam(demo_catalog, root, sam_links, watch)
    assert result.ok and result.done == ["sam-tars"]
    assert tree_of(root) == world.expected_tree(["sam-tars"])  # exactly the jpgs, no .json masks
    assert seen == set()
    assert not downloads.exists() or not list(downloads.iterdir())
    tar_gets = [r for r in mirror.requests if r.method == "GET" and r.path.startswith("/sam/")]
    assert len(tar_gets) == 51 and all("Range" not in r.headers for r in tar_gets)
    info = (read_status(root) or [])[0].info
    assert len(info["items_done"]) == 51 and info.get(STATE_KEY) is None
    plan = build_plan(root, load_catalog(demo_catalog), load_catalog(demo_catalog).resolve(None, ["sam-tars"]),
                      fast_settings(sam_links=sam_links))
    assert plan.items[0].peak_archive_bytes == 0  # streamed: no tar ever needs room


def test_a_gzip_tar_streams_through_gzip_without_a_tar_on_disk(tmp_path: Path) -> None:
    world = build_world(tmp_path / "doc")
    tar = world.docroot / "sam/sa_000003.tar"
    tar.write_bytes(gzip.compress(tar.read_bytes()))
    with MirrorServer(world.docroot) as server:
        catalog = world.write_catalog(server.base_url, tmp_path / "cat.toml")
        links = world.sam_links_file(server.base_url, tmp_path / "links.tsv")
        rec = Recorder()
        result = run_sam(catalog, tmp_path / "root", links, rec)
        assert result.ok
        assert len(gets(server, "/sam/sa_000003.tar")) == 1  # one request: no download-then-extract
    assert tree_of(tmp_path / "root") == world.expected_tree(["sam-tars"])
    assert any("sa_000003.tar is gzip-compressed: extracting it through gzip" in t for t in rec.logs())
    assert not list((tmp_path / "root/.sharegpt4v-setup/downloads").iterdir())
    index = (tmp_path / "root/.sharegpt4v-setup/index/sa_000003.tar.members.tsv").read_text().splitlines()
    assert index[-1] == "#complete" and all(line.endswith("\t-1\t-1") for line in index[:-1])


@pytest.mark.parametrize("padding", [b"", bytes(1000)], ids=["", "zero-padded"])
def test_a_tar_gzipped_in_several_members_streams_every_member(tmp_path: Path, served: Any, padding: bytes) -> None:
    """A gzip file may hold several members one after another (parallel compressors such as
    bgzip or mgzip write them, ``cat a.gz b.gz`` makes them; gzip -d and tar read them all).
    tarfile's stream mode reads only the first: the tar ended there, the body's rest was read as
    'the gzip trailer', and the pass finished with the later members missing, without a word."""
    docroot, server = served
    members = sam_members(8, 3000)
    tar = write_tar(tmp_path / "plain.tar", members).read_bytes()
    cut = sorted(boundaries(tmp_path / "plain.tar"))[5]  # a member boundary: each half a gzip member
    (docroot / "t.tar").write_bytes(gzip.compress(tar[:cut]) + gzip.compress(tar[cut:]) + padding)
    result, _rec = stream(tmp_path / "root", server.url("/t.tar"))
    assert on_disk(tmp_path / "root/sam/images") == jpgs(members)
    assert result.written == 8


def test_a_cut_gzip_tar_keeps_the_members_before_the_cut(tmp_path: Path, served: Any) -> None:
    docroot, server = served
    members = sam_members(6, 3000)
    tar = write_tar(tmp_path / "plain.tar", members).read_bytes()
    packed = gzip.compress(tar)
    (docroot / "t.tar").write_bytes(packed[: len(packed) * 2 // 3])
    with pytest.raises(SetupError) as caught:
        stream(tmp_path / "root", server.url("/t.tar"), retries=1)
    assert caught.value.problem.code is Code.ARCHIVE_CORRUPT and "ends inside" in caught.value.problem.message
    kept = on_disk(tmp_path / "root/sam/images")
    assert kept and all(jpgs(members)[name] == data for name, data in kept.items())
    assert len(kept) < len(jpgs(members))


@pytest.mark.parametrize("junk", [b"junk\n", b"\x1f\x8bjunk\n", b"\0" * 700 + b"x"],
                         ids=["not-gzip", "a-gzip-signature-then-not-gzip", "zeros-then-junk"])
def test_garbage_after_the_gzip_data_of_a_whole_tar_is_ignored_with_a_warning(tmp_path: Path, served: Any,
                                                                              junk: bytes) -> None:
    """``gzip -c a.tar > g.tgz; echo junk >> g.tgz``: GNU tar extracts every member (gzip warns of
    trailing garbage) and extract_archive takes it; the streamed path called it damaged, and the
    user downloaded the tar again, with the same result."""
    docroot, server = served
    members = sam_members(3, 3000)
    tar = write_tar(tmp_path / "plain.tar", members).read_bytes()
    (docroot / "t.tar").write_bytes(gzip.compress(tar) + junk)
    (tmp_path / "dl.tar").write_bytes(gzip.compress(tar) + junk)
    result, rec = stream(tmp_path / "root", server.url("/t.tar"), retries=1)
    assert result.written == 3 and on_disk(tmp_path / "root/sam/images") == jpgs(members)
    assert any("is not gzip; ignored" in t for t in rec.logs())
    ctx, rec2 = make_ctx(tmp_path / "root2", fast_settings(min_free_bytes=0))
    try:
        downloaded = extract_archive(ctx, tmp_path / "dl.tar", "tar", tmp_path / "root2/sam/images", SAM)
    finally:
        ctx.journal.close()
    assert downloaded.written == 3 and on_disk(tmp_path / "root2/sam/images") == jpgs(members)
    assert any("data after the end-of-archive marker" in t and "ignored" in t for t in rec2.logs())


def test_garbage_after_a_gzip_member_before_the_tars_end_is_damage(tmp_path: Path, served: Any) -> None:
    docroot, server = served
    members = sam_members(6, 3000)
    tar = write_tar(tmp_path / "plain.tar", members).read_bytes()
    cut = sorted(boundaries(tmp_path / "plain.tar"))[3]  # the tar goes on after the junk
    (docroot / "t.tar").write_bytes(gzip.compress(tar[:cut]) + b"not gzip at all" + gzip.compress(tar[cut:]))
    with pytest.raises(SetupError) as caught:
        stream(tmp_path / "root", server.url("/t.tar"), retries=1)
    assert caught.value.problem.code is Code.ARCHIVE_CORRUPT
    assert "before the tar's end-of-archive marker" in caught.value.problem.message


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_a_fifo_or_link_at_a_member_index_is_neither_waited_on_nor_followed(kind: str, tmp_path: Path) -> None:
    """A FIFO planted at ``index/sa_NNNNNN.tar.members.tsv`` hung every plan that read the index."""
    import threading

    index = tmp_path / "root/.sharegpt4v-setup/index"
    index.mkdir(parents=True)
    (index / "sa_000001.tar.members.tsv").write_text("sa_1.jpg\t0\t10\n#complete\n")
    planted = index / "sa_000002.tar.members.tsv"
    outside = tmp_path / "outside.tsv"
    outside.write_text("sa_2.jpg\t0\t10\n#complete\n")
    if kind == "fifo":
        os.mkfifo(planted)
    else:
        planted.symlink_to(outside)
    found: list[Any] = []
    reader = threading.Thread(target=lambda: found.append(read_member_index(tmp_path / "root", Layout())),
                              daemon=True)
    reader.start()
    reader.join(30)  # a hang guard, not a timing threshold: the read must not wait on the FIFO at all
    assert found, "reading the member index waited on the planted FIFO"
    assert found[0].complete == {"sa_000001.tar"}  # the planted file is skipped, the real one read
    assert outside.read_text() == "sa_2.jpg\t0\t10\n#complete\n"


def test_a_bzip2_tar_falls_back_to_download_then_extract(tmp_path: Path) -> None:
    import bz2

    world = build_world(tmp_path / "doc")
    tar = world.docroot / "sam/sa_000003.tar"
    tar.write_bytes(bz2.compress(tar.read_bytes()))
    with MirrorServer(world.docroot) as server:
        catalog = world.write_catalog(server.base_url, tmp_path / "cat.toml")
        links = world.sam_links_file(server.base_url, tmp_path / "links.tsv")
        rec = Recorder()
        result = run_sam(catalog, tmp_path / "root", links, rec)
        assert result.ok
        assert len(gets(server, "/sam/sa_000003.tar")) == 2  # the stream gave up at the bzip2 magic
    assert tree_of(tmp_path / "root") == world.expected_tree(["sam-tars"])
    assert any("sa_000003.tar is bzip2-compressed: downloading it first" in t for t in rec.logs())


@pytest.mark.parametrize("size", [40_000, 100_000], ids=["small", "past-one-chunk"])
def test_a_dropped_gzip_tar_is_read_again_and_finished_members_are_kept(served: Any, tmp_path: Path,
                                                                        size: int) -> None:
    docroot, server = served
    members = sam_members(24, size)
    body = gzip.compress(write_tar(tmp_path / "raw.tar", members).read_bytes(), compresslevel=1)
    (docroot / "t.tar").write_bytes(body)
    server.add_fault("/t.tar", Fault(drop_after=len(body) // 2))
    root = tmp_path / "root"
    result, rec = stream(root, server.url("t.tar"))
    assert on_disk(root / "sam/images") == jpgs(members)
    first, second = settled_requests(server, 2)
    assert "Range" not in first.headers and "Range" not in second.headers  # gzip cannot resume mid-way
    assert result.written + result.skipped == 24 and result.skipped > 0  # the first half was not rewritten
    assert any("cannot resume mid-way" in t for t in rec.logs())


# -- resume ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT], ids=["gnu", "pax"])
def test_a_drop_mid_tar_resumes_from_a_member_boundary(served: Any, tmp_path: Path, fmt: int) -> None:
    docroot, server = served
    members = sam_members(24, 40_000, long_every=1)  # every member behind a longname/pax header
    tar = write_tar(docroot / "t.tar", members, fmt)
    size = tar.stat().st_size
    server.add_fault("/t.tar", Fault(drop_after=size // 2))
    root = tmp_path / "root"
    result, rec = stream(root, server.url("t.tar"))
    assert on_disk(root / "sam/images") == jpgs(members)
    assert (result.written, result.skipped) == (24, 0)  # nothing written twice
    first, second = settled_requests(server, 2)
    assert "Range" not in first.headers
    start = int(second.headers["Range"].removeprefix("bytes=").removesuffix("-"))
    assert 0 < start <= size // 2 and start in boundaries(tar)
    assert second.headers["If-Range"] and second.status == 206 and second.sent == size - start
    assert any("resuming from byte" in t for t in rec.logs())


def test_a_later_call_resumes_from_the_journal_and_keeps_finished_members(served: Any, tmp_path: Path) -> None:
    docroot, server = served
    members = sam_members(20, 30_000)
    tar = write_tar(docroot / "t.tar", members)
    size = tar.stat().st_size
    server.add_fault("/t.tar", Fault(drop_after=size * 2 // 3))
    root = tmp_path / "root"
    with pytest.raises(SetupError) as caught:
        stream(root, server.url("t.tar"), retries=0)
    assert caught.value.problem.code == Code.RETRIES_EXHAUSTED
    state = saved_state(root)
    assert state["offset"] in boundaries(tar) and state["offset"] > 0
    before = {p.name: p.stat().st_ino for p in (root / "sam/images").iterdir()}
    assert 0 < len(before) < 20 and not [n for n in before if n.endswith(".extracting")]

    server.clear_requests()
    result, _ = stream(root, server.url("t.tar"))
    assert [r.headers.get("Range") for r in gets(server, "/t.tar")] == [f"bytes={state['offset']}-"]
    after = {p.name: p.stat().st_ino for p in (root / "sam/images").iterdir()}
    assert all(after[name] == ino for name, ino in before.items())  # finished members not rewritten
    assert on_disk(root / "sam/images") == jpgs(members)
    assert result.written + result.skipped == 20
    assert (read_status(root) or [])[0].info[STATE_KEY] is None  # done: no resume point left behind


def test_a_sign_in_page_answering_the_resume_keeps_the_resume_point_and_says_what_came(
        served: Any, tmp_path: Path) -> None:
    docroot, server = served
    members = sam_members(20, 30_000)
    tar = write_tar(docroot / "t.tar", members)
    server.add_fault("/t.tar", Fault(drop_after=tar.stat().st_size * 2 // 3))
    root = tmp_path / "root"
    with pytest.raises(SetupError):
        stream(root, server.url("t.tar"), retries=0)
    state = saved_state(root)
    portal = b"<!DOCTYPE html><html><head><title>Guest Wi-Fi</title></head><body>Accept the terms</body></html>"
    server.add_fault("/t.tar", Fault(status=200, body=portal, content_type="text/html"))
    with pytest.raises(SetupError) as caught:
        stream(root, server.url("t.tar"))
    assert caught.value.problem.code == Code.NETWORK and "web page" in caught.value.problem.message
    assert saved_state(root)["offset"] == state["offset"]  # the resume point is not given up
    server.clear_requests()
    stream(root, server.url("t.tar"))
    assert [r.headers.get("Range") for r in gets(server, "/t.tar")] == [f"bytes={state['offset']}-"]
    assert on_disk(root / "sam/images") == jpgs(members)


def test_cancel_mid_stream_keeps_the_resume_point(served: Any, tmp_path: Path) -> None:
    docroot, server = served
    members = sam_members(20, 30_000)
    tar = write_tar(docroot / "t.tar", members)
    server.add_fault("/t.tar", Fault(rate=300_000, times=1))
    root = tmp_path / "root"
    images = root / "sam/images"
    control = Control()

    def emit(event: Event) -> None:
        if isinstance(event, Progress) and images.is_dir() and len(os.listdir(images)) >= 4:
            control.cancel()

    ctx = JobContext("test", root, fast_settings(min_free_bytes=0), Journal(root), control, emit)
    with contextlib.closing(ctx.journal), pytest.raises(Cancelled):
        stream_tar(ctx, server.url("t.tar"), "t.tar", images, SAM)
    offset = saved_state(root)["offset"]
    assert offset in boundaries(tar) and 0 < offset < tar.stat().st_size
    server.clear_requests()
    stream(root, server.url("t.tar"))
    assert [r.headers.get("Range") for r in gets(server, "/t.tar")] == [f"bytes={offset}-"]
    assert on_disk(images) == jpgs(members)


def test_a_server_that_ignores_range_still_completes(served: Any, tmp_path: Path) -> None:
    docroot, server = served
    members = sam_members(16, 30_000)
    tar = write_tar(docroot / "t.tar", members)
    server.add_fault("/t.tar", Fault(drop_after=tar.stat().st_size // 2))
    server.add_fault("/t.tar", Fault(ignore_range=True, times=None))
    root = tmp_path / "root"
    result, rec = stream(root, server.url("t.tar"))
    assert on_disk(root / "sam/images") == jpgs(members)
    assert result.skipped > 0 and result.written + result.skipped == 16
    assert [r.status for r in gets(server, "/t.tar")] == [200, 200]
    assert any("ignored the Range request; reading it again from byte 0" in t for t in rec.logs())


def test_a_tar_without_end_blocks_that_ends_at_a_boundary_is_complete(served: Any, tmp_path: Path) -> None:
    docroot, server = served
    members = sam_members(4, 10_000)
    full = write_tar(tmp_path / "full.tar", members)
    end = max(boundaries(full))
    (docroot / "t.tar").write_bytes(full.read_bytes()[:end])
    result, _ = stream(tmp_path / "root", server.url("t.tar"))
    assert result.written == 4


def test_a_truncated_tar_is_retried_then_reported_damaged(served: Any, tmp_path: Path) -> None:
    docroot, server = served
    members = sam_members(8, 10_000)
    full = write_tar(tmp_path / "full.tar", members)
    cut = sorted(boundaries(full))[5] + 700  # inside sa_3.jpg's data ("./", jpg, json, jpg, json, jpg)
    (docroot / "t.tar").write_bytes(full.read_bytes()[:cut])
    root = tmp_path / "root"
    with pytest.raises(SetupError) as caught:
        stream(root, server.url("t.tar"), retries=2)
    assert caught.value.problem.code == Code.ARCHIVE_CORRUPT
    assert len(gets(server, "/t.tar")) == 3
    assert set(on_disk(root / "sam/images")) == {"sa_1.jpg", "sa_2.jpg"}  # before the damage, no partial
    assert saved_state(root)["offset"] in boundaries(full)


def test_unsafe_members_are_refused_like_extract_archive(served: Any, tmp_path: Path) -> None:
    docroot, server = served
    members = [*sam_members(3, 5_000), ("../evil.jpg", b"evil"), ("sub/../../evil2.jpg", b"evil")]
    link = tarfile.TarInfo("./link.jpg")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("./hard.jpg")
    hard.type, hard.linkname = tarfile.LNKTYPE, "../../etc/passwd"  # a hard link to an earlier member is fine
    tar = write_tar(docroot / "t.tar", members, extra=[link, hard])
    root = tmp_path / "root"
    with pytest.raises(SetupError) as streamed:
        stream(root, server.url("t.tar"))
    ctx, _ = make_ctx(tmp_path / "other")
    with pytest.raises(SetupError) as extracted:
        extract_archive(ctx, tar, "tar", tmp_path / "other/sam/images", SAM)
    for caught in (streamed, extracted):
        assert caught.value.problem.code == Code.ARCHIVE_UNSAFE
        assert "refused 4 unsafe member(s)" in caught.value.problem.message
    assert set(on_disk(root / "sam/images")) == {"sa_1.jpg", "sa_2.jpg", "sa_3.jpg"}
    assert on_disk(root / "sam/images") == on_disk(tmp_path / "other/sam/images")
    assert not (tmp_path / "evil.jpg").exists() and not (root / "sam/evil.jpg").exists()


def test_a_compressed_tar_other_than_gzip_is_not_streamed(served: Any, tmp_path: Path) -> None:
    import lzma

    docroot, server = served
    raw = write_tar(tmp_path / "raw.tar", sam_members(2, 1000)).read_bytes()
    (docroot / "t.tar").write_bytes(lzma.compress(raw))
    with pytest.raises(NotStreamable):
        stream(tmp_path / "root", server.url("t.tar"))
    assert on_disk(tmp_path / "root/sam/images") == {}


def test_expired_link_mid_resume_is_reported_as_http_status(served: Any, tmp_path: Path) -> None:
    docroot, server = served
    write_tar(docroot / "t.tar", sam_members(2, 1000))
    server.add_fault("/t.tar", Fault(status=403))
    from wizard.engine.errors import HttpStatusError

    with pytest.raises(HttpStatusError) as caught:
        stream(tmp_path / "root", server.url("t.tar"))
    assert caught.value.status == 403


# -- kill -9 ------------------------------------------------------------------------------------------
def _sam_catalog(tmp_path: Path, size: int) -> Path:
    from wizard.paths import default_catalog_path

    raw = tomllib.loads(default_catalog_path().read_text())
    comp = next(c for c in raw["component"] if c["id"] == "sam-tars")
    comp["approx_extracted"], comp["file_count"] = size, 100
    comp["source"] = [{"kind": "sam-links", "label": "test", "first": 0, "last": 0,
                       "name_format": "sa_{index:06d}.tar", "approx_size": size}]
    raw["component"], raw["preset"] = [comp], []
    path = tmp_path / "sam.toml"
    path.write_text(dumps_toml(raw))
    return path


def _links(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "links.tsv"
    path.write_text(f"file_name\tcdn_link\nsa_000000.tar\t{url}?oe={int(time.time()) + 86400:X}\n")
    return path


@pytest.mark.slow
def test_kill_9_mid_stream_then_rerun_resumes_at_the_journaled_boundary(served: Any, tmp_path: Path) -> None:
    docroot, server = served
    members = sam_members(100, 300_000, seed=7)  # ~30 MB
    tar = write_tar(docroot / "sam/sa_000000.tar", members)
    size = tar.stat().st_size
    catalog, links = _sam_catalog(tmp_path, size), _links(tmp_path, server.url("sam/sa_000000.tar"))
    root, target = tmp_path / "root", tmp_path / "root/sam/images"
    server.add_fault("/sam/", Fault(rate=3_000_000, times=1))
    proc = subprocess.Popen(
        [sys.executable, "-m", "wizard", "run", "--catalog", str(catalog), "--root", str(root), "--components",
         "sam-tars", "--sam-links", str(links), "--min-free", "0", "--yes", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the run ended before the test could interrupt it"
            assert time.monotonic() < deadline, "timed out waiting for a journaled member boundary"
            recs = read_status(root) if (root / ".sharegpt4v-setup/journal.sqlite").exists() else None
            state = (recs[0].info.get(STATE_KEY) if recs else None) or {}
            if state.get("offset", 0) > 0 and len(list(target.glob("*.jpg"))) >= 5:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    recs = read_status(root) or []
    offset = int(recs[0].info[STATE_KEY]["offset"])
    assert offset in boundaries(tar) and 0 < offset < size
    # a member being written at the kill is at its final name but short: the rerun replaces it
    whole = jpgs(members)
    before = {p.name: p.stat().st_ino for p in target.glob("*.jpg") if p.stat().st_size == len(whole[p.name])}
    assert 0 < len(before) < 100

    server.clear_requests()
    result = run_sam(catalog, root, links)
    assert result.ok
    got = settled_requests(server, 1)
    assert [r.headers.get("Range") for r in got] == [f"bytes={offset}-"]
    assert sum(r.sent for r in got) == size - offset < size
    after = {p.name: p.stat().st_ino for p in target.iterdir()}
    assert all(after[name] == ino for name, ino in before.items())
    assert on_disk(target) == jpgs(members)  # no temp files left, every jpg byte-exact
    assert not list((root / ".sharegpt4v-setup/downloads").iterdir())


@pytest.mark.parametrize("sizes", [[7, 7, 7, 7, 7, 7], [1, 2, 3, 1], [512, 10_000, 3], [5000]])
def test_the_body_hands_tarfile_every_byte_once_in_order(tmp_path: Path, sizes: list[int]) -> None:
    """Reads of any size across chunk boundaries give the stream back exactly (the reader keeps an
    offset into its chunk instead of re-slicing it), and the position counts what was handed out."""
    from wizard.engine.readahead import Stream
    from wizard.engine.tarstream import _Body

    data = random.Random(len(sizes)).randbytes(15_000)
    chunks, at = [], 0
    for i in range(10_000):
        n = sizes[i % len(sizes)]
        chunks.append(data[at:at + n])
        at += n
        if at >= len(data):
            break
    ctx, _ = make_ctx(tmp_path / "root")
    body = _Body(ctx, Stream(iter(chunks), 100, 100 + len(data)), 100, 100 + len(data), "sa_000000.tar")
    assert body.peek(600) == data[:600]
    got, reads = [], [1, 511, 512, 9_000, 3, 0, 40_000]
    for n in reads:
        got.append(body.read(n))
        assert len(got[-1]) == min(n, len(data) - sum(map(len, got[:-1])))
        assert body.pos == 100 + sum(map(len, got))
    assert b"".join(got) == data
    assert body.read(10) == b"" and body.eof


def test_a_body_that_ends_early_says_where(tmp_path: Path) -> None:
    from wizard.engine.readahead import Stream
    from wizard.engine.tarstream import _Body

    ctx, _ = make_ctx(tmp_path / "root")
    body = _Body(ctx, Stream(iter([b"x" * 300, b"y" * 300]), 0, 1000), 0, 1000, "sa_000000.tar")
    assert body.read(250) == b"x" * 250
    with pytest.raises(Exception, match="ended at byte 600 of 1,000"):
        body.read(1000)


@pytest.mark.parametrize("junk", [1, 200_000], ids=["short", "longer-than-a-read"])
@pytest.mark.parametrize("packed", [False, True])
def test_data_after_the_end_marker_is_ignored_when_streamed_as_when_downloaded(served: Any, tmp_path: Path,
                                                                               packed: bool, junk: int) -> None:
    """GNU tar (``tar -tf``) lists such a tar and exits 0, and extract_archive takes it; the
    streamed path called it damaged."""
    docroot, server = served
    members = sam_members(3, 3000)
    tar = write_tar(tmp_path / "plain.tar", members).read_bytes() + bytes(range(1, 256)) * junk
    (tmp_path / "dl.tar").write_bytes(tar)
    (docroot / "t.tar").write_bytes(gzip.compress(tar) if packed else tar)
    result, rec = stream(tmp_path / "root", server.url("/t.tar"), retries=1)
    assert result.written == 3 and on_disk(tmp_path / "root/sam/images") == jpgs(members)
    assert any("data after the end-of-archive marker" in t and "ignored" in t for t in rec.logs())
    ctx, rec2 = make_ctx(tmp_path / "root2", fast_settings(min_free_bytes=0))
    try:
        downloaded = extract_archive(ctx, tmp_path / "dl.tar", "tar", tmp_path / "root2/sam/images", SAM)
    finally:
        ctx.journal.close()
    assert downloaded.written == result.written and on_disk(tmp_path / "root2/sam/images") == jpgs(members)
    assert any("data after the end-of-archive marker" in t and "ignored" in t for t in rec2.logs())


def test_a_hard_link_to_an_earlier_member_is_extracted_when_streamed(served: Any, tmp_path: Path) -> None:
    docroot, server = served
    members = sam_members(2, 3000)
    link = tarfile.TarInfo("./sa_3.jpg")
    link.type, link.linkname = tarfile.LNKTYPE, "./sa_1.jpg"
    write_tar(docroot / "t.tar", members, extra=[link])
    result, _ = stream(tmp_path / "root", server.url("/t.tar"), retries=1)
    images = tmp_path / "root/sam/images"
    assert result.written == 3 and (images / "sa_3.jpg").read_bytes() == jpgs(members)["sa_1.jpg"]


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_a_name_given_twice_in_a_streamed_tar_keeps_its_last_copy(served: Any, tmp_path: Path, packed: bool) -> None:
    """Two members of one name, same size and time, other bytes: GNU tar leaves the last; the
    streamed pass wrote the first and skipped the second as 'already there'."""
    docroot, server = served
    members = sam_members(3, 3000)
    name, data = members[0]
    again = (name, bytes(b ^ 0xFF for b in data))
    tar = write_tar(tmp_path / "plain.tar", [*members, again]).read_bytes()
    (docroot / "t.tar").write_bytes(gzip.compress(tar) if packed else tar)
    stream(tmp_path / "root", server.url("/t.tar"))
    assert on_disk(tmp_path / "root/sam/images") == jpgs([*members, again])
