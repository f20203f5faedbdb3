"""Extraction bounds (wizard.engine.bounds): a zip bomb, a sparse tar and overlapping zip entries
stop early with a coded problem, nothing huge is written and nothing outside the target changes;
streamed tars (tarstream) obey the same bounds."""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest
from helpers import fast_settings, make_ctx

from wizard.demo import MirrorServer
from wizard.engine import bounds
from wizard.engine.catalog import Layout
from wizard.engine.context import JobContext
from wizard.engine.diskspace import DiskMonitor
from wizard.engine.errors import Code, SetupError
from wizard.engine.extract import extract_archive
from wizard.engine.tarstream import stream_tar

GIB = 1 << 30
MIB = 1 << 20


# -- building hostile archives without writing their expanded size ------------------------------------
def _gf2_times(mat: list[int], vec: int) -> int:
    out, i = 0, 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


def _gf2_square(mat: list[int]) -> list[int]:
    return [_gf2_times(mat, mat[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """zlib's crc32_combine: the CRC of A+B from crc(A), crc(B) and len(B)."""
    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]
    even = _gf2_square(odd)
    odd = _gf2_square(even)
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def zero_stream(pieces: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``pieces`` MiB of zeros and its CRC-32, computed from one MiB: after
    a full flush deflate starts afresh, so each further MiB compresses to the same bytes."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = comp.compress(bytes(MIB)) + comp.flush(zlib.Z_FULL_FLUSH)
    crc = one = zlib.crc32(bytes(MIB))
    for _ in range(pieces - 1):
        crc = crc32_combine(crc, one, MIB)
    return piece * pieces + comp.flush(), crc


def bomb_zip(path: Path, name: str, pieces: int) -> Path:
    """A valid zip holding one deflated member of ``pieces`` MiB of zeros."""
    data, crc = zero_stream(pieces)
    raw = name.encode()
    size = pieces * MIB
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size, len(raw), 0)
    central = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                          len(raw), 0, 0, 0, 0, 0, 0)
    start = len(local) + len(raw) + len(data)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(raw), start, 0)
    path.write_bytes(local + raw + data + central + raw + end)
    return path


def sparse_tar(path: Path, real: int, name: str = "big.jpg") -> Path:
    """A small GNU tar: one ordinary member, then an old-GNU sparse member of ``real`` bytes
    that stores a single 512-byte block at its end."""
    buf = io.BytesIO()
    tf = tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT)  # noqa: SIM115 - no end blocks yet
    info = tarfile.TarInfo("small.jpg")
    info.size = 8000
    tf.addfile(info, io.BytesIO(b"s" * 8000))
    sparse = tarfile.TarInfo(name)
    sparse.type, sparse.size, sparse.mtime = tarfile.GNUTYPE_SPARSE, 512, 1_600_000_000
    header = bytearray(sparse.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))
    header[386:398] = b"%011o\0" % (real - 512)  # one data block: offset, length
    header[398:410] = b"%011o\0" % 512
    header[483:495] = b"%011o\0" % real  # the real size
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    path.write_bytes(buf.getvalue() + bytes(header) + b"d" * 512 + bytes(2 * tarfile.BLOCKSIZE))
    return path


def stored_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def patch_central(path: Path, name: str, **fields: int) -> None:
    """Rewrite fields of ``name``'s central-directory entry (compress_size, file_size, offset)."""
    blob = bytearray(path.read_bytes())
    at = blob.index(b"PK\x01\x02")  # the first central-directory entry
    while True:
        name_len = struct.unpack_from("<H", blob, at + 28)[0]
        extra, comment = struct.unpack_from("<HH", blob, at + 30)
        if bytes(blob[at + 46:at + 46 + name_len]) == name.encode():
            break
        at += 46 + name_len + extra + comment
    where = {"compress_size": 20, "file_size": 24, "offset": 42}
    for key, value in fields.items():
        struct.pack_into("<I", blob, at + where[key], value)
    path.write_bytes(bytes(blob))


# -- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    """A root with a target inside and a canary folder beside the root."""
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep.txt").write_text("untouched")
    return {"root": tmp_path / "root", "canary": canary, "dest": tmp_path / "root/out"}


def ctx_for(root: Path, free: int | None = None) -> JobContext:
    """A context; with ``free``: a filesystem of that many free bytes less what lands in root/out."""
    ctx, _ = make_ctx(root, fast_settings(min_free_bytes=0))
    if free is not None:
        ctx.disk = DiskMonitor(root, 0, statfn=lambda _p: free - written_bytes(root / "out"))
    return ctx


def written_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def assert_canary(world: dict[str, Path]) -> None:
    assert sorted(p.name for p in world["canary"].iterdir()) == ["keep.txt"]
    assert (world["canary"] / "keep.txt").read_text() == "untouched"
    assert sorted(p.name for p in world["root"].parent.iterdir()) == ["archives", "canary", "root"]


# -- the helpers build what they claim ------------------------------------------------------------------
def test_zero_stream_and_crc_are_exact() -> None:
    data, crc = zero_stream(3)
    plain = zlib.decompress(data, -15)
    assert plain == bytes(3 * MIB) and crc == zlib.crc32(plain)


def test_sparse_tar_reads_as_a_sparse_member(tmp_path: Path) -> None:
    path = sparse_tar(tmp_path / "s.tar", 3 * MIB)
    with tarfile.open(path) as tf:
        member = tf.getmember("big.jpg")
        assert member.issparse() and member.size == 3 * MIB
        data = tf.extractfile(member).read()  # type: ignore[union-attr]
    assert len(data) == 3 * MIB and data.endswith(b"d" * 512) and not data[:-512].strip(b"\0")


# -- the three hostile archives -----------------------------------------------------------------------
def test_a_1_mb_zip_of_1_gib_stops_before_writing(world: dict[str, Path]) -> None:
    (world["root"].parent / "archives").mkdir()
    archive = bomb_zip(world["root"].parent / "archives/bomb.zip", "big.jpg", 1024)
    assert archive.stat().st_size < 1_100_000
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo("big.jpg").file_size == GIB
    with pytest.raises(SetupError) as caught:
        extract_archive(ctx_for(world["root"]), archive, "zip", world["dest"], Layout())
    problem = caught.value.problem
    assert problem.code == Code.ARCHIVE_TOO_LARGE
    assert "big.jpg" in problem.message and "1.1 GB" in problem.message and f"{bounds.MAX_RATIO}:1" in problem.message
    assert written_bytes(world["root"]) < MIB
    assert_canary(world)


def test_a_10_kb_sparse_tar_of_2_gb_stops_before_writing(world: dict[str, Path]) -> None:
    (world["root"].parent / "archives").mkdir()
    archive = sparse_tar(world["root"].parent / "archives/sparse.tar", 2 * GIB)
    assert archive.stat().st_size < 12_000
    with pytest.raises(SetupError) as caught:
        extract_archive(ctx_for(world["root"]), archive, "tar", world["dest"], Layout())
    problem = caught.value.problem
    assert problem.code == Code.ARCHIVE_TOO_LARGE
    assert "big.jpg" in problem.message and "2.1 GB" in problem.message
    assert sorted(p.name for p in world["dest"].iterdir()) == ["small.jpg"]  # members before it are kept
    assert written_bytes(world["root"]) < MIB
    assert_canary(world)


def test_a_streamed_sparse_tar_stops_the_same_way(world: dict[str, Path]) -> None:
    docroot = world["root"].parent / "archives"
    docroot.mkdir()
    sparse_tar(docroot / "sa_000000.tar", 2 * GIB)
    with MirrorServer(docroot) as server:
        ctx = ctx_for(world["root"])
        try:
            with pytest.raises(SetupError) as caught:
                stream_tar(ctx, server.url("sa_000000.tar"), "sa_000000.tar", world["dest"], Layout())
        finally:
            ctx.journal.close()
    assert caught.value.problem.code == Code.ARCHIVE_TOO_LARGE
    assert "big.jpg" in caught.value.problem.message
    assert sorted(p.name for p in world["dest"].iterdir()) == ["small.jpg"]
    assert written_bytes(world["root"]) < MIB
    assert_canary(world)


@pytest.mark.parametrize("trick", ["range", "shared-header"])
def test_overlapping_zip_entries_are_refused_before_writing(world: dict[str, Path], trick: str) -> None:
    (world["root"].parent / "archives").mkdir()
    archive = stored_zip(world["root"].parent / "archives/overlap.zip",
                         {"a.jpg": b"A" * 1000, "b.jpg": b"B" * 1000})
    with zipfile.ZipFile(archive) as zf:
        b_offset = zf.getinfo("b.jpg").header_offset
    if trick == "range":  # a's data runs over b's header and data
        grown = b_offset + 1000  # from a's data start (35 bytes in) to the end of b's data
        patch_central(archive, "a.jpg", compress_size=grown, file_size=grown)
    else:  # both entries share one local header
        patch_central(archive, "b.jpg", offset=0)
    with pytest.raises(SetupError) as caught:
        extract_archive(ctx_for(world["root"]), archive, "zip", world["dest"], Layout())
    problem = caught.value.problem
    assert problem.code == Code.ARCHIVE_UNSAFE and "overlaps another entry" in problem.message
    assert written_bytes(world["dest"]) == 0
    assert_canary(world)


# -- the other bounds --------------------------------------------------------------------------------------
def test_many_members_over_the_catalog_expectation_stop_before_writing(world: dict[str, Path]) -> None:
    (world["root"].parent / "archives").mkdir()
    archive = world["root"].parent / "archives/many.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(12):  # each under the per-member ratio floor; 6 MiB in all
            zf.writestr(f"img_{i}.jpg", bytes(MIB // 2))
    expected = MIB
    with pytest.raises(SetupError) as caught:
        extract_archive(ctx_for(world["root"]), archive, "zip", world["dest"], Layout(), expected=expected)
    problem = caught.value.problem
    assert problem.code == Code.ARCHIVE_TOO_LARGE and "catalog expects about 1.0 MB" in problem.message
    assert written_bytes(world["dest"]) == 0
    # the same archive within the expectation extracts
    result = extract_archive(ctx_for(world["root"]), archive, "zip", world["dest"], Layout(), expected=4 * MIB)
    assert result.written == 12 and written_bytes(world["dest"]) == 6 * MIB
    assert_canary(world)


def test_a_member_larger_than_the_free_space_parks_before_writing(world: dict[str, Path]) -> None:
    (world["root"].parent / "archives").mkdir()
    archive = stored_zip(world["root"].parent / "archives/big.zip",
                         {"a.jpg": b"a" * 3000, "b.jpg": b"b" * 5000})
    with pytest.raises(SetupError) as caught:
        extract_archive(ctx_for(world["root"], free=6000), archive, "zip", world["dest"], Layout())
    problem = caught.value.problem
    assert problem.code == Code.NO_SPACE and problem.parked
    assert "b.jpg needs 5.0 KB, only 3.0 KB free" in problem.message
    assert sorted(p.name for p in world["dest"].iterdir()) == ["a.jpg"]
    assert_canary(world)


def test_a_plain_tar_within_its_size_is_not_limited(tmp_path: Path) -> None:
    archive = tmp_path / "ok.tar"
    with tarfile.open(archive, "w") as tf:
        for i in range(3):
            info = tarfile.TarInfo(f"z{i}.jpg")
            info.size = 2 * MIB
            tf.addfile(info, io.BytesIO(bytes(2 * MIB)))
    ctx = ctx_for(tmp_path / "root")
    result = extract_archive(ctx, archive, "tar", tmp_path / "root/out", Layout(), expected=1000)
    assert result.written == 3 and result.bytes_written == 6 * MIB


def test_budget_limit_follows_the_documented_rules() -> None:
    assert bounds.Budget("x").limit is None
    compressed = bounds.Budget("x", archive_size=10 * MIB)
    assert compressed.limit == bounds.MAX_RATIO * 10 * MIB
    plain = bounds.Budget("x", archive_size=10 * MIB, plain=True)
    assert plain.limit == int(bounds.EXPANSION_FACTOR * 10 * MIB)
    expected = bounds.Budget("x", expected=50 * MIB, archive_size=10 * MIB)
    assert expected.limit == int(bounds.EXPANSION_FACTOR * 50 * MIB)



def test_reserved_bytes_stay_off_the_free_space_until_they_land() -> None:
    """Members planned ahead (a batch, or the helper process's share) reserve their bytes: a fresh
    free-space reading does not count them as free again before they are on disk."""
    disk = {"free": 10_000}  # what the filesystem reports: nothing written yet
    budget = bounds.Budget("x", free=lambda: disk["free"])
    budget.admit("a.jpg", 6_000, reserve=True)
    with pytest.raises(SetupError) as caught:  # a re-reading still shows 10,000; 6,000 are promised
        budget.admit("b.jpg", 5_000, reserve=True)
    assert caught.value.problem.code == Code.NO_SPACE and "b.jpg needs" in caught.value.problem.message
    disk["free"] = 4_000  # a.jpg is on disk now
    budget.landed(6_000)
    budget.admit("b.jpg", 4_000, reserve=True)
    disk["free"] = 4_000  # b.jpg was already there (skipped): its reservation comes back
    budget.landed(4_000, unused=4_000)
    budget.admit("c.jpg", 4_000)
    assert budget.written == 6_000 and budget.pending == 0


def test_room_lets_through_what_admitting_one_by_one_would() -> None:
    """A batch of small members reserves its bytes together while they fit the room; past it,
    each is admitted by itself (and the free space read again)."""
    disk = {"free": 10_000}
    budget = bounds.Budget("x", free=lambda: disk["free"])
    assert budget.room() == 0  # the free space was never read: the first member is admitted by itself
    budget.admit("a.jpg", 1_000, reserve=True)
    assert budget.room() == 9_000
    budget.reserve(8_500)  # the batch's next members
    assert budget.room() == 500 and (budget.written, budget.pending) == (9_500, 9_500)
    with pytest.raises(SetupError) as caught:  # past the room: one by one, and it does not fit
        budget.admit("k.jpg", 600, reserve=True)
    assert caught.value.problem.code == Code.NO_SPACE and "k.jpg needs" in caught.value.problem.message
    limited = bounds.Budget("y", expected=0)  # no free-space reading: the limit alone bounds the room
    assert limited.room() == limited.limit == int(bounds.EXPANSION_FACTOR * bounds.RATIO_FLOOR)
    limited.reserve(1_000)
    assert limited.room() == int(bounds.EXPANSION_FACTOR * bounds.RATIO_FLOOR) - 1_000


def test_many_small_members_past_the_free_space_park_at_the_first_that_does_not_fit(
        world: dict[str, Path]) -> None:
    (world["root"].parent / "archives").mkdir()
    members = {f"{i:03d}.jpg": bytes([i % 256]) * 1_000 for i in range(300)}  # three batches of small members
    archive = stored_zip(world["root"].parent / "archives/many.zip", members)
    with pytest.raises(SetupError) as caught:
        extract_archive(ctx_for(world["root"], free=200_500), archive, "zip", world["dest"], Layout())
    problem = caught.value.problem
    assert problem.code == Code.NO_SPACE and problem.parked and "200.jpg needs" in problem.message
    assert sorted(p.name for p in world["dest"].iterdir()) == sorted(members)[:200]
    assert_canary(world)
