"""Local copies (--local): a right archive is extracted and left untouched, a wrong one refused,
a folder is hard-linked (or copied, or moved), all without writing outside the data root."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from wizard.cli import main
from wizard.demo import World
from wizard.demo.session import tree_of
from wizard.engine.journal import read_status

COCO = "coco-train2017"


def cli(demo_catalog: Path, root: Path, *extra: str) -> int:
    return main(["run", "--catalog", str(demo_catalog), "--root", str(root), "--yes", "--quiet", *extra])


def coco_zip(world: World, tmp_path: Path) -> Path:
    user = tmp_path / "user"
    user.mkdir(exist_ok=True)
    path = user / "my-train2017.zip"
    shutil.copyfile(world.docroot / "images.cocodataset.org/zips/train2017.zip", path)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def problem_of(root: Path, cid: str) -> tuple[str, str]:
    rec = next(r for r in read_status(root) or [] if r.id == cid)
    assert rec.problem is not None
    return str(rec.problem.code), rec.problem.message


def test_right_archive_is_extracted_and_left_untouched(world: World, demo_catalog: Path, tmp_path: Path) -> None:
    archive = coco_zip(world, tmp_path)
    before = (digest(archive), archive.stat().st_mtime_ns)
    root = tmp_path / "root"
    assert cli(demo_catalog, root, "--components", COCO, "--local", f"{COCO}={archive}") == 0
    assert tree_of(root) == world.expected_tree([COCO])
    assert (digest(archive), archive.stat().st_mtime_ns) == before
    assert archive.stat().st_nlink == 1  # the hard link in the downloads folder is gone again
    assert list((root / ".sharegpt4v-setup/downloads").iterdir()) == []


@pytest.mark.parametrize("damage", ["truncated", "same-size-other-bytes"])
def test_a_wrong_file_is_refused_and_nothing_placed(world: World, demo_catalog: Path, tmp_path: Path,
                                                    damage: str, capsys: pytest.CaptureFixture[str]) -> None:
    archive = coco_zip(world, tmp_path)
    data = bytearray(archive.read_bytes())
    if damage == "truncated":
        del data[-100:]
    else:
        data[-30] ^= 0xFF
    archive.write_bytes(bytes(data))
    before = digest(archive)
    root = tmp_path / "root"
    assert cli(demo_catalog, root, "--components", COCO, "--local", f"{COCO}={archive}") == 1
    code, message = problem_of(root, COCO)
    assert code == "local-invalid" and "is not the expected file" in message
    assert ("size" if damage == "truncated" else "sha256") in message
    downloads = root / ".sharegpt4v-setup/downloads"
    assert not (root / "coco").exists() and (not downloads.exists() or list(downloads.iterdir()) == [])
    assert digest(archive) == before
    assert "FAILED  coco-train2017: [local-invalid]" in capsys.readouterr().err


def _extracted_coco(world: World, tmp_path: Path) -> Path:
    folder = tmp_path / "user" / "coco-images"
    with zipfile.ZipFile(world.docroot / "images.cocodataset.org/zips/train2017.zip") as zf:
        for info in zf.infolist():
            if not info.is_dir():
                dest = folder / Path(info.filename).name
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(zf.read(info))
    return folder


@pytest.mark.parametrize("mode", ["hardlink", "copy"])
def test_a_folder_is_hardlinked_or_copied(world: World, demo_catalog: Path, tmp_path: Path, mode: str) -> None:
    folder = _extracted_coco(world, tmp_path)
    root = tmp_path / "root"
    assert cli(demo_catalog, root, "--components", COCO, "--local", f"{COCO}={folder}", "--local-mode", mode) == 0
    assert tree_of(root) == world.expected_tree([COCO])
    for src in folder.iterdir():
        placed = root / "coco/train2017" / src.name
        assert placed.read_bytes() == src.read_bytes()
        assert (placed.stat().st_ino == src.stat().st_ino) is (mode == "hardlink")
    # A rerun (after deleting one file) puts back only what is missing.
    (root / "coco/train2017/000000000009.jpg").unlink()
    (root / ".sharegpt4v-setup/journal.sqlite").unlink()
    assert cli(demo_catalog, root, "--components", COCO, "--local", f"{COCO}={folder}", "--local-mode", mode) == 0
    assert tree_of(root) == world.expected_tree([COCO])


def test_move_mode_moves_a_folder_and_an_archive(world: World, demo_catalog: Path, tmp_path: Path) -> None:
    folder = _extracted_coco(world, tmp_path)
    inodes = {p.name: p.stat().st_ino for p in folder.iterdir()}
    root = tmp_path / "root"
    assert cli(demo_catalog, root, "--components", COCO, "--local", f"{COCO}={folder}", "--local-mode", "move") == 0
    assert tree_of(root) == world.expected_tree([COCO]) and list(folder.iterdir()) == []
    assert {p.name: p.stat().st_ino for p in (root / "coco/train2017").iterdir()} == inodes

    archive = coco_zip(world, tmp_path)
    root2 = tmp_path / "root2"
    assert cli(demo_catalog, root2, "--components", COCO, "--local", f"{COCO}={archive}", "--local-mode", "move") == 0
    assert tree_of(root2) == world.expected_tree([COCO]) and not archive.exists()


def test_a_folder_far_off_the_expected_count_is_refused(world: World, demo_catalog: Path, tmp_path: Path) -> None:
    folder = tmp_path / "user" / "almost-empty"
    folder.mkdir(parents=True)
    (folder / "000000000009.jpg").write_bytes(b"\xff\xd8\xff\xe0x\xff\xd9")
    root = tmp_path / "root"
    assert cli(demo_catalog, root, "--components", COCO, "--local", f"{COCO}={folder}") == 1
    code, message = problem_of(root, COCO)
    assert code == "local-invalid" and "holds 1 usable files" in message
    assert not (root / "coco/train2017").exists()


def test_a_local_annotation_json_is_placed_under_its_catalog_name(world: World, demo_catalog: Path,
                                                                 tmp_path: Path) -> None:
    src = world.docroot / "hub/Lin-Chen/ShareGPT4V/sharegpt4v_instruct_gpt4-vision_cap100k.json"
    mine = tmp_path / "user" / "cap100k.json"
    mine.parent.mkdir(parents=True)
    shutil.copyfile(src, mine)
    root = tmp_path / "root"
    assert cli(demo_catalog, root, "--components", "json-cap100k", "--local", f"json-cap100k={mine}") == 0
    assert tree_of(root) == world.expected_tree(["json-cap100k"])
    assert mine.read_bytes() == src.read_bytes() and mine.stat().st_nlink == 2  # linked into the root


def test_a_folder_of_sam_tars(world: World, demo_catalog: Path, tmp_path: Path) -> None:
    tars = tmp_path / "user" / "sa1b"
    tars.mkdir(parents=True)
    for tar in world.sam_tars:
        shutil.copyfile(world.docroot / tar.path, tars / Path(tar.path).name)
    root = tmp_path / "root"
    assert cli(demo_catalog, root, "--components", "sam-tars", "--local", f"sam-tars={tars}") == 0
    assert tree_of(root) == world.expected_tree(["sam-tars"])
    assert len(list(tars.iterdir())) == 51


def test_partial_downloads_of_a_done_components_sources_are_deleted(world: World, demo_catalog: Path,
                                                                    tmp_path: Path) -> None:
    """A partial download a run left (a Drive partial the quota stopped, an http .part), when a
    local copy or a mirror finishes the component, stayed in the downloads folder for good (up to
    the archive's size, 8.9 GB for the SAM zip)."""
    archive = coco_zip(world, tmp_path)
    root = tmp_path / "root"
    downloads = root / ".sharegpt4v-setup/downloads"
    downloads.mkdir(parents=True)
    left = [downloads / f"train2017.zip{suffix}" for suffix in (".part", ".part.json", ".part.log")]
    for path in left:
        path.write_bytes(b"x" * 1000)
    other = downloads / "gqa-images.zip.part"  # another component's, not done: kept
    other.write_bytes(b"y" * 1000)
    assert cli(demo_catalog, root, "--components", COCO, "--local", f"{COCO}={archive}") == 0
    assert tree_of(root) == world.expected_tree([COCO])
    assert not any(path.exists() for path in left)
    assert other.read_bytes() == b"y" * 1000


def test_a_drive_sources_leftovers_are_its_partials_and_the_partial_set_aside(tmp_path: Path) -> None:
    from wizard.engine.catalog import Source
    from wizard.engine.sources import kind_of

    source = Source(kind="drive", label="t", id="x", filename="web-celebrity.zip")
    names = ["web-celebrity.zipABCDEFGH.part", "web-celebrity.zip.set-aside", "web-celebrity.zip",
             "web-landmark.zipABCDEFGH.part"]
    for name in names:
        (tmp_path / name).write_bytes(b"z")
    found = sorted(p.name for p in kind_of("drive").leftovers(source, tmp_path))
    assert found == ["web-celebrity.zip.set-aside", "web-celebrity.zipABCDEFGH.part"]


def test_temp_files_an_interrupted_extraction_left_are_deleted_once_the_component_is_done(
        world: World, demo_catalog: Path, tmp_path: Path) -> None:
    """kill -9 while a member over 1 MiB is written leaves ``.NAME.extracting`` in the image
    folder; when no later extraction writes that member again (another source finished the
    component, or the member was in place), it stayed there for good, junk in the user's data."""
    from wizard.engine.journal import Journal

    archive = coco_zip(world, tmp_path)
    root = tmp_path / "root"
    images = root / "coco/train2017"
    (images / "sub").mkdir(parents=True)
    left = [images / ".000000000009.jpg.extracting", images / "sub/.000000000025.jpg.extracting"]
    for path in left:
        path.write_bytes(b"x" * 3000)
    mine = [images / ".DS_Store", images / "notes.extracting", images / ".extracting"]
    for path in mine:
        path.write_bytes(b"the user's")
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"not in the root")
    (images / ".link.jpg.extracting").symlink_to(outside)
    journal = Journal(root)  # what the killed run left: the job was extracting
    journal.set_stage(COCO, "extracting", source="local")
    journal.close()
    assert cli(demo_catalog, root, "--components", COCO, "--local", f"{COCO}={archive}") == 0
    assert not any(path.exists() for path in left)
    assert all(path.read_bytes() == b"the user's" for path in mine)
    assert outside.read_bytes() == b"not in the root"
    shown = {f"coco/train2017/{p.relative_to(images).as_posix()}" for p in mine}
    assert tree_of(root) == world.expected_tree([COCO]) | shown | {"coco/train2017/.link.jpg.extracting"}


def test_the_summary_says_copied_when_hard_links_fell_back_to_copies(
        world: World, demo_catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--local FOLDER on another disk or an exFAT root: the files were copied (the log said so once)
    and the summary line still said '(hardlink)'."""
    import errno
    import os

    folder = _extracted_coco(world, tmp_path)
    root = tmp_path / "root"

    def no_link(src: object, dst: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "link", no_link)
    assert cli(demo_catalog, root, "--components", COCO, "--local", f"{COCO}={folder}") == 0
    assert tree_of(root) == world.expected_tree([COCO])
    log = "".join(p.read_text() for p in (root / ".sharegpt4v-setup/logs").iterdir())
    count = len(list(folder.iterdir()))
    assert "cannot hard-link" in log and f"{count:,} files placed from {folder} ({count:,} copied)" in log
    assert "(hardlink)" not in log
