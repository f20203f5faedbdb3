"""A zip of many small members (each created at its final name): member-level resume after a
cancel, damage reported with its member, nothing half-written left."""

from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path

import pytest
from helpers import make_ctx

from wizard.engine.catalog import Layout
from wizard.engine.control import Control
from wizard.engine.errors import Cancelled, Code, SetupError
from wizard.engine.extract import ExtractResult, extract_archive

COUNT = 600


def many(path: Path, count: int = COUNT) -> dict[str, bytes]:
    members = {f"train2017/{i:012d}.jpg": os.urandom(200 + i % 700) + bytes(i % 3000) for i in range(count)}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return {name.split("/", 1)[1]: data for name, data in members.items()}


def on_disk(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}


def run(root: Path, archive: Path, control: Control | None = None) -> ExtractResult:
    ctx, _ = make_ctx(root, control=control)
    try:
        return extract_archive(ctx, archive, "zip", root / "coco/train2017", Layout(strip="train2017/"))
    finally:
        ctx.journal.close()


def test_many_members_are_written_once_and_skipped_on_a_rerun(tmp_path: Path) -> None:
    expected = many(tmp_path / "a.zip")
    result = run(tmp_path / "root", tmp_path / "a.zip")
    assert (result.written, result.skipped, result.bytes_written) == (COUNT, 0, sum(map(len, expected.values())))
    assert on_disk(tmp_path / "root/coco/train2017") == expected
    again = run(tmp_path / "root", tmp_path / "a.zip")
    assert (again.written, again.skipped) == (0, COUNT)


class CancelAfter(Control):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.left = n
        self.lock = threading.Lock()

    def checkpoint(self) -> None:
        with self.lock:
            self.left -= 1
            if self.left <= 0:
                self.cancel()
        super().checkpoint()


def test_a_cancel_keeps_whole_members_and_a_rerun_finishes(tmp_path: Path) -> None:
    expected = many(tmp_path / "a.zip")
    with pytest.raises(Cancelled):
        run(tmp_path / "root", tmp_path / "a.zip", CancelAfter(COUNT))
    folder = tmp_path / "root/coco/train2017"
    partial = on_disk(folder)
    assert 0 < len(partial) < COUNT
    assert all(expected[name] == data for name, data in partial.items())  # no half-written file
    result = run(tmp_path / "root", tmp_path / "a.zip")
    assert (result.written, result.skipped) == (COUNT - len(partial), len(partial))
    assert on_disk(folder) == expected


@pytest.mark.parametrize("where", ["early", "late"])
def test_damage_names_its_member_and_leaves_no_part_of_it(tmp_path: Path, where: str) -> None:
    archive = tmp_path / "a.zip"
    members = {f"{i:04d}.jpg": os.urandom(3000) for i in range(COUNT)}
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    victim = "0100.jpg" if where == "early" else "0500.jpg"
    blob = bytearray(archive.read_bytes())
    at = blob.index(members[victim]) + 100
    blob[at:at + 4] = b"XXXX"
    archive.write_bytes(bytes(blob))
    root = tmp_path / "root"
    ctx, _ = make_ctx(root)
    with pytest.raises(SetupError) as caught:
        extract_archive(ctx, archive, "zip", root / "out", Layout())
    ctx.journal.close()
    assert caught.value.problem.code == Code.ARCHIVE_CORRUPT and victim in caught.value.problem.message
    names = set(os.listdir(root / "out"))
    assert victim not in names and not any(n.endswith(".extracting") for n in names)


@pytest.mark.parametrize("damage", ["local-name", "deflate-data", "crc", "size"])
def test_small_members_read_in_one_go_are_checked_like_zipfile(tmp_path: Path, damage: str) -> None:
    """Small members skip zipfile's reader; the local header's name, the deflate stream and the
    CRC-32 are still checked, and damage is archive-corrupt naming the member."""
    archive = tmp_path / "a.zip"
    data = b"a caption-like text member " * 200
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok.jpg", b"fine" * 100)
        zf.writestr("bad.jpg", data)
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("bad.jpg")
    blob = bytearray(archive.read_bytes())
    local = info.header_offset
    if damage == "local-name":
        blob[local + 30:local + 37] = b"BAD.jpg"
    elif damage == "deflate-data":
        blob[local + 30 + 7:local + 30 + 7 + 8] = b"\xff" * 8
    elif damage == "crc":  # the central directory's CRC-32 of bad.jpg no longer matches its bytes
        central = blob.rindex(b"PK\x01\x02", 0, blob.rindex(b"bad.jpg"))
        blob[central + 16:central + 20] = (info.CRC ^ 0xFFFF).to_bytes(4, "little")
    else:  # it declares 100 bytes: inflating stops one byte past that, and it is refused
        central = blob.rindex(b"PK\x01\x02", 0, blob.rindex(b"bad.jpg"))
        blob[central + 24:central + 28] = (100).to_bytes(4, "little")
    archive.write_bytes(bytes(blob))
    root = tmp_path / "root"
    ctx, _ = make_ctx(root)
    with pytest.raises(SetupError) as caught:
        extract_archive(ctx, archive, "zip", root / "out", Layout())
    ctx.journal.close()
    problem = caught.value.problem
    assert problem.code == Code.ARCHIVE_CORRUPT and "bad.jpg" in problem.message
    assert sorted(os.listdir(root / "out")) == ["ok.jpg"]


def test_a_name_twice_in_a_new_folder_the_last_one_wins(tmp_path: Path) -> None:
    """In a folder the extraction created, members skip the completeness check; a name given
    twice is written once, from its last entry, as unzip leaves it (the first copy of the same
    size was kept before, as 'already there')."""
    archive = tmp_path / "a.zip"
    with pytest.warns(UserWarning), zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("d/same.jpg", b"one")
        zf.writestr("d/other.jpg", b"short")
        zf.writestr("d/same.jpg", b"two")
        zf.writestr("d/other.jpg", b"much longer")
    root = tmp_path / "root"
    ctx, _ = make_ctx(root)
    try:
        result = extract_archive(ctx, archive, "zip", root / "out", Layout())
    finally:
        ctx.journal.close()
    assert (result.written, result.skipped, result.ignored) == (2, 0, 2)
    assert on_disk(root / "out/d") == {"same.jpg": b"two", "other.jpg": b"much longer"}
