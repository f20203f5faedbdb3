"""Hostile archives and state files through the headless CLI: coded problems, never a traceback,
nothing written outside the root (robust6's sweep; the helpers are test_hostile's)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_hostile import JPEG, Sandbox, box, cli, component, edited_catalog, own_server, serve_coco  # noqa: F401

from wizard.demo import MirrorServer, World
from wizard.engine.errors import Code

GOOD = "train2017/000000000009.jpg"
ODD = "train2017/\u00e9000000025.jpg"  # not ASCII: zipfile flags it UTF-8; its name is damaged below
BAD_NAME = b"train2017/\xff\xfe000000025.jpg"  # as long as ODD's UTF-8, flagged UTF-8, not UTF-8


def zip_with_a_bad_utf8_name(*, where: str, big: bool = False) -> bytes:
    """Two members; ODD's name, flagged UTF-8, made invalid UTF-8 in the central directory
    (``where="central"``: both copies) or only in its local header (``where="local"``)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(GOOD, JPEG)
        zf.writestr(ODD, JPEG * (8000 if big else 1))
    data = buf.getvalue()
    raw = ODD.encode()
    assert len(BAD_NAME) == len(raw) and data.count(raw) == 2
    if where == "central":
        return data.replace(raw, BAD_NAME)
    return data.replace(raw, BAD_NAME, 1)  # the local header comes first


@pytest.mark.parametrize("case", ["central", "local-small", "local-big"])
def test_a_zip_name_flagged_utf8_that_is_not_is_a_coded_problem(
        case: str, box: Sandbox, world: World, own_server: MirrorServer,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    where, _, size = case.partition("-")
    data = zip_with_a_bad_utf8_name(where=where, big=size == "big")
    cat = serve_coco(world, own_server, box.top / "cat.toml", data)
    box.refresh()
    code, _out, err = cli(capsys, "run", "--catalog", cat, "--root", box.root, "--components", "coco-train2017",
                          "--yes", "--quiet", "--full-archives", "--keep-archives")
    assert code == 1, err
    assert f"[{Code.ARCHIVE_CORRUPT}]" in err and "coco.zip" in err and "hint:" in err, err
    assert f"[{Code.INTERNAL}]" not in err
    assert repr(BAD_NAME) in err or "\\xff\\xfe" in err, err  # the member's bytes, as stored
    box.assert_outside_unchanged()


# ------------------------------------------------------------------------------------------
# The state folder: a FIFO or a symlink planted at one of its files is never waited on nor
# followed (a FIFO hung verify and repair at the size ledger; the demo's port file was written
# through a link, outside the root)
# ------------------------------------------------------------------------------------------
REPO = Path(__file__).resolve().parent.parent
STATE = ".sharegpt4v-setup"


@pytest.fixture(scope="module")
def filled_demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo root after a run of the SFT preset (verified once: its findings are saved)."""
    top = tmp_path_factory.mktemp("demo")
    root = top / "root"
    root.mkdir()
    for args in (["run", "--demo", "--preset", "sft", "--yes", "--quiet",
                  "--keep-archives"], ["verify"]):
        proc = wizard_cli(top, root, args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


def wizard_cli(top: Path, root: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """``python -m wizard`` in a child (a hang ends it, and fails the test, after 120 s)."""
    user = top / "user"
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen", "HOME": str(user),
           "XDG_CACHE_HOME": str(user / "cache"), "XDG_STATE_HOME": str(user / "state"),
           "XDG_CONFIG_HOME": str(user / "config"), "XDG_DATA_HOME": str(user / "data")}
    return subprocess.run([sys.executable, "-m", "wizard", *args, "--root", str(root)], capture_output=True,
                          text=True, timeout=120, env=env, stdin=subprocess.DEVNULL, check=False)


def state_file(root: Path, which: str) -> Path:
    state = root / STATE
    if which == "sizes-ledger":
        return next((state / "index" / "sizes").glob("*.tsv"))
    return state / {"zip-members": "index/train2017.zip.zip-members", "demo-port": "demo-port",
                    "last-verify": "reports/last-verify.json"}[which]


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
@pytest.mark.parametrize("which", ["sizes-ledger", "zip-members", "demo-port", "last-verify"])
def test_a_fifo_or_link_in_the_state_folder_is_neither_waited_on_nor_followed(
        which: str, kind: str, filled_demo_root: Path, box: Sandbox, tmp_path: Path) -> None:  # noqa: F811
    import shutil

    shutil.copytree(filled_demo_root, box.root, symlinks=True)
    planted = state_file(box.root, which)
    planted.unlink()
    if kind == "fifo":
        os.mkfifo(planted)
    else:
        planted.symlink_to(box.canary / "victim.txt")
    box.refresh()
    for args in (["plan", "--demo", "--preset", "sft"], ["verify"], ["repair", "--demo"],
                 ["status"]):
        proc = wizard_cli(tmp_path, box.root, args)
        out = proc.stdout + proc.stderr
        assert "Traceback" not in out and f"[{Code.INTERNAL}]" not in out, (args, out)
        assert proc.returncode == 0, (args, out)
        box.assert_outside_unchanged()


@pytest.mark.parametrize("planted", ["cache", "temp"])
def test_sams_path_cache_is_never_written_through_a_planted_link(planted: str, demo_catalog: Path,
                                                                 box: Sandbox) -> None:  # noqa: F811
    import json

    from wizard.engine.catalog import load_catalog
    from wizard.engine.sources.samlinks import referenced

    component = load_catalog(demo_catalog).component("sam-tars")
    box.root.mkdir()
    annotations = box.root / "pt.json"
    annotations.write_text(json.dumps([{"id": "1", "image": "sam/images/sa_1.jpg"},
                                       {"id": "2", "image": "coco/train2017/1.jpg"}]))
    index = box.root / STATE / "index"
    index.mkdir(parents=True)
    cache = index / f"pt.json.{component.id}.paths"
    (cache if planted == "cache" else cache.with_name(cache.name + ".tmp")).symlink_to(box.canary / "victim.txt")
    box.refresh()
    assert referenced(box.root, component, [annotations]) == {"sa_1.jpg"}
    assert referenced(box.root, component, [annotations]) == {"sa_1.jpg"}  # from the cache now
    assert cache.is_file() and not cache.is_symlink()
    box.assert_outside_unchanged()


# ------------------------------------------------------------------------------------------
# Damaged zips through run (layout probe, download, layout check, extraction) and repair
# ------------------------------------------------------------------------------------------
def damaged_zip(case: str) -> bytes:
    from test_zipdir import build

    if case == "overlapping":
        return build([{"name": GOOD.encode(), "data": JPEG}, {"name": b"train2017/000000000025.jpg", "data": JPEG,
                                                              "offset": 0}])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(GOOD, JPEG)
        zf.writestr("train2017/000000000025.jpg", JPEG)
    data = bytearray(buf.getvalue())
    if case == "bad-crc":
        at = data.index(JPEG) + 50
        data[at] ^= 0xFF
    elif case == "truncated-directory":
        del data[-40:]
    elif case == "needs-a-newer-version":  # zipfile: NotImplementedError("zip file version 10.0")
        at = data.index(b"PK\x01\x02")
        data[at + 6] = 100
    return bytes(data)


@pytest.mark.parametrize("case", ["bad-crc", "truncated-directory", "needs-a-newer-version", "overlapping"])
def test_a_damaged_zip_is_a_coded_problem(
        case: str, box: Sandbox, world: World, own_server: MirrorServer,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    cat = serve_coco(world, own_server, box.top / "cat.toml", damaged_zip(case))
    box.refresh()
    expected = Code.ARCHIVE_UNSAFE if case == "overlapping" else Code.ARCHIVE_CORRUPT
    code, _out, err = cli(capsys, "run", "--catalog", cat, "--root", box.root, "--components", "coco-train2017",
                          "--yes", "--quiet", "--full-archives")
    assert code == 1, err
    assert f"[{expected}]" in err and "coco.zip" in err and "hint:" in err and f"[{Code.INTERNAL}]" not in err, err
    box.assert_outside_unchanged()


def damage(data: bytes, name: str, case: str) -> bytes:
    """``data`` (a zip) damaged at the member ``name`` as :func:`damaged_zip` damages its zips."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    info = next(i for i in infos if i.filename == name)
    out = bytearray(data)
    entry = out.index(name.encode(), out.index(b"PK\x01\x02")) - 46  # this member's central header
    if case == "bad-crc":
        start = info.header_offset + 30 + len(name) + int.from_bytes(out[info.header_offset + 28:][:2], "little")
        out[start] ^= 0xFF
    elif case == "truncated-directory":
        del out[-40:]
    elif case == "needs-a-newer-version":
        out[entry + 6] = 100
    elif case == "overlapping":  # its local header offset: another member's
        other = next(i for i in infos if i.filename != name and not i.is_dir())
        out[entry + 42:entry + 46] = other.header_offset.to_bytes(4, "little")
    return bytes(out)


@pytest.mark.parametrize("case", ["bad-crc", "truncated-directory", "needs-a-newer-version", "overlapping"])
def test_repair_with_a_damaged_kept_zip_is_a_coded_problem(
        case: str, box: Sandbox, demo_catalog: Path, mirror: MirrorServer,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--catalog", demo_catalog, "--hf-endpoint", mirror.base_url, "--root", box.root]
    code, _out, err = cli(capsys, "run", *args, "--preset", "sft", "--yes", "--quiet", "--keep-archives")
    assert code == 0, err
    victim = next((box.root / "coco/train2017").iterdir())
    victim.unlink()
    kept = box.root / STATE / "downloads" / "train2017.zip"
    assert kept.is_file()
    kept.write_bytes(damage(kept.read_bytes(), f"train2017/{victim.name}", case))
    box.refresh()
    code, out, err = cli(capsys, "repair", *args)
    err += out  # the repair's report is on stdout
    assert f"[{Code.INTERNAL}]" not in err, err
    assert code == 1, err  # the member it needs is the damaged one, or the whole zip is unreadable
    assert f"[{Code.ARCHIVE_UNSAFE if case == 'overlapping' else Code.ARCHIVE_CORRUPT}]" in err, err
    assert "train2017.zip" in err and "hint:" in err, err
    assert not victim.exists()
    box.assert_outside_unchanged()


# ------------------------------------------------------------------------------------------
# Hostile tars through run (an http source of a tar: downloaded, then extracted)
# ------------------------------------------------------------------------------------------
def tar_of(case: str) -> bytes:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        def add(name: str, data: bytes = JPEG, **fields: object) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data) if not fields.get("type") else 0
            for key, value in fields.items():
                setattr(info, key, value)
            tf.addfile(info, io.BytesIO(data) if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else None)
        add(GOOD)
        if case == "dotdot":
            add("train2017/../../../canary/evil.jpg")
        elif case == "absolute":
            add("/tmp/robust6-evil.jpg")
        elif case == "symlink":
            add("train2017/000000000025.jpg", type=tarfile.SYMTYPE, linkname="../../canary/victim.txt")
        elif case == "hardlink":
            add("train2017/000000000025.jpg", type=tarfile.LNKTYPE, linkname="../../canary/victim.txt")
        elif case == "device":
            add("train2017/000000000025.jpg", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
        elif case == "fifo":
            add("train2017/000000000025.jpg", type=tarfile.FIFOTYPE)
    data = buf.getvalue()
    if case == "huge-declared-size":  # a header saying 8 GiB, then the file ends
        info = tarfile.TarInfo("train2017/000000000025.jpg")
        info.size = 8 << 30
        data = data.rstrip(b"\0") + bytes(-len(data.rstrip(b"\0")) % 512) + info.tobuf(tarfile.GNU_FORMAT) + JPEG
    return data


TAR_CASES = {"dotdot": Code.ARCHIVE_UNSAFE, "absolute": Code.ARCHIVE_UNSAFE, "symlink": Code.ARCHIVE_UNSAFE,
             "hardlink": Code.ARCHIVE_UNSAFE, "device": Code.ARCHIVE_UNSAFE, "fifo": Code.ARCHIVE_UNSAFE,
             "huge-declared-size": Code.ARCHIVE_TOO_LARGE}


@pytest.mark.parametrize("case", sorted(TAR_CASES))
def test_a_hostile_tar_is_a_coded_problem_and_writes_nothing_outside(
        case: str, box: Sandbox, world: World, own_server: MirrorServer,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib
    import tomllib

    from test_hostile import dumps_toml

    data = tar_of(case)
    (own_server.docroot / "coco.tar").write_bytes(data)
    raw = tomllib.loads(world.catalog_text(own_server.base_url))
    comp = component(raw, "coco-train2017")
    comp["archive"] = "tar"
    comp["file_count"] = 2
    comp["source"] = [{"kind": "http", "label": "test", "url": own_server.url("/coco.tar"), "size": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()}]
    cat = box.top / "cat.toml"
    cat.write_text(dumps_toml(raw), encoding="utf-8")
    box.refresh()
    code, _out, err = cli(capsys, "run", "--catalog", cat, "--root", box.root, "--components", "coco-train2017",
                          "--yes", "--quiet", "--full-archives")
    assert code == 1, err
    assert f"[{TAR_CASES[case]}]" in err and "coco.tar" in err and "hint:" in err, err
    assert f"[{Code.INTERNAL}]" not in err, err
    assert (box.root / "coco/train2017/000000000009.jpg").read_bytes() == JPEG  # the safe member is kept
    assert not Path("/tmp/robust6-evil.jpg").exists()
    box.assert_outside_unchanged()


# ------------------------------------------------------------------------------------------
# A catalog whose values have the wrong type (found by a seeded fuzz of the demo catalog)
# ------------------------------------------------------------------------------------------
WRONG_TYPES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "file_count-text": (lambda raw: component(raw, "coco-train2017").update(file_count="many"), "'file_count'"),
    "approx_extracted-list": (lambda raw: component(raw, "coco-train2017").update(approx_extracted=[]),
                              "'approx_extracted'"),
    "title-number": (lambda raw: component(raw, "gqa").update(title=5), "'title'"),
    "usage-bool": (lambda raw: component(raw, "gqa").update(usage=True), "'usage'"),
    "label-list": (lambda raw: component(raw, "gqa")["source"][0].update(label=[1]), "'label'"),
    "filename-float": (lambda raw: component(raw, "gqa")["source"][0].update(filename=1.5), "'filename'"),
    "community-text": (lambda raw: component(raw, "gqa")["source"][0].update(community="yes"), "'community'"),
    "preset-member-table": (lambda raw: raw["preset"][0].update(components=[{"a": 1}]), "'components'"),
    "preset-text": (lambda raw: raw.update(preset="sft"), "'preset'"),
}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_a_catalog_value_of_the_wrong_type_is_a_coded_problem(case: str, box: Sandbox, world: World,  # noqa: F811
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    edit, named = WRONG_TYPES[case]
    cat = edited_catalog(world, "http://127.0.0.1:9/", box.top / "cat.toml", edit)
    box.refresh()
    code, _out, err = cli(capsys, "plan", "--catalog", cat, "--root", box.root, "--preset", "sft")
    assert code == 2, err
    assert f"[{Code.CATALOG_INVALID}]" in err and named in err and "hint:" in err, err
    box.assert_outside_unchanged()


@pytest.mark.parametrize("bad_url", ["http://[::1/sam/sa_000000.tar?oe=6B352D69", "http://127.0.0.1:99999/sa.tar"])
def test_a_links_file_with_an_unparsable_url_is_a_coded_problem(
        bad_url: str, box: Sandbox, demo_catalog: Path, sam_links: Path, mirror: MirrorServer,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    lines = sam_links.read_text(encoding="utf-8").splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("sa_000000.tar\t"))
    lines[row] = f"sa_000000.tar\t{bad_url}"
    links = box.top / "links.tsv"
    links.write_text("\n".join(lines) + "\n", encoding="utf-8")
    box.refresh()
    code, _out, err = cli(capsys, "run", "--catalog", demo_catalog, "--hf-endpoint", mirror.base_url, "--root",
                          box.root, "--components", "sam-tars", "--sam-links", links, "--yes", "--quiet")
    assert code in (1, 2), err
    assert f"[{Code.SAM_LINKS_INVALID}]" in err and f"line {row + 1}" in err and "hint:" in err, err
    assert f"[{Code.INTERNAL}]" not in err
    box.assert_outside_unchanged()


# ------------------------------------------------------------------------------------------
# The last run's options, as the journal recorded them, are outside input when a run resumes
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("recorded", [{"concurrency": 0}, {"per_host": -2}, {"concurrency": True},
                                      {"concurrency": 1_000_000}, {"per_host": 17}, {"local_mode": "shred"}])
def test_a_recorded_option_out_of_range_is_not_restored(recorded: dict[str, object], box: Sandbox,  # noqa: F811
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import sqlite3

    from wizard.engine.journal import journal_path

    args = ["run", "--demo", "--root", box.root, "--components", "coco-train2017", "--yes", "--quiet"]
    box.root.mkdir()
    assert cli(capsys, *args)[0] == 0
    db = sqlite3.connect(journal_path(box.root))
    try:
        rowid, raw = db.execute("SELECT rowid, args FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()
        last = json.loads(raw)
        last["options"].update(recorded)
        db.execute("UPDATE runs SET args = ? WHERE rowid = ?", (json.dumps(last), rowid))
        db.commit()
    finally:
        db.close()
    box.refresh()
    code, _out, err = cli(capsys, "run", "--demo", "--root", box.root, "--yes", "--quiet")  # resumes the last run
    assert code == 0, err
    (key, value), = recorded.items()
    assert f"--{key.replace('_', '-')} {value}" not in err and "[" not in err.split("resuming with:")[0], err
    box.assert_outside_unchanged()


def zip_the_app_cannot_read(case: str) -> bytes:
    """A well-formed coco zip whose second member needs what zipfile lacks: Deflate64 (method 9,
    what Windows' own zip writes for large files) or a password."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(GOOD, JPEG)
        zf.writestr("train2017/000000000025.jpg", JPEG)
    data = bytearray(out.getvalue())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # the second member's headers
        at = data.index(signature, data.index(signature) + 1)
        if case == "deflate64":
            data[at + flags_at + 2:at + flags_at + 4] = (9).to_bytes(2, "little")
        else:
            data[at + flags_at] |= 1
    return bytes(data)


@pytest.mark.parametrize("case", ["deflate64", "encrypted"])
def test_a_zip_the_app_cannot_read_is_kept_and_not_downloaded_again(
        case: str, box: Sandbox, world: World, own_server: MirrorServer,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing is wrong with such a zip (its checksum matched): it was reported as damaged, moved
    to the quarantine and downloaded again by every run, to fail the same way."""
    cat = serve_coco(world, own_server, box.top / "cat.toml", zip_the_app_cannot_read(case))
    box.refresh()
    args = ["run", "--catalog", cat, "--root", box.root, "--components", "coco-train2017", "--yes", "--quiet",
            "--full-archives"]
    served = []
    for _ in range(2):
        code, _out, err = cli(capsys, *args)
        assert code == 1, err
        assert f"[{Code.ARCHIVE_UNSUPPORTED}]" in err and "000000000025.jpg" in err and "--local" in err, err
        served.append(sum(r.sent for r in own_server.requests if r.path == "/coco.zip"))
    assert served[0] >= len(zip_the_app_cannot_read(case)) and served[1] == served[0]  # not fetched again
    assert not (box.root / ".sharegpt4v-setup" / "quarantine").exists() or not any(
        (box.root / ".sharegpt4v-setup" / "quarantine").iterdir())
    assert [p.name for p in (box.root / "coco/train2017").iterdir()] == [GOOD.split("/")[1]]  # the readable one
    box.assert_outside_unchanged()
