"""Reading single members of a remote zip through HTTP ranges (repair's cheap path)."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
import requests
from helpers import make_ctx

from wizard.demo.server import Fault, MirrorServer
from wizard.engine.catalog import Layout
from wizard.engine.extract import extract_archive
from wizard.engine.net.rangefile import HttpRangeFile, RangeNotSupported


def _zip(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    members = {f"train2017/{n:012d}.jpg": b"\xff\xd8\xff" + os.urandom(50_000) + b"\xff\xd9" for n in range(60)}
    path = tmp_path / "doc" / "train2017.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path, members


def test_extracts_only_wanted_members_with_few_bytes(tmp_path: Path) -> None:
    path, members = _zip(tmp_path)
    wanted = {"000000000007.jpg", "000000000042.jpg", "not-in-archive.jpg"}
    with MirrorServer(path.parent) as srv, requests.Session() as session:
        remote = HttpRangeFile(session, srv.url("train2017.zip"), block=64 * 1024)
        ctx, _ = make_ctx(tmp_path / "root")
        dest = tmp_path / "root" / "coco" / "train2017"
        result = extract_archive(ctx, Path("train2017.zip"), "zip", dest, Layout(strip="train2017/"),
                                 only=wanted, fileobj=io.BufferedReader(remote, 64 * 1024))
        sent = sum(r.sent for r in srv.requests)
    assert sorted(p.name for p in dest.iterdir()) == ["000000000007.jpg", "000000000042.jpg"]
    assert (dest / "000000000042.jpg").read_bytes() == members["train2017/000000000042.jpg"]
    assert result.written == 2 and result.found == {"000000000007.jpg", "000000000042.jpg"}
    assert sent < path.stat().st_size / 4  # a few blocks, not the archive


def test_server_ignoring_range_is_detected(tmp_path: Path) -> None:
    path, _ = _zip(tmp_path)
    with MirrorServer(path.parent) as srv, requests.Session() as session:
        srv.add_fault("train2017.zip", Fault(ignore_range=True, times=None))
        with pytest.raises(RangeNotSupported):
            HttpRangeFile(session, srv.url("train2017.zip"))


def test_file_changing_upstream_midway_is_detected(tmp_path: Path) -> None:
    path, _ = _zip(tmp_path)
    with MirrorServer(path.parent) as srv, requests.Session() as session:
        remote = HttpRangeFile(session, srv.url("train2017.zip"), block=4096)
        remote.read(10)
        srv.add_fault("train2017.zip", Fault(etag='"changed"', times=None))
        remote.seek(100_000)
        with pytest.raises(RangeNotSupported):
            remote.read(10)


def test_a_central_directory_too_large_to_hold_is_not_read_remotely(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """zipfile reads a zip's central directory in one read of the size the zip declares: a hostile or
    broken server could name any size and the app would ask for it and hold it in memory. A read
    over ``MAX_READ`` (here lowered to 64 KiB) is refused before it is requested; the layout probe
    then leaves the check to the downloaded file."""
    from wizard.engine.layoutprobe import NoRange, remote_names
    from wizard.engine.net import rangefile

    path = tmp_path / "doc" / "images.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for n in range(2000):  # ~2000 x 110 bytes of directory: ~220 KB
            zf.writestr(f"llava/llava_pretrain/images/{n // 1000:05d}/{n:09d}_with_a_longish_name.jpg", b"x")
    monkeypatch.setattr(rangefile, "MAX_READ", 64 * 1024)
    with MirrorServer(path.parent) as srv, requests.Session() as session:
        with pytest.raises(NoRange, match="not made remotely"):
            remote_names(session, srv.url("images.zip"), {}, tail=16 * 1024)
        asked = [r.headers.get("Range", "") for r in srv.requests]
    spans = [int(b) - int(a) + 1 for a, b in (r.removeprefix("bytes=").split("-") for r in asked if "=-" not in r)]
    assert asked and all(span <= 64 * 1024 for span in spans), asked
