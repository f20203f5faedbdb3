"""Archives written by other tools, and hostile ones, through extract_archive: each ends in an
exact layout or a coded problem (session 8's sweep; the older cases are in test_extract*.py and
test_hostile_archives.py)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import make_ctx

from wizard.engine.catalog import Layout
from wizard.engine.errors import Code, SetupError
from wizard.engine.extract import extract_archive
from wizard.engine.sizes import recorded_sizes


def test_a_zip_member_with_an_empty_or_dot_path_component_lands_at_its_plain_path(tmp_path: Path) -> None:
    """``unzip`` writes ``train2017//1.jpg`` to ``train2017/1.jpg``; so does the extraction. (It
    refused ``train2017//…`` as an absolute path once ``train2017/`` was stripped, and stopped at
    ``train2017/./sub//./…`` with FileNotFoundError: the small-member writer opens folders name by
    name and met an empty one.)"""
    archive = tmp_path / "train2017.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("train2017//000000000009.jpg", b"nine")
        zf.writestr("train2017/./sub//./000000000025.jpg", b"twenty-five")
        zf.writestr("train2017/000000000030.jpg", b"thirty")
    ctx, _rec = make_ctx(tmp_path / "root")
    dest = tmp_path / "root" / "coco" / "train2017"
    result = extract_archive(ctx, archive, "zip", dest, Layout(strip="train2017/"))
    assert result.written == 3
    found = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    assert found == {"000000000009.jpg": b"nine", "sub/000000000025.jpg": b"twenty-five",
                     "000000000030.jpg": b"thirty"}


def _sa1b_tar(count: int) -> bytes:
    """An SA-1B-like tar (flat sa_N.jpg and sa_N.json) of ``count`` images."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for i in range(count):
            for name, data in ((f"sa_{i}.jpg", bytes([i]) * 3000), (f"sa_{i}.json", b"{}")):
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), 1_600_000_000
                tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress, lambda b: b],
                         ids=["gzip", "bzip2", "xz", "plain"])
@pytest.mark.parametrize("damage", ["garbled header", "cut inside a header"])
def test_a_compressed_tar_whose_members_end_at_a_bad_header_is_damaged(
        tmp_path: Path, compress: Callable[[bytes], bytes], damage: str) -> None:
    """``tar cf - | gzip`` with tar killed mid-way gives a valid gzip stream holding a tar cut
    inside a header; tarfile ends its member list there quietly (it also does at a header whose
    checksum is wrong). A plain tar was checked for this; a compressed one was taken as complete
    with the members before the bad header only."""
    whole = _sa1b_tar(4)
    third = 2 * (512 + 3072 + 512 + 512)  # the header of sa_2.jpg
    if damage == "garbled header":
        tar = bytearray(whole)
        tar[third + 148:third + 156] = b"garbage!"  # its checksum
    else:
        tar = bytearray(whole[:third + 100])
    archive = tmp_path / "sa_000000.tar"
    archive.write_bytes(compress(bytes(tar)))
    ctx, _rec = make_ctx(tmp_path / "root")
    dest = tmp_path / "root" / "sam" / "images"
    with pytest.raises(SetupError) as caught:
        extract_archive(ctx, archive, "tar", dest, Layout(include=("*.jpg",), flatten=True))
    assert caught.value.problem.code is Code.ARCHIVE_CORRUPT
    assert f"byte {third}" in str(caught.value).replace(",", "")
    assert sorted(p.name for p in dest.iterdir()) == ["sa_0.jpg", "sa_1.jpg"]  # whole members are kept


def zstd_frame(data: bytes) -> bytes:
    """``data`` as a zstd frame of raw (stored) blocks: what ``zstd -d`` reads, made without zstd."""
    out = bytearray(b"\x28\xb5\x2f\xfd" + bytes([0xA0]) + len(data).to_bytes(4, "little"))  # one segment, size
    pieces = [data[i:i + (1 << 17)] for i in range(0, len(data), 1 << 17)]
    for n, piece in enumerate(pieces):
        out += (len(piece) << 3 | (n == len(pieces) - 1)).to_bytes(3, "little") + piece  # raw block
    return bytes(out)


def test_a_zstd_tar_is_unsupported_not_damaged(tmp_path: Path) -> None:
    """Python 3.11's tarfile cannot read zstd: that is no damage (the pipeline would set the tar
    aside and download it again, to fail the same way), it is ``archive-unsupported``."""
    archive = tmp_path / "sa_000000.tar"
    archive.write_bytes(zstd_frame(_sa1b_tar(2)))
    ctx, _rec = make_ctx(tmp_path / "root")
    with pytest.raises(SetupError) as caught:
        extract_archive(ctx, archive, "tar", tmp_path / "root" / "sam" / "images",
                        Layout(include=("*.jpg",), flatten=True))
    assert caught.value.problem.code is Code.ARCHIVE_UNSUPPORTED
    assert "zstd" in str(caught.value) and "--local" in caught.value.problem.hint


def test_a_member_nested_thousands_of_folders_deep_is_refused(tmp_path: Path) -> None:
    """Making its folders recursed past Python's limit (os.makedirs): a RecursionError, reported
    as 'cannot be extracted here: maximum recursion depth exceeded' with no member named."""
    archive = tmp_path / "train2017.zip"
    deep = "train2017/" + "d/" * 2100 + "000000000009.jpg"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("train2017/000000000025.jpg", b"twenty-five")
        zf.writestr(deep, b"nine")
    ctx, _rec = make_ctx(tmp_path / "root")
    dest = tmp_path / "root" / "coco" / "train2017"
    with pytest.raises(SetupError) as caught:
        extract_archive(ctx, archive, "zip", dest, Layout(strip="train2017/"))
    assert caught.value.problem.code is Code.ARCHIVE_UNSAFE
    assert "folders deep" in str(caught.value)
    assert [p.name for p in dest.iterdir()] == ["000000000025.jpg"]


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_a_file_of_the_members_size_but_not_its_content_is_replaced(tmp_path: Path, kind: str) -> None:
    """A file already at a member's name with the member's size was taken as the member
    (resume skips by size), whatever its content: the user's own copy, another version. An
    extraction sets each file's mtime to the member's: size and mtime together (rsync's quick
    check) tell a file this extraction wrote from another; a rerun still skips every member."""
    small, big = b"s" * 3000, bytes(range(256)) * 8192  # big: past one chunk, a temp name renamed
    members = {"train2017/000000000009.jpg": small, "train2017/000000000025.jpg": big}
    archive = tmp_path / f"train2017.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for name, data in members.items():
                zf.writestr(zipfile.ZipInfo(name, (2017, 9, 1, 12, 0, 0)), data)
    else:
        with tarfile.open(archive, "w") as tf:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), 1_504_267_200
                tf.addfile(info, io.BytesIO(data))
    ctx, _rec = make_ctx(tmp_path / "root")
    dest = tmp_path / "root" / "coco" / "train2017"
    dest.mkdir(parents=True)
    for name, data in members.items():  # same sizes, other bytes, the time they were copied
        (dest / name.split("/")[1]).write_bytes(b"u" * len(data))
    layout = Layout(strip="train2017/")
    first = extract_archive(ctx, archive, kind, dest, layout)
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == {n.split("/")[1]: d for n, d in members.items()}
    assert (first.written, first.skipped) == (2, 0)
    again = extract_archive(ctx, archive, kind, dest, layout)
    assert (again.written, again.skipped) == (0, 2)


def test_a_target_folder_linked_to_another_disk_keeps_its_size_ledger(tmp_path: Path) -> None:
    """A user who links ``coco/train2017`` to a bigger disk gets the files there (the link is
    theirs); the sizes verify compares them with were dropped as 'outside the root', so verify lost
    its size check for that folder without a word."""
    archive = tmp_path / "train2017.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("train2017/000000000009.jpg", b"nine" * 100)
        zf.writestr("train2017/000000000025.jpg", b"twenty-five")
    root = tmp_path / "root"
    ctx, _rec = make_ctx(root)
    (root / "coco").mkdir()
    (tmp_path / "bigdisk").mkdir()
    (root / "coco" / "train2017").symlink_to(tmp_path / "bigdisk")
    result = extract_archive(ctx, archive, "zip", root / "coco" / "train2017", Layout(strip="train2017/"))
    assert result.written == 2 and sorted(os.listdir(tmp_path / "bigdisk")) == ["000000000009.jpg", "000000000025.jpg"]
    assert recorded_sizes(root, "coco/train2017", {"000000000009.jpg", "000000000025.jpg"}) == {
        "000000000009.jpg": "400", "000000000025.jpg": "11"}


def test_macos_finder_metadata_is_never_extracted_nor_fools_the_prefix_check(tmp_path: Path) -> None:
    """A zip made with Finder holds ``__MACOSX/<path>/._<name>`` for every file, and a tar made on
    macOS ``._<name>`` beside it. With ``--full-archives`` (no annotation subset) they landed as
    junk images, and the ``__MACOSX/`` copy of the inner folder made the prefix check see two
    candidate prefixes and fail the job."""
    from wizard.engine.layoutprobe import check_layout

    layout = Layout(strip="train_images/", include=("*.jpg",))
    archive = tmp_path / "train_val_images.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("a.jpg", "b.jpg"):
            zf.writestr(f"train_val_images/train_images/{name}", name.encode())
            zf.writestr(f"__MACOSX/train_val_images/train_images/._{name}", b"\0\5\26\7 AppleDouble")
        zf.writestr("train_val_images/train_images/._c.jpg", b"\0\5\26\7 AppleDouble")
    names = zipfile.ZipFile(archive).namelist()
    verdict = check_layout(names, layout, archive.name)
    assert verdict.adapted and verdict.layout.strip == "train_val_images/train_images/"
    ctx, _rec = make_ctx(tmp_path / "root")
    dest = tmp_path / "root" / "textvqa" / "train_images"
    result = extract_archive(ctx, archive, "zip", dest, verdict.layout)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == ["a.jpg", "b.jpg"]
    assert result.written == 2

    tar = tmp_path / "images.tar"
    with tarfile.open(tar, "w") as tf:
        for name, data in (("images/._a.jpg", b"\0\5\26\7"), ("images/a.jpg", b"a"), ("images/__MACOSX/x.jpg", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    dest = tmp_path / "root" / "other"
    extract_archive(ctx, tar, "tar", dest, Layout(flatten=True, include=("*.jpg",)))
    assert sorted(p.name for p in dest.iterdir()) == ["a.jpg"]


@pytest.mark.parametrize("key", ["path", "linkpath"])
def test_a_pax_name_with_a_nul_is_refused_not_a_crash(tmp_path: Path, key: str) -> None:
    """A pax header may carry any bytes in ``path`` or ``linkpath``; a NUL made tarfile's filter
    raise ValueError ("embedded null byte"), which ended the job as an internal error."""
    archive = tmp_path / "nul.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in (("ok.jpg", b"ok"), ("bad.jpg", b"bad")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if name == "bad.jpg":
                if key == "linkpath":
                    info.type, info.size = tarfile.LNKTYPE, 0
                info.pax_headers = {key: "x\x00y.jpg"}
            tf.addfile(info, io.BytesIO(data))
    ctx, _rec = make_ctx(tmp_path / "root")
    dest = tmp_path / "root" / "t"
    with pytest.raises(SetupError) as caught:
        extract_archive(ctx, archive, "tar", dest, Layout())
    assert caught.value.problem.code is Code.ARCHIVE_UNSAFE and "NUL" in caught.value.problem.message
    assert [p.name for p in dest.iterdir()] == ["ok.jpg"]


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_a_file_member_at_the_name_of_a_folder_the_archive_made_is_refused(tmp_path: Path, kind: str) -> None:
    """``x/a.jpg`` then a file ``x``: the extraction ended with IsADirectoryError (path-blocked,
    "move it aside", which the next run ran into again) and the members after it were not written."""
    archive = tmp_path / f"clash.{kind}"
    members = (("x/a.jpg", b"1"), ("x", b"2"), ("y.jpg", b"3"))
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for name, data in members:
                zf.writestr(name, data)
    else:
        with tarfile.open(archive, "w") as tf:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    ctx, _rec = make_ctx(tmp_path / "root")
    dest = tmp_path / "root" / "t"
    with pytest.raises(SetupError) as caught:
        extract_archive(ctx, archive, kind, dest, Layout())
    assert caught.value.problem.code is Code.ARCHIVE_UNSAFE and "x (a folder" in caught.value.problem.message
    assert (dest / "x/a.jpg").read_bytes() == b"1" and (dest / "y.jpg").read_bytes() == b"3"


@pytest.mark.parametrize("size", [3000, 8192 * 256], ids=["small", "past-one-chunk"])
@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_a_name_given_twice_keeps_its_last_copy_as_tar_and_unzip_do(tmp_path: Path, kind: str, size: int) -> None:
    """Two entries of one name, same size and time, other bytes: GNU tar and unzip leave the
    last; the extraction wrote the first and then skipped the second as 'already there'. A
    rerun keeps the last copy and writes nothing again (small members)."""
    first_copy, last_copy = b"a" * size, b"b" * size
    names = [("train2017/000000000009.jpg", first_copy), ("train2017/000000000025.jpg", b"x" * 10),
             ("train2017/000000000009.jpg", last_copy)]
    archive = tmp_path / f"train2017.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
            for name, data in names:
                zf.writestr(zipfile.ZipInfo(name, (2017, 9, 1, 12, 0, 0)), data)
    else:
        with tarfile.open(archive, "w:gz" if kind == "tar.gz" else "w") as tf:
            for name, data in names:
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), 1_504_267_200
                tf.addfile(info, io.BytesIO(data))
    ctx, _rec = make_ctx(tmp_path / "root")
    dest = tmp_path / "root" / "coco" / "train2017"
    layout = Layout(strip="train2017/")
    extract_archive(ctx, archive, "zip" if kind == "zip" else "tar", dest, layout)
    want = {"000000000009.jpg": last_copy, "000000000025.jpg": b"x" * 10}
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == want
    again = extract_archive(ctx, archive, "zip" if kind == "zip" else "tar", dest, layout)
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == want
    if size == 3000:
        assert again.written == 0


@pytest.mark.parametrize("kind", ["zip", "tar"])
@pytest.mark.parametrize("folds", [True, False], ids=["case-folding", "case-sensitive"])
def test_names_that_differ_only_in_case_are_named_once_on_a_case_folding_target(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, folds: bool) -> None:
    """``A.jpg`` and ``a.jpg`` in one archive on an exFAT USB disk or a macOS volume: one file
    stayed, without a word, and verify called the other missing on every run. The filesystem
    probe (``fsinfo.folds_case``, checked by hand on an exFAT mount) is simulated here."""
    from wizard.engine import extract as extract_mod

    probed: list[str] = []

    def probe(path: object) -> bool:
        probed.append(str(path))
        return folds

    monkeypatch.setattr(extract_mod, "folds_case", probe)
    members = [("train2017/A.jpg", b"upper"), ("train2017/a.jpg", b"lower"), ("train2017/B.jpg", b"b1"),
               ("train2017/b.jpg", b"b2"), ("train2017/c.jpg", b"c")]
    archive = tmp_path / f"train2017.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for name, data in members:
                zf.writestr(name, data)
    else:
        with tarfile.open(archive, "w") as tf:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    ctx, rec = make_ctx(tmp_path / "root")
    dest = tmp_path / "root" / "coco" / "train2017"
    extract_archive(ctx, archive, kind, dest, Layout(strip="train2017/"))
    said = [t for t in rec.logs() if "[case-collision]" in t]
    assert len(probed) == 1  # one probe per extraction
    if folds:
        assert len(said) == 1 and "(A.jpg and a.jpg, maybe more)" in said[0]
        assert "hint: Choose a data root on a case-sensitive filesystem" in said[0]
    else:
        assert said == [] and len(list(dest.iterdir())) == 5


def test_the_real_probe_finds_this_filesystem_case_sensitive(tmp_path: Path) -> None:
    from wizard.engine.fsinfo import folds_case

    (tmp_path / "Images").mkdir()
    assert folds_case(tmp_path / "Images") is False
    (tmp_path / "images").mkdir()  # a case-sensitive filesystem holds both
    assert folds_case(tmp_path / "Images") is False
