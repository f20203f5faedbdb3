"""verify's quick paths give what a plain one-record-at-a-time model gives: the collection of image
paths (a batch whose names need no check skips the per-name checks), and the size check (one
``stat`` a file in C-level loops, a failed one reported for its own file)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from wizard.engine import helper as helper_mod
from wizard.engine import jsonscan
from wizard.engine import sizes as sizes_mod
from wizard.engine.annotations import check_path, classify, normalize
from wizard.engine.sizes import SizeLedger
from wizard.engine.verify import verify

PT = "share-captioner_coco_lcs_sam_1246k_1107.json"

#: Image values of every kind: plain ones, spellings of the same file, names a quick path must not
#: take (starting with ".", a backslash, NUL, empty), invalid paths, escapes, non-ASCII, no image.
VALUES: list[Any] = [
    "coco/a.jpg", "coco/a.jpg", "./coco/a.jpg", "coco//a.jpg", "coco/./a.jpg", "coco/b.jpg",
    "coco/.hidden.jpg", "coco/.gone.jpg", "coco/back\\slash.jpg", "coco/", "coco/.", "coco/..",
    "coco/../a.jpg", "/coco/a.jpg", "c:/coco/a.jpg", "c:a.jpg", "coco/nul\u0000.jpg", "",
    "root.jpg", ".root.jpg", "gone-root.jpg", "./root.jpg", "coco/caf\u00e9.jpg", "coco/quo\"te.jpg",
    "coco/new\nline.jpg", "coco/tab\t.jpg", "coco/missing.jpg", "sam/none.jpg", "sam/sub/x.jpg",
    "llava/images/00001/1.jpg", "llava/images/00001/2.jpg", "llava/images/00002/1.jpg",
    "web-celebrity/images/Tom_Cruise (1).jpg", "wikiart/images/Ukiyo_e/hokusai:wave.jpg",
    None, 5, None, ["coco/a.jpg"], "coco/b.jpg",
]
PRESENT = ["coco/a.jpg", "coco/b.jpg", "coco/.hidden.jpg", "coco/back\\slash.jpg", "root.jpg", ".root.jpg",
           "coco/caf\u00e9.jpg", "coco/quo\"te.jpg", "coco/new\nline.jpg", "coco/tab\t.jpg",
           "llava/images/00001/1.jpg", "llava/images/00002/1.jpg", "web-celebrity/images/Tom_Cruise (1).jpg",
           "wikiart/images/Ukiyo_e/hokusai:wave.jpg"]


def make_root(tmp_path: Path, values: list[Any]) -> Path:
    root = tmp_path / "root"
    for rel in PRESENT:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    (root / "sam").mkdir()
    (root / "sharegpt4v").mkdir()
    records = []
    for i, value in enumerate(values):
        rec: dict[str, Any] = {"id": str(i), "conversations": [{"from": "gpt", "value": "a caption"}]}
        if value is not None:
            rec["image"] = value
        records.append(rec)
    (root / "sharegpt4v" / PT).write_text(json.dumps(records), encoding="utf-8")
    return root


def model(root: Path, values: list[Any]) -> dict[str, Any]:
    """What verify must report, worked out one value at a time with a listing per lookup."""
    invalid: dict[str, str] = {}
    distinct: set[tuple[str, str]] = set()
    text_only = 0
    for value in values:
        if value is None:
            text_only += 1
            continue
        image = value if isinstance(value, str) else ""
        reason = check_path(image)
        if reason:
            invalid[image] = reason
            continue
        folder, _, name = normalize(image).rpartition("/")
        distinct.add((folder, name))
    missing = []
    folders: dict[str, dict[str, int]] = {}
    for folder, name in sorted(distinct):
        try:
            there = name in os.listdir(root / folder)
        except FileNotFoundError:
            there = False
        counts = folders.setdefault(classify(f"{folder}/x" if folder else "x"),
                                    {"referenced": 0, "present": 0, "missing": 0})
        counts["referenced"] += 1
        counts["present" if there else "missing"] += 1
        if not there:
            missing.append(f"{folder}/{name}" if folder else name)
    return {"records": len(values), "text_only": text_only, "invalid": sorted(invalid.items()),
            "duplicates": len(values) - text_only - len(distinct) - len(invalid),  # repeats, invalid ones too
            "referenced": len(distinct), "missing": missing, "folders": folders}


def seen(root: Path) -> dict[str, Any]:
    report = verify(root)
    (result,) = report.results
    t = result.totals
    lines = (root / ".sharegpt4v-setup/reports" / f"missing-{Path(PT).stem}.txt").read_text(
        encoding="utf-8", errors="surrogateescape").split("\n")[:-1]
    folders = {f.key: {"referenced": f.referenced, "present": f.present, "missing": f.missing}
               for f in result.folders}
    return {"records": t.records, "text_only": t.text_only, "invalid": [list(p) for p in result.invalid],
            "duplicates": t.duplicates,
            "referenced": t.referenced, "missing": lines, "folders": folders}


@pytest.mark.parametrize("chunk", [1 << 20, 200, 64])
def test_every_kind_of_value_is_collected_like_one_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             chunk: int) -> None:
    """In one batch (an odd name sends the whole batch through every check) and in batches of a
    few records (clean batches take the quick path, next to odd ones)."""
    monkeypatch.setattr(jsonscan, "CHUNK", chunk)
    root = make_root(tmp_path, VALUES)
    expected = model(root, VALUES)
    expected["invalid"] = [list(p) for p in expected["invalid"]]
    expected["missing"] = "\n".join(expected["missing"]).split("\n")  # as the report's lines
    assert seen(root) == expected
    assert expected["referenced"] > 15 and len(expected["invalid"]) > 8 and len(expected["missing"]) >= 5


@pytest.mark.parametrize("chunk", [1 << 20, 120])
def test_clean_batches_then_odd_ones_in_the_same_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         chunk: int) -> None:
    """A folder first met in a clean batch, later named with names that need their checks."""
    monkeypatch.setattr(jsonscan, "CHUNK", chunk)
    values: list[Any] = [f"coco/{i}.jpg" for i in range(40)] + ["coco/.x.jpg", "coco/b\\c.jpg", "coco/",
                                                                 "coco/1.jpg", "./coco/2.jpg"]
    values += [f"coco/{i}.jpg" for i in range(30, 60)] + ["coco/a.jpg"]
    root = make_root(tmp_path, values)
    for i in range(0, 60, 3):
        (root / f"coco/{i}.jpg").write_bytes(b"x")
    expected = model(root, values)
    expected["invalid"] = [list(p) for p in expected["invalid"]]
    assert seen(root) == expected


def ledgered(tmp_path: Path, count: int) -> tuple[Path, Path, list[str]]:
    root = tmp_path / "root"
    folder = root / "sam/images"
    folder.mkdir(parents=True)
    names = [f"sa_{i}.jpg" for i in range(count)]
    ledger = SizeLedger(root)
    for i, name in enumerate(names):
        (folder / name).write_bytes(b"x" * (i % 7))
        ledger.record(str(folder / name), i % 7)
    ledger.flush()
    return root, folder, names


def reference_check(folder: Path, lines: list[tuple[str, int]]) -> dict[str, str]:
    """One ``os.stat`` a line, in order: what the size check must say."""
    bad: dict[str, str] = {}
    for name, size in lines:
        try:
            actual = os.stat(folder / name).st_size
        except OSError as exc:
            bad[name] = f"cannot read: {exc.strerror}"
            continue
        if actual != size:
            bad[name] = sizes_mod._differs(actual, size)
        else:
            bad.pop(name, None)
    return bad


@pytest.mark.parametrize("block", [1 << 20, 50])
def test_each_failed_stat_is_reported_for_its_own_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       block: int) -> None:
    """Deleted files first, last, in a row and alone, cut and grown ones, a dangling symlink, names
    written again: the verdicts are the one-stat-a-line ones, whatever the block size."""
    monkeypatch.setattr(sizes_mod, "_BLOCK", block)
    root, folder, names = ledgered(tmp_path, 40)
    for i in (0, 7, 8, 9, 20, 39):
        (folder / names[i]).unlink()
    os.truncate(folder / names[3], 1)
    (folder / names[4]).write_bytes(b"x" * 50)
    (folder / names[8]).symlink_to(folder / "nowhere.jpg")
    ledger = SizeLedger(root)
    ledger.record(str(folder / names[5]), 99)  # a later line that is wrong: it counts
    ledger.record(str(folder / names[3]), 1)  # a later line that is right: the file is fine
    ledger.flush()
    lines = [(name, i % 7) for i, name in enumerate(names)] + [(names[5], 99), (names[3], 1)]
    expected = reference_check(folder, lines)
    assert set(expected) == {names[i] for i in (0, 7, 8, 9, 20, 39, 4, 5)}
    assert sizes_mod.check_all(root) == {"sam/images": expected}


def test_a_foreign_ledger_line_with_a_nul_is_a_verdict_not_a_crash(tmp_path: Path) -> None:
    root, folder, names = ledgered(tmp_path, 5)
    ledger_file = sizes_mod._ledger(root, "sam/images")
    with open(ledger_file, "a", encoding="utf-8") as f:
        f.write("nul\0name.jpg\t3\n")
    os.truncate(folder / names[2], 0)
    found = sizes_mod.check_all(root)["sam/images"]
    assert found[names[2]] == "0 bytes, 2 when extracted (cut short)"
    assert found["nul\0name.jpg"].startswith("cannot read: ") and len(found) == 2


@pytest.mark.parametrize("in_helper", [True, False])
def test_cut_and_missing_ledgered_files_in_a_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    in_helper: bool) -> None:
    """Through verify: a deleted ledgered file is missing, a cut one unreadable, a dangling symlink
    (listed, but no size) unreadable; the others present."""
    monkeypatch.setattr(helper_mod, "allowed", lambda: in_helper)
    root, folder, names = ledgered(tmp_path, 30)
    (folder / names[1]).unlink()
    os.truncate(folder / names[2], 0)
    (folder / names[3]).unlink()
    (folder / names[3]).symlink_to(folder / "nowhere.jpg")
    values: list[Any] = [f"sam/images/{name}" for name in names] + ["sam/images/never.jpg"]
    make_root_json(root, values)
    report = verify(root)
    t = report.totals
    assert (t.referenced, t.present, t.missing, t.unreadable) == (31, 27, 2, 2)
    assert dict(report.results[0].unreadable) == {
        f"sam/images/{names[2]}": "0 bytes, 2 when extracted (cut short)",
        f"sam/images/{names[3]}": "cannot read: No such file or directory"}
    assert report.results[0].missing_sample == ("sam/images/never.jpg", f"sam/images/{names[1]}")


def make_root_json(root: Path, values: list[Any]) -> None:
    (root / "sharegpt4v").mkdir(exist_ok=True)
    records = [{"id": str(i), "image": value, "conversations": []} for i, value in enumerate(values)]
    (root / "sharegpt4v" / PT).write_text(json.dumps(records), encoding="utf-8")



@pytest.mark.parametrize("at_once", [0, 1 << 40])
def test_folders_listed_at_once_or_streamed_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  at_once: int) -> None:
    """A small folder is listed by one ``os.listdir``, a large one streamed by ``os.scandir``."""
    from wizard.engine import verify as verify_mod

    root = make_root(tmp_path, VALUES)
    expected = seen(root)
    monkeypatch.setattr(verify_mod, "_LIST_AT_ONCE", at_once)
    assert seen(root) == expected
    assert expected["missing"] == model(root, VALUES)["missing"]
