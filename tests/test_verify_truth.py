"""verify tells the truth by default: sizes recorded at extraction find cut files without --deep,
totals count each file once over the JSONs, and the last verify's findings are kept for repair."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from helpers import make_ctx

from wizard.engine import helper as helper_mod
from wizard.engine import sizes as sizes_mod
from wizard.engine.catalog import Layout
from wizard.engine.errors import SetupError
from wizard.engine.extract import StreamedTar, extract_archive
from wizard.engine.sizes import SizeLedger, recorded_sizes
from wizard.engine.verify import last_findings, verify

PT = "share-captioner_coco_lcs_sam_1246k_1107.json"
CAP = "sharegpt4v_instruct_gpt4-vision_cap100k.json"
SFT = "sharegpt4v_mix665k_cap23k_coco-ap9k_lcs3k_sam9k_div2k.json"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4 + b"\xff\xd9"


def write_json(root: Path, name: str, images: list[str]) -> None:
    (root / "sharegpt4v").mkdir(parents=True, exist_ok=True)
    recs = [{"id": str(i), "image": img, "conversations": []} for i, img in enumerate(images)]
    (root / "sharegpt4v" / name).write_text(json.dumps(recs), encoding="utf-8")


def extracted_root(tmp_path: Path) -> Path:
    """A root whose coco images came out of a zip through extract_archive (sizes recorded)."""
    root = tmp_path / "root"
    archive = tmp_path / "train2017.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(1, 5):
            zf.writestr(f"train2017/{i}.jpg", JPEG)
    ctx, _ = make_ctx(root)
    extract_archive(ctx, archive, "zip", root / "coco/train2017", Layout(strip="train2017/"))
    ctx.journal.close()
    write_json(root, PT, [f"coco/train2017/{i}.jpg" for i in range(1, 6)])  # 5.jpg never existed
    return root


@pytest.mark.parametrize("in_helper", [True, False])
def test_a_cut_file_is_found_without_deep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_helper: bool) -> None:
    """The sizes are stat'ed by a helper process (the command line) or a thread (the wizard)."""
    started: list[str] = []
    real = helper_mod.Helper.__init__

    def spy(self: helper_mod.Helper, role: str, *args: str) -> None:
        started.append(role)
        real(self, role, *args)

    monkeypatch.setattr(helper_mod, "allowed", lambda: in_helper)
    monkeypatch.setattr(helper_mod.Helper, "__init__", spy)
    root = extracted_root(tmp_path)
    os.truncate(root / "coco/train2017/2.jpg", 100)
    (root / "coco/train2017/3.jpg").write_bytes(JPEG + b"tail")
    report = verify(root)
    t = report.totals
    assert (t.referenced, t.present, t.missing, t.unreadable) == (5, 2, 1, 2)
    reasons = dict(report.results[0].unreadable)
    assert reasons["coco/train2017/2.jpg"] == f"100 bytes, {len(JPEG):,} when extracted (cut short)"
    assert "changed" in reasons["coco/train2017/3.jpg"]
    assert not report.ok
    assert started == (["sizes"] if in_helper else [])
    deep = verify(root, deep=True)  # the deep check reports the same files, for the same reason
    assert dict(deep.results[0].unreadable) == reasons


def test_streamed_tar_members_are_recorded_too(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("sa_1.jpg", JPEG), ("sa_2.jpg", JPEG[:50])):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    buf.seek(0)
    root = tmp_path / "root"
    ctx, _ = make_ctx(root)
    streamed = StreamedTar(ctx, "sa_000000.tar", root / "sam/images", Layout(include=("*.jpg",), flatten=True))
    with tarfile.open(fileobj=buf, mode="r|") as tf:
        for ti in tf:
            streamed.member(tf, ti)
    streamed.finish()
    ctx.journal.close()
    assert recorded_sizes(root, "sam/images", {"sa_1.jpg", "sa_2.jpg", "other.jpg"}) == {
        "sa_1.jpg": str(len(JPEG)), "sa_2.jpg": "50"}


@pytest.mark.parametrize("block", [1 << 20, 7, 1])
def test_the_ledger_keeps_odd_names_and_ignores_a_cut_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            block: int) -> None:
    """Also when the ledger is read a few characters at a time (lines across blocks)."""
    monkeypatch.setattr(sizes_mod, "_BLOCK", block)
    root = tmp_path / "root"
    folder = root / "wikiart/images"
    folder.mkdir(parents=True)
    names = ["tab\there.jpg", "new\nline.jpg", "back\\slash.jpg", "caf\u00e9.jpg", os.fsdecode(b"raw\xff.jpg")]
    ledger = SizeLedger(root)
    for i, name in enumerate(names):
        ledger.record(str(folder / name), i + 1)
    ledger.record(str(folder / names[0]), 99)  # written again later: the last size counts
    ledger.record(str(tmp_path / "outside.jpg"), 5)  # outside the root: not recorded
    ledger.flush()
    ledger_file = next((root / ".sharegpt4v-setup/index/sizes").iterdir())
    with open(ledger_file, "a", encoding="utf-8") as f:
        f.write("broken line\n")  # damage: no tab; then a kill mid-line (no newline: ignored)
        f.write("cut.jpg\t12")
    got = recorded_sizes(root, "wikiart/images", set(names) | {"cut.jpg", "broken line"})
    assert got == {names[0]: "99", names[1]: "2", names[2]: "3", names[3]: "4", names[4]: "5"}
    assert len(list((root / ".sharegpt4v-setup/index/sizes").iterdir())) == 1
    for i, name in enumerate(names):
        (folder / name).write_bytes(b"x" * (i + 1))
    (folder / names[1]).write_bytes(b"x")  # cut short; names[0] has 1 byte, its last line says 99
    assert sizes_mod.check_all(root) == {"wikiart/images": {
        names[0]: "1 bytes, 99 when extracted (cut short)", names[1]: "1 bytes, 2 when extracted (cut short)"}}


def test_totals_count_each_file_once_over_the_jsons(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "coco").mkdir(parents=True)
    (root / "coco/a.jpg").write_bytes(JPEG)
    for name in (PT, CAP, SFT):
        write_json(root, name, ["coco/a.jpg", "coco/gone.jpg", "./coco//gone.jpg", "/abs.jpg"])
    report = verify(root)
    assert [r.totals.missing for r in report.results] == [1, 1, 1]
    t = report.totals
    assert (t.referenced, t.present, t.missing, t.invalid, t.records) == (2, 1, 1, 1, 12)
    assert report.to_json()["totals"]["missing"] == 1  # type: ignore[index]
    assert "NOT OK: 1 missing, 1 invalid paths." in report.render_text()


def test_the_last_verify_is_kept_for_repair(tmp_path: Path) -> None:
    root = extracted_root(tmp_path)
    assert last_findings(root) is None
    os.truncate(root / "coco/train2017/4.jpg", 10)
    write_json(root, CAP, ["coco/train2017/5.jpg", "coco/train2017/6.jpg"])
    report = verify(root)
    found = last_findings(root)
    assert found is not None and not found.deep
    assert found.missing == ("coco/train2017/5.jpg", "coco/train2017/6.jpg")
    assert [p for p, _ in found.unreadable] == ["coco/train2017/4.jpg"]
    assert found.paths == ["coco/train2017/4.jpg", "coco/train2017/5.jpg", "coco/train2017/6.jpg"]
    assert {p.name for p in found.jsons} == {r.json_path.name for r in report.results}
    # a verify that stops half-way leaves no findings behind (not the previous ones either)
    (root / "sharegpt4v" / CAP).write_text("[{", encoding="utf-8")
    with pytest.raises(SetupError):
        verify(root)
    assert last_findings(root) is None


def test_an_unwritable_ledger_only_loses_the_size_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the ledger folder would go")
    monkeypatch.setattr(sizes_mod, "_ledger", lambda _root, _folder: blocked / "sizes" / "x.tsv")
    root = extracted_root(tmp_path)
    monkeypatch.undo()
    assert not (root / ".sharegpt4v-setup/index/sizes").exists()
    os.truncate(root / "coco/train2017/2.jpg", 100)
    t = verify(root).totals
    assert (t.present, t.missing, t.unreadable) == (4, 1, 0)  # no facts, no size check; deep still finds it
