"""verify(): the annotation JSONs decide what must be on disk, and the report says what is not."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from wizard.engine import annotations as annotations_mod
from wizard.engine import jsonscan
from wizard.engine import verify as verify_mod
from wizard.engine.annotations import (
    ROOT_KEY,
    check_image,
    check_path,
    classify,
    find_jsons,
    iter_image_paths,
)
from wizard.engine.control import Control
from wizard.engine.errors import Cancelled, Code, SetupError
from wizard.engine.verify import VerifyReport, verify

PT = "share-captioner_coco_lcs_sam_1246k_1107.json"
CAP = "sharegpt4v_instruct_gpt4-vision_cap100k.json"

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4 + b"\xff\xd9"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(17) + b"\x00\x00\x00\x00IEND\xaeB`\x82")
GIF = b"GIF89a\x01\x00\x01\x00" + bytes(20) + b";"
WEBP = b"RIFF" + (20).to_bytes(4, "little") + b"WEBPVP8 " + bytes(12)


def record(image: str | None, rid: str = "r") -> dict[str, Any]:
    rec: dict[str, Any] = {"id": rid, "conversations": [
        {"from": "human", "value": "<image>\nDescribe the image."},
        {"from": "gpt", "value": "A \"quoted\" caption with [brackets] and {braces}, é, 漢字."}]}
    if image is not None:
        rec["image"] = image
    return rec


def make_root(tmp_path: Path, images: list[str | None], files: dict[str, bytes] | None = None,
              name: str = PT) -> Path:
    """A data root whose JSON ``name`` references ``images`` and which holds ``files``."""
    root = tmp_path / "root"
    (root / "sharegpt4v").mkdir(parents=True, exist_ok=True)
    recs = [record(img, str(i)) for i, img in enumerate(images)]
    (root / "sharegpt4v" / name).write_text(json.dumps(recs, indent=1), encoding="utf-8")
    for rel, data in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def report_lines(root: Path, stem: str = Path(PT).stem) -> list[str]:
    return (root / ".sharegpt4v-setup" / "reports" / f"missing-{stem}.txt").read_text().splitlines()


# ------------------------------------------------------------------------------------------
# Path rules
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("image", "reason"), [
    ("../etc/passwd", "'..'"),
    ("coco/../../etc/passwd", "'..'"),
    ("/etc/passwd", "absolute"),
    ("C:/data/coco/1.jpg", "drive letter"),
    ("coco\\train2017\\1.jpg", "backslash"),
    ("", "empty"),
    ("coco/train2017/", "folder"),
    ("coco/\x00.jpg", "NUL"),
    ("coco/train2017/a\nb.jpg", "line break"),
    ("coco/train\r2017/b.jpg", "line break"),
    (".sharegpt4v-setup/journal.sqlite", "state folder"),
    ("./.ShareGPT4V-Setup/downloads/x.jpg", "state folder"),
])
def test_check_path_rejects(image: str, reason: str) -> None:
    found = check_path(image)
    assert found is not None and reason in found


@pytest.mark.parametrize("image", ["coco/train2017/000000000009.jpg", "x.jpg", "a..b/c...jpg", "coco/.sharegpt4v-setup",
                                   "wikiart/images/adriaen-brouwer_inn-with-drunken-peasants.jpg"])
def test_check_path_accepts(image: str) -> None:
    assert check_path(image) is None


@pytest.mark.parametrize(("image", "key"), [
    ("coco/train2017/1.jpg", "coco"), ("sam/images/sa_1.jpg", "sam"),
    ("llava/llava_pretrain/images/00011/000114116.jpg", "llava"), ("vg/VG_100K_2/214.jpg", "vg"),
    ("web-celebrity/images/Luke_Evans.jpg", "web-celebrity"), ("./gqa/images/1.jpg", "gqa"),
    ("share_textvqa/images/a.jpg", "share_textvqa"), ("mystery/a.jpg", "mystery"),
    ("a.jpg", ROOT_KEY),
])
def test_classify(image: str, key: str) -> None:
    assert classify(image) == key


# ------------------------------------------------------------------------------------------
# Counting what the JSONs reference
# ------------------------------------------------------------------------------------------
def test_text_only_records_are_not_missing(tmp_path: Path) -> None:
    root = make_root(tmp_path, [None, "coco/train2017/1.jpg", None, "sam/images/sa_1.jpg"],
                     {"coco/train2017/1.jpg": JPEG, "sam/images/sa_1.jpg": JPEG})
    report = verify(root)
    t = report.totals
    assert (t.records, t.text_only, t.referenced, t.present, t.missing) == (4, 2, 2, 2, 0)
    assert report.ok
    assert report_lines(root) == []  # the list exists and is empty


def test_missing_images_are_listed_exactly_and_written(tmp_path: Path) -> None:
    images: list[str | None] = [f"coco/train2017/{i:012d}.jpg" for i in range(6)]
    images += [f"llava/llava_pretrain/images/00000/{i:09d}.jpg" for i in range(4)]
    images += ["sam/images/sa_7.jpg", "wikiart/images/café.jpg"]
    present = {img for i, img in enumerate(images) if i % 3 == 0} | {"wikiart/images/café.jpg"}
    root = make_root(tmp_path, images, {str(p): JPEG for p in present})
    report = verify(root)
    expected = sorted(str(p) for p in images if p not in present)
    (result,) = report.results
    assert not report.ok
    assert result.totals.missing == len(expected)
    assert report_lines(root) == expected
    assert list(result.missing_sample) == expected  # fewer than MISSING_SAMPLE: all of them
    assert result.missing_report == root / ".sharegpt4v-setup" / "reports" / f"missing-{Path(PT).stem}.txt"
    folders = {f.key: (f.referenced, f.present, f.missing) for f in result.folders}
    assert folders == {"coco": (6, 2, 4), "llava": (4, 2, 2), "sam": (1, 0, 1),
                       "wikiart": (1, 1, 0)}


def test_duplicates_are_counted_once(tmp_path: Path) -> None:
    images: list[str | None] = ["coco/train2017/1.jpg", "coco/train2017/1.jpg",
                                "./coco/train2017/1.jpg", "coco//train2017/1.jpg",
                                "coco/./train2017/1.jpg", "x.jpg", "./x.jpg",
                                "coco/train2017/2.jpg", "coco/train2017/2.jpg"]
    root = make_root(tmp_path, images, {"coco/train2017/1.jpg": JPEG, "x.jpg": JPEG})
    t = verify(root).totals
    assert (t.records, t.referenced, t.duplicates, t.present, t.missing) == (9, 3, 6, 2, 1)
    assert report_lines(root) == ["coco/train2017/2.jpg"]


def test_invalid_paths_are_reported_and_never_looked_up(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_bytes(JPEG)  # what "../etc/passwd" would reach
    bad = ["../etc/passwd", "/etc/passwd", "coco/../../etc/passwd", "C:/coco/1.jpg",
           "coco\\train2017\\1.jpg", ""]
    root = make_root(tmp_path, [*bad, "coco/train2017/1.jpg"], {"coco/train2017/1.jpg": JPEG})
    looked_up: list[str] = []
    real_scandir, real_stat = os.scandir, os.stat

    def scandir(path: Any = ".") -> Any:
        looked_up.append(os.fspath(path))
        return real_scandir(path)

    def stat(path: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(os.fspath(path) if not isinstance(path, int) else "")
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "stat", stat)
    report = verify(root, deep=True)
    monkeypatch.undo()
    assert not any("etc" in p or p.startswith("C:") for p in looked_up), looked_up
    (result,) = report.results
    reasons = dict(result.invalid)
    assert sorted(reasons) == sorted(bad)
    assert "'..'" in reasons["../etc/passwd"] and "absolute" in reasons["/etc/passwd"]
    assert "drive letter" in reasons["C:/coco/1.jpg"]
    t = result.totals
    assert (t.invalid, t.referenced, t.present, t.missing) == (len(bad), 1, 1, 0)
    assert not report.ok  # invalid paths alone make the report fail
    assert report.to_json()["totals"]["invalid"] == len(bad)  # type: ignore[index]


# ------------------------------------------------------------------------------------------
# --deep
# ------------------------------------------------------------------------------------------
def test_deep_catches_broken_images_and_wrong_formats(tmp_path: Path) -> None:
    files = {
        "coco/train2017/good.jpg": JPEG,
        "coco/train2017/padded.jpg": JPEG + bytes(5000),  # zero padding after FF D9 is fine
        "coco/train2017/empty.jpg": b"",
        "coco/train2017/truncated.jpg": JPEG[:600],
        "coco/train2017/truncated-padded.jpg": JPEG[:600] + bytes(9000),
        "ocr_vqa/images/page.jpg": b"<!DOCTYPE html><html>Not found</html>",
        "ocr_vqa/images/gif.jpg": GIF,
        "ocr_vqa/images/png.jpg": PNG,
        "wikiart/images/real.png": PNG,
        "wikiart/images/cut.png": PNG[:-6],
        "web-landmark/images/a.webp": WEBP,
        "web-landmark/images/short.webp": WEBP[:-4],
    }
    root = make_root(tmp_path, [*files, "coco/train2017/absent.jpg"], files)
    shallow = verify(root)
    assert (shallow.totals.present, shallow.totals.missing, shallow.totals.unreadable) == (12, 1, 0)

    report = verify(root, deep=True)
    (result,) = report.results
    unreadable = dict(result.unreadable)
    assert set(unreadable) == {"coco/train2017/empty.jpg", "coco/train2017/truncated.jpg",
                               "coco/train2017/truncated-padded.jpg", "ocr_vqa/images/page.jpg",
                               "wikiart/images/cut.png", "web-landmark/images/short.webp"}
    assert unreadable["coco/train2017/empty.jpg"] == "empty file"
    assert "truncated JPEG" in unreadable["coco/train2017/truncated.jpg"]
    assert "HTML" in unreadable["ocr_vqa/images/page.jpg"]
    assert dict(result.wrong_format) == {"ocr_vqa/images/gif.jpg": "GIF content named .jpg",
                                         "ocr_vqa/images/png.jpg": "PNG content named .jpg"}
    t = result.totals
    assert (t.referenced, t.present, t.missing, t.unreadable, t.wrong_format) == (13, 4, 1, 6, 2)
    folders = {f.key: f for f in result.folders}
    assert folders["ocr_vqa"].wrong_format == 2 and folders["ocr_vqa"].missing == 0
    assert not report.ok
    # the list to fetch again: the missing path, then the unreadable ones
    assert report_lines(root) == ["coco/train2017/absent.jpg", *sorted(unreadable)]


def test_wrong_format_alone_is_only_a_warning(tmp_path: Path) -> None:
    root = make_root(tmp_path, ["ocr_vqa/images/1.jpg"], {"ocr_vqa/images/1.jpg": GIF})
    report = verify(root, deep=True)
    assert report.ok and report.totals.wrong_format == 1 and report.totals.present == 0
    assert "wrong format" in report.render_text()


def test_check_image_reports_unreadable_file(tmp_path: Path) -> None:
    folder = tmp_path / "x.jpg"
    folder.mkdir()  # a folder where an image should be
    status, detail = check_image(str(folder))
    assert status == annotations_mod.UNREADABLE and "cannot read" in detail


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("content", "says"), [
    (b'[{"id": "1", "image": "coco/1.jpg"}, {"id": "2", "ima', "truncated"),
    (b'{"records": []}', "list of records"),
    (b"<html><body>Too many users</body></html>", "HTML"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n", "Git LFS"),
    (b'[{"id": "1"} {"id": "2"}]', "not valid JSON"),
    (b'["coco/1.jpg"]', "not an object"),
    (b"", "empty"),
    # nested past jsonscan.MAX_DEPTH: never handed to ijson, whose cost grows with the square of
    # the depth (a few hundred KB of "[" took it 24 GB)
    (b'[{"id": "1", "image": "coco/1.jpg", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}]", "4096 levels"),
    (b"[" * 5000 + b"]" * 5000, "4096 levels"),
    # a lone low surrogate: ijson raises UnicodeDecodeError, which once escaped as an internal error
    (b'[{"id": "1", "image": "coco/\\udc00.jpg"}]', "lone surrogate"),
])
def test_corrupt_json_raises_a_clear_error(tmp_path: Path, content: bytes, says: str) -> None:
    root = tmp_path / "root"
    (root / "sharegpt4v").mkdir(parents=True)
    (root / "sharegpt4v" / PT).write_bytes(content)
    with pytest.raises(SetupError) as info:
        verify(root)
    problem = info.value.problem
    assert problem.code == Code.ANNOTATIONS_INVALID
    assert PT in problem.message and says in problem.message
    assert "download it again" in problem.hint


def test_a_record_nested_deeper_than_a_chunk_can_grow_is_refused_too(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """No record boundary within MAX_CHUNK: the chunk is not handed to ijson whole when it nests
    past MAX_DEPTH (here all three are made small: the real ones are 1 MiB, 64 MiB and 4096)."""
    monkeypatch.setattr(jsonscan, "CHUNK", 256)
    monkeypatch.setattr(jsonscan, "MAX_CHUNK", 1024)
    monkeypatch.setattr(jsonscan, "MAX_DEPTH", 100, raising=False)
    root = tmp_path / "root"
    (root / "sharegpt4v").mkdir(parents=True)
    deep = b'{"id": "2", "image": "coco/2.jpg", "x": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    (root / "sharegpt4v" / PT).write_bytes(b'[{"id": "1", "image": "coco/1.jpg"}, ' + deep + b"]")
    with pytest.raises(SetupError) as info:
        verify(root)
    assert info.value.problem.code == Code.ANNOTATIONS_INVALID
    assert "more than 100 levels deep" in info.value.problem.message


def test_missing_root_and_missing_jsons(tmp_path: Path) -> None:
    with pytest.raises(SetupError) as info:
        verify(tmp_path / "nowhere")
    assert info.value.problem.code == Code.ROOT_MISSING
    (tmp_path / "empty").mkdir()
    with pytest.raises(SetupError) as info:
        verify(tmp_path / "empty")
    assert info.value.problem.code == Code.LAYOUT_INCOMPLETE
    assert "No annotation JSONs" in info.value.problem.message and info.value.problem.hint
    with pytest.raises(SetupError) as info:
        verify(tmp_path / "empty", [tmp_path / "nope.json"])
    assert "nope.json" in info.value.problem.message


def test_find_jsons_prefers_catalog_names(tmp_path: Path) -> None:
    root = make_root(tmp_path, ["coco/1.jpg"], name=CAP)
    (root / "sharegpt4v" / "notes.json").write_text("{}")
    assert find_jsons(root) == [root / "sharegpt4v" / CAP]
    (root / "sharegpt4v" / CAP).unlink()
    assert find_jsons(root) == [root / "sharegpt4v" / "notes.json"]  # no known name: all *.json


# ------------------------------------------------------------------------------------------
# Streaming at scale, report shapes, progress and cancel
# ------------------------------------------------------------------------------------------
def test_streaming_reader_matches_json_load_on_a_big_file(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    images: list[str | None] = []
    for i in range(50_000):
        kind = rng.random()
        if kind < 0.01:
            images.append(None)
        elif kind < 0.4:
            images.append(f"llava/llava_pretrain/images/{i // 1000:05d}/{i:09d}.jpg")
        elif kind < 0.6:
            images.append(f"coco/train2017/{rng.randrange(20_000):012d}.jpg")  # some repeat
        else:
            images.append(f"sam/images/sa_{i}.jpg")
    root = make_root(tmp_path, images)
    path = root / "sharegpt4v" / PT
    for img in images[::7]:  # a seventh of them exist
        if img and not (root / img).exists():
            (root / img).parent.mkdir(parents=True, exist_ok=True)
            (root / img).touch()
    with open(path, encoding="utf-8") as f:
        reference = [rec.get("image") for rec in json.load(f)]

    def no_json_load(*_: object, **__: object) -> None:
        raise AssertionError("the streaming reader must not json.load the file")

    monkeypatch.setattr(json, "load", no_json_load)
    monkeypatch.setattr(json, "loads", no_json_load)
    assert list(iter_image_paths(path)) == reference
    report = verify(root)
    monkeypatch.undo()

    distinct = {img for img in reference if img is not None}
    present = {img for img in distinct if os.path.exists(root / img)}
    t = report.totals
    assert t.records == len(reference) == 50_000
    assert t.text_only == reference.count(None)
    assert t.referenced == len(distinct)
    assert t.duplicates == len(reference) - t.text_only - len(distinct)
    assert (t.present, t.missing) == (len(present), len(distinct - present))
    assert report_lines(root) == sorted(distinct - present)


def test_a_line_break_in_an_image_path_is_invalid_not_a_garbled_report_line(tmp_path: Path) -> None:
    """The missing list has one path per line: a name holding a line break was looked up and, when
    missing, written as two lines that name no file (so ``repair`` read them back wrong)."""
    images = ["coco/train2017/a\nb.jpg", "coco/train2017/c\rd.jpg", "coco/train\n2017/e.jpg",
              "coco/train2017/gone.jpg", "coco/train2017/1.jpg"]
    root = make_root(tmp_path, images, {"coco/train2017/1.jpg": JPEG})
    (result,) = verify(root).results
    assert sorted(dict(result.invalid)) == sorted(images[:3])
    assert all("line break" in why for _, why in result.invalid)
    assert (result.totals.referenced, result.totals.missing) == (2, 1)
    assert report_lines(root) == ["coco/train2017/gone.jpg"]


def test_null_and_non_string_images_are_invalid(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sharegpt4v").mkdir(parents=True)
    (root / "sharegpt4v" / PT).write_text(json.dumps(
        [{"id": "1", "image": None}, {"id": "2", "image": 5}, {"id": "3"}]))
    assert list(iter_image_paths(root / "sharegpt4v" / PT)) == ["", "", None]
    t = verify(root).totals
    assert (t.records, t.text_only, t.invalid) == (3, 1, 1)  # both map to "" (counted once)


def test_report_json_and_text(tmp_path: Path) -> None:
    root = make_root(tmp_path, ["coco/train2017/1.jpg", "coco/train2017/2.jpg", "../x.jpg", None],
                     {"coco/train2017/1.jpg": JPEG})
    report = verify(root)
    assert isinstance(report, VerifyReport)
    data = json.loads(json.dumps(report.to_json()))
    assert data["ok"] is False and data["deep"] is False and data["root"] == str(root)
    assert data["totals"] == {"records": 4, "text_only": 1, "duplicates": 0, "referenced": 2,
                              "present": 1, "missing": 1, "unreadable": 0, "wrong_format": 0,
                              "invalid": 1}
    (entry,) = data["jsons"]
    assert entry["folders"] == {"coco": {"referenced": 2, "present": 1, "missing": 1,
                                         "unreadable": 0, "wrong_format": 0}}
    assert entry["missing_sample"] == ["coco/train2017/2.jpg"]
    assert entry["invalid_paths"][0]["path"] == "../x.jpg"
    assert Path(entry["missing_report"]).is_file()
    text = report.render_text()
    assert "coco" in text and "coco/train2017/2.jpg" in text and "'../x.jpg'" in text
    assert text.splitlines()[-1].startswith("NOT OK: 1 missing")
    ok = verify(make_root(tmp_path / "b", ["coco/1.jpg"], {"coco/1.jpg": JPEG}))
    assert ok.render_text().splitlines()[-1].startswith("OK: all 1 images")


def test_progress_reaches_total_and_cancel_stops(tmp_path: Path) -> None:
    images: list[str | None] = [f"sam/images/sa_{i}.jpg" for i in range(3000)]
    root = make_root(tmp_path, images, {"sam/images/sa_1.jpg": JPEG})
    calls: list[tuple[int, int | None]] = []
    verify(root, deep=True, progress=lambda done, total: calls.append((done, total)))
    size = (root / "sharegpt4v" / PT).stat().st_size
    assert calls[-1] == (2 * size, 2 * size)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    control = Control()
    control.cancel()
    with pytest.raises(Cancelled):
        verify(root, control=control)


def test_report_file_is_replaced_not_appended(tmp_path: Path) -> None:
    root = make_root(tmp_path, ["coco/1.jpg", "coco/2.jpg"])
    verify(root)
    assert report_lines(root) == ["coco/1.jpg", "coco/2.jpg"]
    (root / "coco").mkdir()
    (root / "coco" / "1.jpg").write_bytes(JPEG)
    verify(root)
    assert report_lines(root) == ["coco/2.jpg"]
    assert not list((root / ".sharegpt4v-setup" / "reports").glob("*.part"))


def test_engine_module_is_qt_free() -> None:
    for module in (annotations_mod, verify_mod):
        source = Path(str(module.__file__)).read_text()
        assert "PySide6" not in source and "wizard.gui" not in source


def test_deep_check_on_slow_storage_uses_threads_with_same_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"sam/images/sa_{i}.jpg": (JPEG if i % 5 else JPEG[:300]) for i in range(1500)}
    root = make_root(tmp_path, list(files), files)
    serial = verify(root, deep=True)
    monkeypatch.setattr(verify_mod, "_SLOW_FILE_SECONDS", 0.0)  # every disk looks slow
    used_pool: list[bool] = []
    real_run = verify_mod._ImageChecker.run

    def run(self: Any, paths: list[str]) -> list[tuple[int, str]]:
        used_pool.append(self.pool is not None)
        return real_run(self, paths)

    monkeypatch.setattr(verify_mod._ImageChecker, "run", run)
    threaded = verify(root, deep=True)
    assert used_pool[0] is False and any(used_pool)
    assert threaded.results[0].unreadable == serial.results[0].unreadable
    assert threaded.totals == serial.totals and serial.totals.unreadable == 300


@pytest.mark.parametrize("folds", [True, False], ids=["case-folding", "case-sensitive"])
def test_a_missing_image_that_differs_only_in_case_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                folds: bool) -> None:
    """On an exFAT or macOS root, ``A.jpg`` and ``a.jpg`` are one file: verify said 'missing' on
    every run (and repair cannot help). The filesystem probe is simulated (checked by hand on exFAT)."""
    monkeypatch.setattr(verify_mod, "folds_case", lambda path: folds)
    root = tmp_path / "root"
    folder = root / "coco/train2017"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(b"lower")
    (root / "ann.json").write_text(json.dumps([{"image": f"coco/train2017/{n}"} for n in ("A.jpg", "a.jpg", "c.jpg")]))
    report = verify(root, [root / "ann.json"])
    assert report.totals.missing == 2  # they are not there: the training code would read the wrong bytes
    notes = [n for r in report.results for n in r.notes]
    if folds:
        assert len(notes) == 1 and notes[0].startswith("1 missing in coco/train2017/ differ only in letter case")
        assert "coco/train2017/A.jpg" in notes[0] and "case-sensitive filesystem" in notes[0]
        assert "differ only in letter case" in report.render_text()
    else:
        assert not any("letter case" in n for n in notes)
