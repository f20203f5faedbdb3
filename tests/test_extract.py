"""Tests for wizard.engine.extract: layouts, safety, byte-exact names, resume, corruption, cancel."""

from __future__ import annotations

import io
import itertools
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from wizard.engine.catalog import Layout
from wizard.engine.context import JobContext, Settings
from wizard.engine.control import Control
from wizard.engine.errors import Cancelled, Code, SetupError
from wizard.engine.events import Event, Progress
from wizard.engine.extract import ExtractResult, extract_archive
from wizard.engine.journal import Journal


def make_ctx(tmp_path: Path, control: Control | None = None, chunk_size: int = 1 << 20,
             events: list[Event] | None = None) -> JobContext:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    sink: list[Event] = events if events is not None else []
    return JobContext("test", root, Settings(chunk_size=chunk_size), Journal(root), control or Control(),
                      emit=sink.append)


def make_zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def add_file(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_600_000_000
    tf.addfile(info, io.BytesIO(data))


def add_special(tf: tarfile.TarFile, name: str, kind: bytes, linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    tf.addfile(info)


def files_under(folder: Path) -> set[str]:
    """Every non-directory entry under ``folder``, relative, as POSIX strings."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir() or p.is_symlink()}


def extract(tmp_path: Path, archive: Path, kind: str, dest: Path, layout: Layout, *,
            control: Control | None = None, chunk_size: int = 1 << 20,
            events: list[Event] | None = None) -> ExtractResult:
    ctx = make_ctx(tmp_path, control, chunk_size, events)
    return extract_archive(ctx, archive, kind, dest, layout)


def new_tar(path: Path, mode: str = "w") -> tarfile.TarFile:
    """Open a tar for writing; ``mode`` may name a compression (typeshed wants a literal)."""
    return tarfile.open(path, mode)  # type: ignore[call-overload]


# ------------------------------------------------------------------------------------------
# Layouts
# ------------------------------------------------------------------------------------------
def test_coco_like_zip_strips_top_folder(tmp_path: Path) -> None:
    archive = tmp_path / "train2017.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("train2017/"), b"")
        zf.writestr("train2017/000000000009.jpg", b"nine" * 100)
        zf.writestr("train2017/000000000025.jpg", b"twenty-five")
        zf.writestr("annotations/readme.txt", b"not wanted")
    dest = tmp_path / "root" / "coco" / "train2017"
    events: list[Event] = []
    result = extract(tmp_path, archive, "zip", dest, Layout(strip="train2017/"), events=events)
    assert result == ExtractResult(written=2, skipped=0, ignored=2, bytes_written=411)
    assert files_under(dest) == {"000000000009.jpg", "000000000025.jpg"}
    assert (dest / "000000000009.jpg").read_bytes() == b"nine" * 100
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress and progress[-1].done == progress[-1].total == 400 + 11 + len(b"not wanted")


def test_llava_like_rootless_zip(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "images.zip", {"00000/000000012.jpg": b"a", "00011/000114116.jpg": b"bb"})
    dest = tmp_path / "root" / "llava" / "llava_pretrain" / "images"
    result = extract(tmp_path, archive, "zip", dest, Layout())
    assert (result.written, result.ignored) == (2, 0)
    assert (dest / "00000" / "000000012.jpg").read_bytes() == b"a"
    assert (dest / "00011" / "000114116.jpg").read_bytes() == b"bb"


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_sam_like_tar_keeps_only_jpgs_flat(tmp_path: Path, mode: str) -> None:
    archive = tmp_path / "sa_000000.tar"
    with new_tar(archive, mode) as tf:
        add_special(tf, ".", tarfile.DIRTYPE)
        add_file(tf, "./sa_1.jpg", b"jpeg-1")
        add_file(tf, "./sa_1.json", b"{}")
        add_file(tf, "./sub/sa_2.jpg", b"jpeg-2")
    dest = tmp_path / "root" / "sam" / "images"
    result = extract(tmp_path, archive, "tar", dest, Layout(include=("*.jpg",), flatten=True))
    assert files_under(dest) == {"sa_1.jpg", "sa_2.jpg"}
    assert (dest / "sa_2.jpg").read_bytes() == b"jpeg-2"
    assert os.stat(dest / "sa_1.jpg").st_mtime == 1_600_000_000
    assert (result.written, result.skipped, result.ignored, result.bytes_written) == (2, 0, 2, 12)


def test_web_like_zip_strips_data_folder(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "wikiart.zip", {
        "data/wikiart/images/adriaen-brouwer_inn.jpg": b"art",
        "data/web-celebrity/images/Luke_Evans.jpg": b"other set",
    })
    dest = tmp_path / "root" / "wikiart" / "images"
    result = extract(tmp_path, archive, "zip", dest, Layout(strip="data/wikiart/images/"))
    assert files_under(dest) == {"adriaen-brouwer_inn.jpg"}
    assert (result.written, result.ignored) == (1, 1)


# ------------------------------------------------------------------------------------------
# Byte-exact names
# ------------------------------------------------------------------------------------------
def _zip_with_raw_name(path: Path, raw_name: bytes, data: bytes) -> Path:
    """A zip whose one member name is ``raw_name`` stored without the UTF-8 flag."""
    placeholder = b"N" * len(raw_name)
    make_zip(path, {placeholder.decode("ascii"): data})
    blob = path.read_bytes()
    assert blob.count(placeholder) == 2  # local header + central directory
    path.write_bytes(blob.replace(placeholder, raw_name))
    with zipfile.ZipFile(path) as zf:
        assert not zf.infolist()[0].flag_bits & 0x800
    return path


@pytest.mark.parametrize("flagged", [True, False])
def test_non_ascii_name_is_byte_exact(tmp_path: Path, flagged: bool) -> None:
    name = "wikiart/images/andré-derain_the-port.jpg"
    archive = tmp_path / "w.zip"
    if flagged:
        make_zip(archive, {name: b"port"})
        with zipfile.ZipFile(archive) as zf:
            assert zf.infolist()[0].flag_bits & 0x800
    else:
        _zip_with_raw_name(archive, name.encode("utf-8"), b"port")
    dest = tmp_path / "root" / "wikiart" / "images"
    extract(tmp_path, archive, "zip", dest, Layout(strip="wikiart/images/"))
    assert os.listdir(os.fsencode(dest)) == ["andré-derain_the-port.jpg".encode()]
    assert (dest / "andré-derain_the-port.jpg").read_bytes() == b"port"


@pytest.mark.skipif(os.name == "nt", reason="POSIX names are bytes")
def test_non_utf8_name_keeps_the_stored_bytes(tmp_path: Path) -> None:
    raw = "andré.jpg".encode("latin-1")  # not valid UTF-8
    archive = _zip_with_raw_name(tmp_path / "w.zip", raw, b"latin")
    dest = tmp_path / "root" / "out"
    result = extract(tmp_path, archive, "zip", dest, Layout())
    assert result.written == 1
    assert os.listdir(os.fsencode(dest)) == [raw]
    # resume recognises the same file
    assert extract(tmp_path, archive, "zip", dest, Layout()).skipped == 1


# ------------------------------------------------------------------------------------------
# Safety
# ------------------------------------------------------------------------------------------
def test_zip_traversal_and_absolute_members_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = make_zip(tmp_path / "evil.zip", {
        "good/ok.jpg": b"ok",
        "../evil.txt": b"e1",
        "good/../../evil2.txt": b"e2",
        str(outside / "abs.txt"): b"e3",
        "..\\evil3.txt": b"e4",
        "C:/evil4.txt": b"e5",
        "also-good.jpg": b"ok2",
    })
    dest = tmp_path / "root" / "target"
    with pytest.raises(SetupError) as info:
        extract(tmp_path, archive, "zip", dest, Layout())
    problem = info.value.problem
    assert problem.code == Code.ARCHIVE_UNSAFE
    assert "refused 5 unsafe member(s)" in problem.message
    assert "../evil.txt" in problem.message and "…" not in problem.message
    assert "nothing was written outside the target" in problem.hint
    assert files_under(dest) == {"good/ok.jpg", "also-good.jpg"}
    assert files_under(outside) == set()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.zip", "outside", "root"]
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == [".sharegpt4v-setup", "target"]


def test_unsafe_message_names_at_most_five(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "evil.zip", {f"../e{i}.txt": b"x" for i in range(7)})
    with pytest.raises(SetupError) as info:
        extract(tmp_path, archive, "zip", tmp_path / "root" / "t", Layout())
    message = info.value.problem.message
    assert "refused 7" in message and "../e4.txt" in message and "../e5.txt" not in message
    assert message.endswith("…")


def test_symlinked_folder_inside_dest_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "root" / "target"
    dest.mkdir(parents=True)
    (dest / "link").symlink_to(outside, target_is_directory=True)
    archive = make_zip(tmp_path / "a.zip", {"link/x.jpg": b"x", "link/deeper/y.jpg": b"y", "ok.jpg": b"o"})
    with pytest.raises(SetupError) as info:
        extract(tmp_path, archive, "zip", dest, Layout())
    assert info.value.problem.code == Code.ARCHIVE_UNSAFE
    assert "refused 2" in info.value.problem.message
    assert list(outside.iterdir()) == []
    assert (dest / "ok.jpg").read_bytes() == b"o"


def test_zip_symlink_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "l.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("passwd.jpg")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("ok.jpg", b"o")
    dest = tmp_path / "root" / "t"
    with pytest.raises(SetupError) as info:
        extract(tmp_path, archive, "zip", dest, Layout())
    assert info.value.problem.code == Code.ARCHIVE_UNSAFE
    assert files_under(dest) == {"ok.jpg"}


def test_tar_links_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "links.tar"
    with new_tar(archive) as tf:
        add_file(tf, "sa_1.jpg", b"one")
        add_special(tf, "sa_2.jpg", tarfile.SYMTYPE, "/etc/passwd")
        add_special(tf, "sa_3.jpg", tarfile.SYMTYPE, "../../x")
        add_special(tf, "sa_4.jpg", tarfile.SYMTYPE, "sa_1.jpg")  # inside, still not a regular file
        add_special(tf, "sa_5.jpg", tarfile.LNKTYPE, "/etc/passwd")
        add_special(tf, "sa_7.jpg", tarfile.LNKTYPE, "../../x")
        add_special(tf, "sa_8.jpg", tarfile.LNKTYPE, "sa_9.jpg")  # to nothing (a later or no member)
        add_file(tf, "../sa_6.jpg", b"six")
        add_file(tf, "sa_9.jpg", b"nine")
    dest = tmp_path / "root" / "sam" / "images"
    with pytest.raises(SetupError) as info:
        extract(tmp_path, archive, "tar", dest, Layout(include=("*.jpg",), flatten=True))
    problem = info.value.problem
    assert problem.code == Code.ARCHIVE_UNSAFE
    assert "refused 7" in problem.message  # all but sa_1 and sa_9 (also the link to a later sa_9)
    assert files_under(dest) == {"sa_1.jpg", "sa_9.jpg"}
    assert not (dest / "sa_1.jpg").is_symlink()
    assert not (tmp_path / "root" / "sam" / "sa_6.jpg").exists()


def test_unsafe_original_name_is_refused_even_when_flattened(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "sam9k.zip", {"../../etc/sa_1.jpg": b"x", "sam/sa_2.jpg": b"y"})
    dest = tmp_path / "root" / "sam" / "images"
    with pytest.raises(SetupError) as info:
        extract(tmp_path, archive, "zip", dest, Layout(include=("*.jpg",), flatten=True))
    assert "refused 1" in info.value.problem.message
    assert files_under(dest) == {"sa_2.jpg"}


def test_tar_data_filter_sees_the_stored_path(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "root" / "sam" / "images"
    dest.mkdir(parents=True)
    (dest / "link").symlink_to(outside, target_is_directory=True)
    archive = tmp_path / "sa.tar"
    with new_tar(archive) as tf:
        add_file(tf, "link/sa_1.jpg", b"through the link")  # flattened name is harmless, path is not
        add_file(tf, "sa_2.jpg", b"fine")
    with pytest.raises(SetupError) as info:
        extract(tmp_path, archive, "tar", dest, Layout(include=("*.jpg",), flatten=True))
    assert "outside the destination" in info.value.problem.message
    assert files_under(dest) == {"link", "sa_2.jpg"}
    assert list(outside.iterdir()) == []


def test_tar_stored_paths_through_links_are_refused_per_member(tmp_path: Path) -> None:
    """The cheap verdict for plain regular members (folder resolved once, one lstat) refuses what
    tarfile's data_filter refuses: every member under a linked folder, and a member whose own
    stored path is a planted link — the others are written."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.jpg").write_bytes(b"keep me")
    dest = tmp_path / "root" / "sam" / "images"
    dest.mkdir(parents=True)
    (dest / "link").symlink_to(outside, target_is_directory=True)
    (dest / "planted.jpg").symlink_to(outside / "victim.jpg")
    archive = tmp_path / "sa.tar"
    with new_tar(archive) as tf:
        add_file(tf, "link/sa_1.jpg", b"through the link")
        add_file(tf, "sa_2.jpg", b"fine")
        add_file(tf, "link/sa_3.jpg", b"through the link again")
        add_file(tf, "planted.jpg", b"over the planted link")
        add_file(tf, "sub/sa_4.jpg", b"fine too")
    with pytest.raises(SetupError) as info:
        extract(tmp_path, archive, "tar", dest, Layout(include=("*.jpg",), flatten=True))
    assert "refused 3" in info.value.problem.message
    assert "outside the destination" in info.value.problem.message
    assert files_under(dest) == {"link", "planted.jpg", "sa_2.jpg", "sa_4.jpg"}
    assert sorted(p.name for p in outside.iterdir()) == ["victim.jpg"]
    assert (outside / "victim.jpg").read_bytes() == b"keep me"


def test_tar_devices_and_fifos_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "dev.tar"
    with new_tar(archive) as tf:
        add_special(tf, "fifo.jpg", tarfile.FIFOTYPE)
        add_special(tf, "chr.jpg", tarfile.CHRTYPE)
        add_special(tf, "blk.jpg", tarfile.BLKTYPE)
        add_file(tf, "ok.jpg", b"ok")
    dest = tmp_path / "root" / "t"
    with pytest.raises(SetupError) as info:
        extract(tmp_path, archive, "tar", dest, Layout())
    assert info.value.problem.code == Code.ARCHIVE_UNSAFE
    assert "refused 3" in info.value.problem.message
    assert files_under(dest) == {"ok.jpg"}


@pytest.mark.parametrize("where", ["final", "temp"])
def test_a_planted_symlink_is_replaced_never_followed(tmp_path: Path, where: str) -> None:
    """A small member is created at its final name, a larger one (here: over one chunk) through a
    hidden temp name: a symlink planted at either is removed, and the victim keeps its bytes."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    dest = tmp_path / "root" / "t"
    dest.mkdir(parents=True)
    (dest / ("x.jpg" if where == "final" else ".x.jpg.extracting")).symlink_to(victim)
    archive = make_zip(tmp_path / "a.zip", {"x.jpg": b"new data"})
    chunk = 1 << 20 if where == "final" else 4
    assert extract(tmp_path, archive, "zip", dest, Layout(), chunk_size=chunk).written == 1
    assert victim.read_bytes() == b"precious"
    assert not (dest / "x.jpg").is_symlink() and (dest / "x.jpg").read_bytes() == b"new data"
    assert files_under(dest) == {"x.jpg"}


@pytest.mark.parametrize("where", ["final", "temp"])
def test_a_planted_fifo_neither_blocks_nor_survives(tmp_path: Path, where: str) -> None:
    """A FIFO would hang a plain open(): it is removed and a file created in its place."""
    dest = tmp_path / "root" / "t"
    dest.mkdir(parents=True)
    os.mkfifo(dest / ("x.jpg" if where == "final" else ".x.jpg.extracting"))
    archive = make_zip(tmp_path / "a.zip", {"x.jpg": b"new data"})
    chunk = 1 << 20 if where == "final" else 4
    assert extract(tmp_path, archive, "zip", dest, Layout(), chunk_size=chunk).written == 1
    assert (dest / "x.jpg").read_bytes() == b"new data"
    assert files_under(dest) == {"x.jpg"}


def test_a_hard_link_at_a_members_name_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    dest = tmp_path / "root" / "t"
    dest.mkdir(parents=True)
    os.link(victim, dest / "x.jpg")
    archive = make_zip(tmp_path / "a.zip", {"x.jpg": b"new data!"})
    assert extract(tmp_path, archive, "zip", dest, Layout()).written == 1
    assert victim.read_bytes() == b"precious" and (dest / "x.jpg").read_bytes() == b"new data!"


def test_a_folder_at_a_members_name_is_an_os_error_and_stays(tmp_path: Path) -> None:
    dest = tmp_path / "root" / "t"
    (dest / "x.jpg").mkdir(parents=True)
    archive = make_zip(tmp_path / "a.zip", {"x.jpg": b"new data"})
    with pytest.raises(OSError):
        extract(tmp_path, archive, "zip", dest, Layout())
    assert (dest / "x.jpg").is_dir()


# ------------------------------------------------------------------------------------------
# Resume
# ------------------------------------------------------------------------------------------
def test_resume_rewrites_only_missing_or_short_members(tmp_path: Path) -> None:
    members = {f"train2017/{i:012d}.jpg": bytes([i]) * (100 + i) for i in range(6)}
    archive = make_zip(tmp_path / "train2017.zip", members)
    dest = tmp_path / "root" / "coco" / "train2017"
    layout = Layout(strip="train2017/")
    first = extract(tmp_path, archive, "zip", dest, layout)
    assert (first.written, first.skipped) == (6, 0)

    (dest / "000000000001.jpg").unlink()
    with open(dest / "000000000002.jpg", "r+b") as fh:
        fh.truncate(10)
    (dest / "000000000003.jpg").write_bytes(b"stale")  # a member a kill left half-written
    untouched = {n: os.stat(dest / n) for n in ("000000000000.jpg", "000000000004.jpg", "000000000005.jpg")}

    second = extract(tmp_path, archive, "zip", dest, layout)
    assert (second.written, second.skipped, second.ignored) == (3, 3, 0)
    assert second.bytes_written == 101 + 102 + 103
    for name, before in untouched.items():
        after = os.stat(dest / name)
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    for name, data in members.items():
        assert (dest / name.removeprefix("train2017/")).read_bytes() == data
    assert not any(p.name.endswith(".extracting") for p in dest.iterdir())


# ------------------------------------------------------------------------------------------
# Corruption
# ------------------------------------------------------------------------------------------
def test_corrupt_zip_member_raises_and_leaves_no_temp(tmp_path: Path) -> None:
    payload = b"0123456789abcdef" * 4096
    archive = make_zip(tmp_path / "c.zip", {"a.jpg": b"fine", "b.jpg": payload}, zipfile.ZIP_STORED)
    blob = bytearray(archive.read_bytes())
    at = blob.index(payload) + 1000
    blob[at:at + 4] = b"XXXX"
    archive.write_bytes(bytes(blob))
    dest = tmp_path / "root" / "t"
    with pytest.raises(SetupError) as info:
        extract(tmp_path, archive, "zip", dest, Layout(), chunk_size=4096)
    problem = info.value.problem
    assert problem.code == Code.ARCHIVE_CORRUPT
    assert problem.message.startswith("c.zip is damaged:") and "b.jpg" in problem.message
    assert "download again" in problem.hint
    assert sorted(os.listdir(dest)) == ["a.jpg"]


def test_not_a_zip_is_corrupt(tmp_path: Path) -> None:
    archive = tmp_path / "html.zip"
    archive.write_bytes(b"<html>Too many users have viewed or downloaded this file</html>")
    with pytest.raises(SetupError) as info:
        extract(tmp_path, archive, "zip", tmp_path / "root" / "t", Layout())
    assert info.value.problem.code == Code.ARCHIVE_CORRUPT


@pytest.mark.parametrize(("mode", "cut"), [("w:gz", 0.5), ("w", 0.5), ("w", None)])
def test_truncated_tar_is_corrupt(tmp_path: Path, mode: str, cut: float | None) -> None:
    archive = tmp_path / "sa.tar"
    with new_tar(archive, mode) as tf:
        add_file(tf, "sa_1.jpg", os.urandom(20_000))
        add_file(tf, "sa_2.jpg", os.urandom(20_000))
    blob = archive.read_bytes()
    # cut=None: cut inside the second member's header (a plain tar's loop would just stop there)
    archive.write_bytes(blob[: 512 + 20_480 + 200] if cut is None else blob[: int(len(blob) * cut)])
    dest = tmp_path / "root" / "sam"
    with pytest.raises(SetupError) as info:
        extract(tmp_path, archive, "tar", dest, Layout(), chunk_size=1024)
    assert info.value.problem.code == Code.ARCHIVE_CORRUPT
    assert not any(p.name.endswith(".extracting") for p in dest.iterdir())


# ------------------------------------------------------------------------------------------
# Cancel and progress
# ------------------------------------------------------------------------------------------
class CancelAfter(Control):
    """A control that cancels itself at the n-th checkpoint."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.left = n

    def checkpoint(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.cancel()
        super().checkpoint()


def test_cancel_before_start_writes_nothing(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"x.jpg": b"x"})
    control = Control()
    control.cancel()
    dest = tmp_path / "root" / "t"
    with pytest.raises(Cancelled):
        extract(tmp_path, archive, "zip", dest, Layout(), control=control)
    assert files_under(dest) == set()


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_cancel_mid_member_leaves_no_partial_file(tmp_path: Path, kind: str) -> None:
    big = os.urandom(64 * 1024)
    if kind == "zip":
        archive = make_zip(tmp_path / "a.zip", {"small.jpg": b"s", "big.jpg": big})
    else:
        archive = tmp_path / "a.tar"
        with new_tar(archive) as tf:
            add_file(tf, "small.jpg", b"s")
            add_file(tf, "big.jpg", big)
    dest = tmp_path / "root" / "t"
    # checkpoints: small member (1) + its 2 chunk reads, big member (1) + 3 chunks, then cancel
    with pytest.raises(Cancelled):
        extract(tmp_path, archive, kind, dest, Layout(), control=CancelAfter(7), chunk_size=4096)
    assert files_under(dest) == {"small.jpg"}
    result = extract(tmp_path, archive, kind, dest, Layout(), chunk_size=4096)
    assert (result.written, result.skipped) == (1, 1)
    assert (dest / "big.jpg").read_bytes() == big


def test_progress_is_throttled_and_ends_at_total(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", {f"{i:05d}.jpg": b"x" * 10 for i in range(2000)})
    events: list[Event] = []
    extract(tmp_path, archive, "zip", tmp_path / "root" / "t", Layout(), events=events)
    progress = [e for e in events if isinstance(e, Progress)]
    assert 1 <= len(progress) < 200
    assert progress[-1].done == progress[-1].total == 20_000
    assert all(a.done <= b.done for a, b in itertools.pairwise(progress))


def test_unknown_kind_is_rejected(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"x.jpg": b"x"})
    with pytest.raises(SetupError) as info:
        extract(tmp_path, archive, "rar", tmp_path / "root" / "t", Layout())
    assert info.value.problem.code == Code.INTERNAL


@pytest.mark.parametrize("links", [True, False], ids=["hard-link", "copy"])
def test_a_tar_hard_link_to_an_earlier_member_is_extracted_like_gnu_tar(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool) -> None:
    """GNU tar writes a hard link to an earlier member as a second name for its file; the
    extraction refused every hard link. Where the disk has no hard links (exFAT), a copy."""
    if not links:
        def no_links(*_a: object, **_k: object) -> None:
            raise PermissionError(1, "Operation not permitted")
        monkeypatch.setattr(os, "link", no_links)
    archive = tmp_path / "linked.tar"
    with new_tar(archive) as tf:
        add_file(tf, "images/a/1.jpg", b"one" * 1000)
        add_special(tf, "images/b/1-again.jpg", tarfile.LNKTYPE, "images/a/1.jpg")
        add_file(tf, "images/2.jpg", b"two")
    dest = tmp_path / "root" / "imgs"
    result = extract(tmp_path, archive, "tar", dest, Layout(strip="images/", include=("*.jpg",)))
    assert result.written == 3
    assert files_under(dest) == {"a/1.jpg", "b/1-again.jpg", "2.jpg"}
    assert (dest / "b/1-again.jpg").read_bytes() == b"one" * 1000
    assert os.path.samefile(dest / "a/1.jpg", dest / "b/1-again.jpg") is links
    again = extract(tmp_path, archive, "tar", dest, Layout(strip="images/", include=("*.jpg",)))
    assert (again.written, again.skipped) == (0, 3)


def test_a_hard_link_whose_member_the_subset_leaves_out_is_read_again_from_the_tar(tmp_path: Path) -> None:
    archive = tmp_path / "linked.tar.gz"
    with new_tar(archive, "w:gz") as tf:
        add_file(tf, "images/a/1.jpg", b"one" * 1000)
        add_special(tf, "images/b/1-again.jpg", tarfile.LNKTYPE, "images/a/1.jpg")
        add_special(tf, "images/b/dangling.jpg", tarfile.LNKTYPE, "images/a/none.jpg")
        add_file(tf, "images/2.jpg", b"two")
    dest = tmp_path / "root" / "imgs"
    ctx = make_ctx(tmp_path, None, 1 << 20, None)
    with pytest.raises(SetupError) as caught:
        extract_archive(ctx, archive, "tar", dest, Layout(strip="images/"),
                        only={"b/1-again.jpg", "b/dangling.jpg", "2.jpg"})
    assert caught.value.problem.code is Code.ARCHIVE_UNSAFE and "refused 1 " in caught.value.problem.message
    assert files_under(dest) == {"b/1-again.jpg", "2.jpg"}
    assert (dest / "b/1-again.jpg").read_bytes() == b"one" * 1000
