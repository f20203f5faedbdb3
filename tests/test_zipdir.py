"""The fast central-directory reader (wizard.engine.zipdir): the same members as zipfile or None
(zipfile then reads the zip), on honest zips, ZIP64 records, prefixed zips and hostile directories;
an extraction of a hostile zip is a coded problem that writes nothing outside the target."""

from __future__ import annotations

import io
import os
import random
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from helpers import make_ctx

from wizard.engine import zipdir
from wizard.engine.catalog import Layout
from wizard.engine.errors import Code, SetupError
from wizard.engine.extract import ExtractResult, extract_archive

WHEN = (2017, 8, 31, 12, 0, 4)


# --- a zip writer that writes whatever it is told --------------------------------------------------


def dos(when: tuple[int, int, int, int, int, int] = WHEN) -> tuple[int, int]:
    y, mo, d, h, mi, s = when
    return (y - 1980) << 9 | mo << 5 | d, h << 11 | mi << 5 | s // 2


def zip64_extra(*values: int) -> bytes:
    return struct.pack(f"<HH{len(values)}Q", 1, 8 * len(values), *values)


def build(members: list[dict[str, object]], *, prefix: bytes = b"", comment: bytes = b"",
          zip64_end: bool = False, count: int | None = None, cd_offset: int | None = None,
          cd_size: int | None = None) -> bytes:
    """A zip from ``members`` (name: bytes, data: bytes, and optionally flags, method, extra
    (central), external, system, offset/size/csize overrides as written in the directory);
    ``zip64_end``: a ZIP64 end record and locator, the classic record saying 0xFFFF/0xFFFFFFFF."""
    out = bytearray(prefix)
    central = bytearray()
    date, clock = dos()
    for m in members:
        name, data = m["name"], m["data"]
        assert isinstance(name, bytes) and isinstance(data, bytes)
        flags, method = int(m.get("flags", 0)), int(m.get("method", 0))  # type: ignore[call-overload]
        stored = zlib.compress(data)[2:-4] if method == 8 else data
        crc = zlib.crc32(data)
        offset = len(out) - len(prefix)
        out += struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, flags, method, clock, date, crc,
                           len(stored), len(data), len(name), 0) + name + stored
        extra = m.get("extra", b"")
        assert isinstance(extra, bytes)
        central += struct.pack(
            "<4s4B4HL2L5H2L", b"PK\x01\x02", 20, int(m.get("system", 3)), 20, 0,  # type: ignore[call-overload]
            flags, method, clock, date, crc, int(m.get("csize", len(stored))),  # type: ignore[call-overload]
            int(m.get("size", len(data))), len(name), len(extra), 0, 0, 0,  # type: ignore[call-overload]
            int(m.get("external", 0o100644 << 16)), int(m.get("offset", offset))) + name + extra  # type: ignore[call-overload]
    start = len(out) - len(prefix)
    out += central
    entries = len(members) if count is None else count
    size = len(central) if cd_size is None else cd_size
    where = start if cd_offset is None else cd_offset
    if zip64_end:
        end64 = len(out) - len(prefix)
        out += struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, size, where)
        out += struct.pack("<4sLQL", b"PK\x06\x07", 0, end64, 1)
        out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, len(comment))
    else:
        out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries & 0xFFFF, entries & 0xFFFF, size, where,
                           len(comment))
    return bytes(out + comment)


def fast(blob: bytes, tmp_path: Path) -> zipdir.Directory | None:
    path = tmp_path / "r.zip"
    path.write_bytes(blob)
    fd = os.open(path, os.O_RDONLY)
    try:
        return zipdir.read_directory(fd, len(blob))
    finally:
        os.close(fd)


def slow(blob: bytes, tmp_path: Path) -> zipdir.Directory:
    path = tmp_path / "z.zip"
    path.write_bytes(blob)
    with zipfile.ZipFile(path) as zf:
        return zipdir.entries_from_zipfile(zf)


def same_as_zipfile(blob: bytes, tmp_path: Path) -> zipdir.Directory:
    """The fast reader's directory, asserted equal to zipfile's."""
    directory = fast(blob, tmp_path)
    assert directory is not None
    expected = slow(blob, tmp_path)
    assert directory.entries == expected.entries and directory.start == expected.start
    return directory


def members(count: int = 3) -> list[dict[str, object]]:
    return [{"name": f"train/{i:03d}.jpg".encode(), "data": bytes([i]) * (100 + i), "method": 8 * (i % 2)}
            for i in range(count)]


# --- the same members as zipfile -----------------------------------------------------------------


def test_a_zip_written_by_zipfile_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "w.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("dir/", WHEN), b"")
        for i in range(50):
            zf.writestr(zipfile.ZipInfo(f"dir/{i}.jpg", WHEN), os.urandom(i * 37))
        zf.writestr("caf\u00e9/\u00e9t\u00e9.jpg", b"utf-8 flagged")
        zf.writestr("stored.txt", b"x" * 1000, compress_type=zipfile.ZIP_STORED)
        zf.comment = b"an archive comment"
    directory = same_as_zipfile(path.read_bytes(), tmp_path)
    assert len(directory.entries) == 53
    assert [e[zipdir.NAME] for e in directory.entries[:2]] == ["dir/", "dir/0.jpg"]


def test_names_without_the_utf8_flag_keep_their_bytes(tmp_path: Path) -> None:
    blob = build([{"name": "\u00e9t\u00e9.jpg".encode(), "data": b"utf-8 bytes, no flag"},
                  {"name": b"\xe9t\xe9.jpg", "data": b"latin-1 bytes"},
                  {"name": "\u00e9.jpg".encode(), "data": b"flagged", "flags": 0x800}])
    directory = same_as_zipfile(blob, tmp_path)
    names = [e[zipdir.NAME] for e in directory.entries]
    assert names == ["\u00e9t\u00e9.jpg", os.fsdecode(b"\xe9t\xe9.jpg"), "\u00e9.jpg"]
    assert [e[zipdir.RAW] for e in directory.entries] == ["\u00e9t\u00e9.jpg".encode(), b"\xe9t\xe9.jpg",
                                                         "\u00e9.jpg".encode()]


@pytest.mark.parametrize("prefix", [b"", b"#!/bin/sh\nexit 0\n" * 10])
@pytest.mark.parametrize("comment", [b"", b"a note", b"c" * 0xFFFF])
def test_end_records_with_prefix_comment_and_zip64(tmp_path: Path, prefix: bytes, comment: bytes) -> None:
    for zip64_end in (False, True):
        blob = build(members(), prefix=prefix, comment=comment, zip64_end=zip64_end)
        directory = same_as_zipfile(blob, tmp_path)
        assert [e[zipdir.OFFSET] >= len(prefix) for e in directory.entries] == [True] * 3


def test_zip64_extra_fields_give_sizes_and_offsets(tmp_path: Path) -> None:
    ms = members(2)
    # the second member's offset from its ZIP64 extra field; the first's sizes too
    first_len = 30 + len(ms[0]["name"]) + len(ms[0]["data"])  # type: ignore[arg-type]
    ms[0].update(size=0xFFFFFFFF, csize=0xFFFFFFFF, extra=zip64_extra(100, 100))
    ms[1].update(offset=0xFFFFFFFF, extra=b"\x0a\x00\x04\x00abcd" + zip64_extra(first_len))
    directory = same_as_zipfile(build(ms, zip64_end=True), tmp_path)
    assert directory.entries[0][zipdir.SIZE] == 100 and directory.entries[1][zipdir.OFFSET] == first_len


def test_a_count_of_0xffff_without_zip64_is_read(tmp_path: Path) -> None:
    """Writers that cap the classic record's count at 0xFFFF: the directory's own end counts."""
    ms = [{"name": f"{i}.jpg".encode(), "data": b"x"} for i in range(0x10001)]
    directory = same_as_zipfile(build(ms, count=0xFFFF), tmp_path)
    assert len(directory.entries) == 0x10001


# --- anything unusual is zipfile's to read -------------------------------------------------------


@pytest.mark.parametrize("case", [
    "count-too-small", "count-too-large", "nul-in-name", "bad-utf8-flagged", "corrupt-extra",
    "short-zip64-extra", "two-zip64-extras", "version-too-new", "spanned", "locator-without-record",
])
def test_unusual_directories_are_left_to_zipfile(tmp_path: Path, case: str) -> None:
    ms = members()
    kwargs: dict[str, object] = {}
    if case == "count-too-small":
        kwargs["count"] = 2
    elif case == "count-too-large":
        kwargs["count"] = 40
    elif case == "nul-in-name":
        ms[1]["name"] = b"a.jpg\x00../../evil"
    elif case == "bad-utf8-flagged":
        ms[1].update(name=b"\xff\xfe.jpg", flags=0x800)
    elif case == "corrupt-extra":
        ms[1]["extra"] = b"\x0a\x00\x40\x00abc"
    elif case == "short-zip64-extra":
        ms[1].update(size=0xFFFFFFFF, csize=0xFFFFFFFF, extra=zip64_extra(5))
    elif case == "two-zip64-extras":
        ms[1]["extra"] = zip64_extra() + zip64_extra()
    blob = build(ms, **kwargs)  # type: ignore[arg-type]
    if case == "version-too-new":
        at = blob.index(b"PK\x01\x02")
        blob = blob[:at + 6] + b"\x64" + blob[at + 7:]  # needs version 10.0
    elif case == "spanned":
        blob = build(ms, zip64_end=True)
        at = blob.rindex(b"PK\x06\x07")
        blob = blob[:at + 16] + struct.pack("<L", 2) + blob[at + 20:]
    elif case == "locator-without-record":
        blob = build(ms, zip64_end=True)
        at = blob.rindex(b"PK\x06\x06")
        blob = blob[:at] + b"XX" + blob[at + 2:]
    assert fast(blob, tmp_path) is None


def test_random_damage_never_reads_differently_from_zipfile(tmp_path: Path) -> None:
    """Bytes of the end records and the directory changed at random (seeded): the reader gives
    zipfile's members or leaves the zip to zipfile; where zipfile refuses it, it never reads it."""
    rng = random.Random(14)
    honest = [build(members(5), comment=b"note"), build(members(5), zip64_end=True, prefix=b"stub" * 5)]
    differed = 0
    for round_ in range(600):
        blob = bytearray(honest[round_ % 2])
        start = blob.index(b"PK\x01\x02")
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(start, len(blob))
            blob[at] = rng.choice([0, 0xFF, rng.randrange(256), blob[at] ^ 1])
        got = fast(bytes(blob), tmp_path)
        try:
            expected: zipdir.Directory | None = slow(bytes(blob), tmp_path)
        except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError):
            expected = None
        if got is None:
            differed += 1
            continue
        assert expected is not None, f"round {round_}: read what zipfile refuses"
        assert (got.entries, got.start) == (expected.entries, expected.start), f"round {round_}"
    assert 0 < differed < 600  # both ways were taken


# --- hostile zips through an extraction: a coded problem, nothing outside ------------------------


def run(tmp_path: Path, blob: bytes) -> ExtractResult:
    archive = tmp_path / "archives" / "hostile.zip"
    archive.parent.mkdir(exist_ok=True)
    archive.write_bytes(blob)
    ctx, _ = make_ctx(tmp_path / "root")
    try:
        return extract_archive(ctx, archive, "zip", tmp_path / "root" / "out", Layout())
    finally:
        ctx.journal.close()


def outside(tmp_path: Path) -> set[str]:
    """Everything under tmp_path but the archive and what is under the root's target."""
    found = set()
    for folder, _dirs, files in os.walk(tmp_path):
        for name in files:
            rel = os.path.relpath(os.path.join(folder, name), tmp_path)
            if not rel.startswith(("archives/", "root/out/", "root/.sharegpt4v-setup/", "r.zip", "z.zip")):
                found.add(rel)
    return found


HOSTILE = {
    # the end record says the directory starts before the file does
    "directory-before-the-file": (build(members(), cd_size=10**6), Code.ARCHIVE_CORRUPT),
    "directory-past-the-end": (build(members(), cd_offset=0xFFFFFF00), Code.ARCHIVE_CORRUPT),
    "truncated-in-the-directory": (build(members())[:-40], Code.ARCHIVE_CORRUPT),
    "truncated-in-the-members": (build(members())[40:], Code.ARCHIVE_CORRUPT),
    "zip64-offset-past-the-end": (build([{**members(1)[0], "offset": 0xFFFFFFFF, "extra": zip64_extra(1 << 40)}],
                                        zip64_end=True), Code.ARCHIVE_UNSAFE),
    "zip64-directory-offset-lies": (build(members(), zip64_end=True, cd_offset=1 << 50), Code.ARCHIVE_CORRUPT),
    "zip64-size-lies": (build([{**members(1)[0], "size": 0xFFFFFFFF, "csize": 0xFFFFFFFF,
                                "extra": zip64_extra(1 << 40, 1 << 40)}]), Code.ARCHIVE_UNSAFE),
    "offset-points-at-another-member": (build([*members(2), {**members(3)[2], "offset": 0}]), Code.ARCHIVE_UNSAFE),
    "traversal-and-absolute": (build([{"name": b"../../evil.jpg", "data": b"x"},
                                      {"name": b"/tmp/evil.jpg", "data": b"x"},
                                      {"name": b"ok/../../../evil.jpg", "data": b"x"},
                                      {"name": b"ok.jpg", "data": b"fine"}]), Code.ARCHIVE_UNSAFE),
    # a name flagged UTF-8 that is not (zipfile: UnicodeDecodeError), in the directory or only in
    # its local header (small: written by MemberWriter, big: through zipfile's reader)
    "utf8-flag-name-not-utf8": (build([*members(2), {"name": b"train/\xff\xfe.jpg", "data": b"x", "flags": 0x800}]),
                                Code.ARCHIVE_CORRUPT),
    "backslash-traversal": (build([{"name": b"..\\..\\evil.jpg", "data": b"x"}]), Code.ARCHIVE_UNSAFE),
    "symlink-member": (build([{"name": b"link.jpg", "data": b"/etc/passwd", "external": 0o120777 << 16}]),
                       Code.ARCHIVE_UNSAFE),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_directory_is_a_coded_problem(tmp_path: Path, case: str) -> None:
    blob, code = HOSTILE[case]
    with pytest.raises(SetupError) as caught:
        run(tmp_path, blob)
    assert caught.value.problem.code == code, caught.value.problem.message
    assert outside(tmp_path) == set()
    out = tmp_path / "root" / "out"
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} if out.exists() else set()
    assert written <= {"ok.jpg"}


@pytest.mark.parametrize("size", [1, 3 << 20])
def test_a_local_header_name_flagged_utf8_that_is_not_is_a_coded_problem(tmp_path: Path, size: int) -> None:
    good = {"name": "train/\u00e9.jpg".encode(), "data": b"y" * size, "flags": 0x800}
    blob = build([*members(1), good])
    at = blob.index(b"\xc3\xa9")  # the local header's copy comes first
    blob = blob[:at] + b"\xff\xfe" + blob[at + 2:]
    with pytest.raises(SetupError) as caught:
        run(tmp_path, blob)
    problem = caught.value.problem
    assert problem.code == Code.ARCHIVE_CORRUPT and "hostile.zip" in problem.message and problem.hint
    assert "\\xff\\xfe" in problem.message or "differ" in problem.message, problem.message
    assert outside(tmp_path) == set()
    assert not (tmp_path / "root/out/train/\u00e9.jpg").exists()


def test_a_name_flagged_utf8_that_is_not_read_through_a_file_object_is_a_coded_problem(tmp_path: Path) -> None:
    """zipfile's path alone (a remote zip read with ranges): the same coded problem, naming the bytes."""
    blob = build([*members(2), {"name": b"train/\xff\xfe.jpg", "data": b"x", "flags": 0x800}])
    ctx, _ = make_ctx(tmp_path / "root")
    try:
        with pytest.raises(SetupError) as caught:
            extract_archive(ctx, Path("remote.zip"), "zip", tmp_path / "root" / "out", Layout(),
                            fileobj=io.BytesIO(blob))
    finally:
        ctx.journal.close()
    problem = caught.value.problem
    assert problem.code == Code.ARCHIVE_CORRUPT and "remote.zip is damaged" in problem.message, problem.message
    assert "b'train/\\xff\\xfe.jpg' is marked UTF-8 but is not UTF-8" in problem.message
    assert "download again" in problem.hint
    assert outside(tmp_path) == set() and not any((tmp_path / "root" / "out").rglob("*.jpg"))


def test_a_lying_count_is_read_as_zipfile_reads_it(tmp_path: Path) -> None:
    """zipfile reads the directory to its end whatever the record counts: so does the extraction."""
    result = run(tmp_path, build(members(), count=7))
    assert (result.written, result.skipped) == (3, 0)
    assert sorted(os.listdir(tmp_path / "root/out/train")) == ["000.jpg", "001.jpg", "002.jpg"]
