"""The engine end to end: CLI and runner against loopback servers serving the miniature world."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from helpers import settled_requests, sha256

from wizard.cli import main
from wizard.demo import MirrorServer, World
from wizard.demo.server import Fault
from wizard.demo.session import tree_of
from wizard.demo.world import dumps_toml
from wizard.engine.catalog import load_catalog
from wizard.engine.context import Settings
from wizard.engine.errors import Code, SetupError
from wizard.engine.journal import RootLock
from wizard.engine.plan import build_plan
from wizard.engine.runner import Runner
from wizard.engine.safefs import is_whole

HTTP_AND_HUB = ["json-sft", "llava-pretrain", "coco-train2017", "gqa", "textvqa", "vg-part1", "vg-part2"]


def run_cli(*args: str | Path) -> int:
    return main([str(a) for a in args])


def test_demo_run_leaves_exact_tree_and_second_run_does_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "x"
    assert run_cli("run", "--demo", "--root", root, "--preset", "all", "--yes") == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "holds exactly what the world expects" in out
    # ... and says what it adapted to the real world's quirks
    err = captured.err
    assert "textvqa: done" in err and "layout adapted: files under 'train_val_images/train_images/'" in err
    assert "sa_000001.tar is gzip-compressed: extracting it through gzip" in err
    assert "skipped 3 row(s) this download does not need: " in err
    assert (root / "coco/train2017").is_dir() and (root / "llava/llava_pretrain/images").is_dir()
    assert run_cli("run", "--demo", "--root", root, "--yes") == 0
    out = capsys.readouterr().out
    assert "already in place; nothing to do" in out and "holds exactly what the world expects" in out


def test_catalog_run_matches_world_tree(world: World, demo_catalog: Path, mirror: MirrorServer,
                                        tmp_path: Path) -> None:
    root = tmp_path / "root"
    code = run_cli("run", "--catalog", demo_catalog, "--hf-endpoint", mirror.base_url, "--root", root,
                   "--components", ",".join(HTTP_AND_HUB), "--yes", "--full-archives")
    assert code == 0
    assert tree_of(root) == world.expected_tree(HTTP_AND_HUB)
    for rel, size in world.expected_sizes(HTTP_AND_HUB).items():
        assert (root / rel).stat().st_size == size
    # archives are removed after a verified extraction; nothing left half-done
    assert list((root / ".sharegpt4v-setup/downloads").iterdir()) == []


def test_annotation_driven_run_extracts_only_referenced_images(
        world: World, demo_catalog: Path, mirror: MirrorServer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    comps = ["json-sft", "llava-pretrain"]
    args = ["run", "--catalog", demo_catalog, "--hf-endpoint", mirror.base_url, "--root", root,
            "--components", ",".join(comps), "--yes"]
    llava_all = world.expected_tree(["llava-pretrain"])
    wanted = {p for p in world.references["json-sft"] if p.startswith("llava/")}
    assert wanted and wanted < llava_all  # the SFT mixture uses only some LLaVA-Pretrain images
    assert run_cli(*args) == 0
    assert tree_of(root) == wanted | world.expected_tree(["json-sft"])
    # the plan knows the subset once the JSON is on disk; asking for full archives redoes the component
    capsys.readouterr()
    assert run_cli("plan", "--catalog", demo_catalog, "--root", root, "--components", ",".join(comps),
                   "--json") == 0
    llava = next(c for c in json.loads(capsys.readouterr().out)["components"] if c["id"] == "llava-pretrain")
    assert llava["status"] == "done"
    assert run_cli("plan", "--catalog", demo_catalog, "--root", root, "--components", ",".join(comps),
                   "--json", "--full-archives") == 0
    llava = next(c for c in json.loads(capsys.readouterr().out)["components"] if c["id"] == "llava-pretrain")
    assert llava["status"] == "todo" and llava["download_bytes"] > 0
    assert run_cli(*args, "--full-archives") == 0
    assert tree_of(root) == llava_all | world.expected_tree(["json-sft"])


def test_nginx_serves_plain_and_hub_paths(world: World, nginx_catalog: Path, nginx_mirror: Any,
                                          tmp_path: Path) -> None:
    root = tmp_path / "root"
    comps = ["json-cap100k", "llava-pretrain", "coco-train2017"]  # hub, hub (zip), plain http (zip)
    assert run_cli("run", "--catalog", nginx_catalog, "--hf-endpoint", nginx_mirror.base_url,
                   "--root", root, "--components", ",".join(comps), "--yes", "--full-archives") == 0
    assert tree_of(root) == world.expected_tree(comps)
    log = nginx_mirror.access_log.read_text()
    assert "/datasets/liuhaotian/LLaVA-Pretrain/resolve/main/images.zip" in log
    assert "train2017.zip" in log


def test_plan_json_lists_components_with_download_bytes(
        demo_catalog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("plan", "--catalog", demo_catalog, "--root", tmp_path, "--preset", "sft", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    ids = [c["id"] for c in data["components"]]
    assert ids[0] == "json-sft" and "coco-train2017" in ids and "sam-9k" in ids
    coco = next(c for c in data["components"] if c["id"] == "coco-train2017")
    assert coco["download_bytes"] > 0 and coco["source"]["community"] is False
    assert data["fits"] is True and data["free_bytes"] > 0


def test_real_catalog_plan_uses_official_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("plan", "--root", tmp_path, "--preset", "pt", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    coco = next(c for c in data["components"] if c["id"] == "coco-train2017")
    assert coco["download_bytes"] == 19_336_861_798
    sam = next(c for c in data["components"] if c["id"] == "sam-tars")
    assert sam["source"] is None and sam["problem"]["code"] == "sam-links-missing"


@pytest.mark.parametrize("case", ["missing", "file", "unwritable"])
def test_bad_roots_are_refused_with_a_reason(case: str, tmp_path: Path, demo_catalog: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    if case == "missing":
        root = tmp_path / "no" / "such" / "dir"
        expected = "root-missing"
    elif case == "file":
        root = tmp_path / "afile"
        root.write_text("x")
        expected = "root-not-dir"
    else:
        root = tmp_path / "ro"
        root.mkdir()
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == root else real_access(p, m))
        expected = "root-not-writable"
    code = run_cli("run", "--catalog", demo_catalog, "--root", root, "--preset", "sft", "--yes")
    err = capsys.readouterr().err
    assert code == 2 and expected in err and "hint:" in err
    assert not (tmp_path / "no").exists()


def test_no_space_refuses_to_start_with_numbers(tmp_path: Path, demo_catalog: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from wizard.engine import plan as plan_mod

    monkeypatch.setattr(plan_mod.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9, 999))
    root = tmp_path / "root"
    code = run_cli("run", "--catalog", demo_catalog, "--root", root, "--preset", "sft", "--yes")
    err = capsys.readouterr().err
    assert code == 3 and "no-space" in err and "999 B is free" in err and "--force" in err
    assert not (root / ".sharegpt4v-setup" / "downloads").exists()


def test_catalog_typo_is_reported_with_a_suggestion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from wizard.paths import default_catalog_path

    text = default_catalog_path().read_text().replace('url = "http://images', 'ulr = "http://images', 1)
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert run_cli("plan", "--catalog", bad, "--root", tmp_path, "--preset", "pt") == 2
    err = capsys.readouterr().err
    assert "catalog-invalid" in err and "unknown key 'ulr'" in err and "did you mean 'url'" in err


def test_failed_job_does_not_stop_others_and_rerun_resumes(world: World, demo_catalog: Path,
                                                          mirror: MirrorServer, tmp_path: Path) -> None:
    catalog = load_catalog(demo_catalog)
    settings = Settings(hf_endpoint=mirror.base_url, retries=2, backoff=0.01, backoff_cap=0.02,
                        chunk_size=1024)
    comps = catalog.resolve(None, ["coco-train2017", "gqa", "vg-part1"])
    coco = "images.cocodataset.org/zips/train2017.zip"
    mirror.add_fault(coco, Fault(times=1))  # the layout probe's range request answers normally
    mirror.add_fault(coco, Fault(drop_after=3000, times=1))
    mirror.add_fault(coco, Fault(status=500, times=None))
    root = tmp_path / "root"
    root.mkdir()
    result = Runner(build_plan(root, catalog, comps, settings), catalog, settings).run()
    assert set(result.failed) == {"coco-train2017"} and sorted(result.done) == ["gqa", "vg-part1"]
    assert result.failed["coco-train2017"].code == Code.RETRIES_EXHAUSTED
    part = root / ".sharegpt4v-setup/downloads/train2017.zip.part"
    kept = part.stat().st_size
    assert kept > 0
    mirror.clear_faults()
    mirror.clear_requests()
    plan = build_plan(root, catalog, comps, settings)
    assert [i.component.id for i in plan.todo] == ["coco-train2017"]
    result = Runner(plan, catalog, settings).run()
    assert result.ok and result.done == ["coco-train2017"]
    gets = [r for r in settled_requests(mirror, 1) if r.method == "GET"]
    assert [r.headers.get("Range") for r in gets] == [f"bytes={kept}-"]
    assert tree_of(root) == world.expected_tree(["coco-train2017", "gqa", "vg-part1"])


def test_second_process_on_same_root_is_refused(tmp_path: Path) -> None:
    with RootLock(tmp_path):
        code = ("import sys; from pathlib import Path; from wizard.engine.journal import RootLock\n"
                "from wizard.engine.errors import SetupError\n"
                f"try:\n    RootLock(Path({str(tmp_path)!r})).acquire()\nexcept SetupError as e:\n"
                "    print(e.problem.code); sys.exit(3)\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and "root-locked" in proc.stdout
    with RootLock(tmp_path) as again:  # free again once the holder released it
        assert again.path.read_text() == f"pid {os.getpid()} on {socket.gethostname()}"


def test_status_reports_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "x"
    assert run_cli("run", "--demo", "--root", root, "--components", "json-sft,gqa", "--yes") == 0
    capsys.readouterr()
    assert run_cli("status", "--root", root, "--json") == 0
    records = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["gqa"]["stage"] == "done" and records["json-sft"]["stage"] == "done"
    assert run_cli("status", "--root", tmp_path / "nothing-here") == 2


# -- hostile archives through the whole pipeline -------------------------------------------
def _one_component_catalog(tmp_path: Path, cid: str, url: str, data: bytes,
                           archive: str | None = None) -> Path:
    from wizard.paths import default_catalog_path

    raw = tomllib.loads(default_catalog_path().read_text())
    comp = next(c for c in raw["component"] if c["id"] == cid)
    if archive:
        comp["archive"] = archive
    comp["source"] = [{"kind": "http", "label": "test", "url": url, "size": len(data), "sha256": sha256(data)}]
    raw["component"] = [comp]
    raw["preset"] = []
    path = tmp_path / "one.toml"
    path.write_text(dumps_toml(raw))
    return path


def test_zip_with_traversal_members_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("train2017/000000000001.jpg", b"\xff\xd8\xff\xe0ok\xff\xd9")
        zf.writestr("train2017/../../../../evil.txt", b"evil")
        zf.writestr("/tmp/abs-evil.txt", b"evil")
    data = buf.getvalue()
    docroot = tmp_path / "doc"
    docroot.mkdir()
    (docroot / "train2017.zip").write_bytes(data)
    root = tmp_path / "data" / "root"
    root.parent.mkdir()
    with MirrorServer(docroot) as srv:
        cat = _one_component_catalog(tmp_path, "coco-train2017", srv.url("train2017.zip"), data)
        assert run_cli("run", "--catalog", cat, "--root", root, "--components", "coco-train2017", "--yes") == 1
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/abs-evil.txt").exists()
    assert not list(tmp_path.rglob("evil.txt"))
    assert (root / "coco/train2017/000000000001.jpg").exists()
    rec = json.loads(subprocess.run([sys.executable, "-m", "wizard", "status", "--root", str(root), "--json"],
                                    capture_output=True, text=True, timeout=60).stdout)
    assert rec[0]["stage"] == "failed" and rec[0]["problem"]["code"] == "archive-unsafe"


def test_tar_with_escaping_symlink_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        good = b"\xff\xd8\xff\xe0sam\xff\xd9"
        info = tarfile.TarInfo("./sa_1.jpg")
        info.size = len(good)
        tf.addfile(info, io.BytesIO(good))
        link = tarfile.TarInfo("./sa_2.jpg")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../../../../etc/passwd"
        tf.addfile(link)
    data = buf.getvalue()
    docroot = tmp_path / "doc"
    docroot.mkdir()
    (docroot / "sam.tar").write_bytes(data)
    root = tmp_path / "root"
    with MirrorServer(docroot) as srv:
        # the sam-9k component (flatten, *.jpg) fed a tar through a plain http source
        cat = _one_component_catalog(tmp_path, "sam-9k", srv.url("sam.tar"), data, archive="tar")
        assert run_cli("run", "--catalog", cat, "--root", root, "--components", "sam-9k", "--yes") == 1
    assert (root / "sam/images/sa_1.jpg").is_file()
    assert not (root / "sam/images/sa_2.jpg").exists() and not (root / "sam/images/sa_2.jpg").is_symlink()


# -- kill -9 ----------------------------------------------------------------------------------
def _big_coco_zip(members: int, size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for n in range(members):
            zf.writestr(f"train2017/{n:012d}.jpg", b"\xff\xd8\xff\xe0" + os.urandom(size) + b"\xff\xd9")
    return buf.getvalue()


def _spawn(cat: Path, root: Path) -> subprocess.Popen[bytes]:
    """The run in a process group of its own (its helper processes too: :func:`_kill_9` ends them all)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "wizard", "run", "--catalog", str(cat), "--root", str(root),
                             "--components", "coco-train2017", "--yes", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)


def _kill_9(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the run and every helper process it started (a power cut, as far as the disk knows)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _wait_until(pred: Any, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert proc.poll() is None, "the run ended before the test could interrupt it"
        assert time.monotonic() < deadline, "timed out waiting for the run to get there"
        time.sleep(0.01)


@pytest.mark.slow
def test_kill_9_mid_download_then_rerun_resumes(tmp_path: Path) -> None:
    data = _big_coco_zip(40, 100_000)
    docroot = tmp_path / "doc"
    docroot.mkdir()
    (docroot / "train2017.zip").write_bytes(data)
    root = tmp_path / "root"
    part = root / ".sharegpt4v-setup/downloads/train2017.zip.part"
    with MirrorServer(docroot) as srv:
        srv.add_fault("train2017.zip", Fault(times=1))  # the layout probe's range request
        srv.add_fault("train2017.zip", Fault(rate=400_000, times=1))
        cat = _one_component_catalog(tmp_path, "coco-train2017", srv.url("train2017.zip"), data)
        proc = _spawn(cat, root)
        _wait_until(lambda: part.exists() and part.stat().st_size > 500_000, proc)
        _kill_9(proc)
        kept = part.stat().st_size
        assert 0 < kept < len(data)
        srv.clear_requests()
        assert run_cli("run", "--catalog", cat, "--root", root, "--components", "coco-train2017", "--yes") == 0
        gets = [r for r in settled_requests(srv, 1) if r.method == "GET"]
    assert [r.headers.get("Range") for r in gets] == [f"bytes={kept}-"]
    assert sum(r.sent for r in gets) == len(data) - kept  # no verified byte fetched twice
    assert len(list((root / "coco/train2017").iterdir())) == 40


@pytest.mark.slow
def test_kill_9_mid_extraction_then_rerun_continues(tmp_path: Path) -> None:
    members = 12_000
    data = _big_coco_zip(members, 200)
    docroot = tmp_path / "doc"
    docroot.mkdir()
    (docroot / "train2017.zip").write_bytes(data)
    root = tmp_path / "root"
    target = root / "coco/train2017"

    def extracted() -> int:
        try:
            return sum(1 for e in os.scandir(target) if not e.name.startswith("."))
        except FileNotFoundError:
            return 0

    with MirrorServer(docroot) as srv:
        cat = _one_component_catalog(tmp_path, "coco-train2017", srv.url("train2017.zip"), data)
        proc = _spawn(cat, root)
        _wait_until(lambda: extracted() > 300, proc)
        _kill_9(proc)
        entries = [e for e in os.scandir(target) if not e.name.startswith(".")]
        # the member each process (the run, its zip-members helper) was writing at the kill may be at
        # its final name, short or whole without its mtime yet: the rerun replaces it. A member counts
        # as finished by the extractor's own rule (size and mtime).
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            mtimes = {Path(i.filename).name: time.mktime((*i.date_time, 0, 0, -1)) for i in zf.infolist()}
        before = {e.name: e.stat().st_ino for e in entries if is_whole(e.stat(), 206, mtimes[e.name])}
        assert 0 < len(before) < members and len(entries) - len(before) <= 2
        srv.clear_requests()
        assert run_cli("run", "--catalog", cat, "--root", root, "--components", "coco-train2017", "--yes") == 0
        assert [r for r in srv.requests if r.method == "GET"] == []  # the verified archive was kept
    after = {e.name: e.stat().st_ino for e in os.scandir(target)}
    assert len(after) == members
    assert all(after[name] == ino for name, ino in before.items())  # finished members not rewritten
    assert not (root / ".sharegpt4v-setup/downloads/train2017.zip").exists()


def test_setup_error_renders_code_message_hint() -> None:
    err = SetupError(Code.DRIVE_QUOTA, "Google Drive quota exceeded for web-celebrity.zip",
                     "retry after 24 h or enable the Hub mirror", parked=True)
    text = err.problem.render()
    assert text.startswith("[drive-quota] Google Drive quota") and "hint: retry after 24 h" in text


def test_run_without_selection_resumes_the_last_run(demo_catalog: Path, mirror: MirrorServer, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    base = ["run", "--catalog", demo_catalog, "--hf-endpoint", mirror.base_url, "--root", root, "--yes"]
    assert run_cli(*base, "--components", "json-cap100k,gqa") == 0
    capsys.readouterr()
    assert run_cli(*base) == 0
    captured = capsys.readouterr()
    assert "Resuming the last run on this root: json-cap100k, gqa" in captured.err
    assert "already in place; nothing to do" in captured.out
    assert run_cli("run", "--catalog", demo_catalog, "--root", tmp_path / "fresh", "--yes") == 2
    assert "Nothing selected" in capsys.readouterr().err


def _snapshot(root: Path) -> dict[str, int]:
    """Every file and its size, but SQLite's own -wal/-shm files (reading the journal makes them)."""
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")
            if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def test_demo_placeholders_and_real_data_never_share_a_root(
        world: World, demo_catalog: Path, mirror: MirrorServer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A demo root is not taken for real data (its COCO would be "in place"), and a real root gets
    no placeholders: plan, run and repair refuse with demo-root before writing anything."""
    demo = tmp_path / "demo"
    assert run_cli("run", "--demo", "--root", demo, "--components", "coco-train2017", "--yes", "--quiet") == 0
    capsys.readouterr()
    before = _snapshot(demo)
    real = ("--catalog", demo_catalog, "--hf-endpoint", mirror.base_url, "--components", "coco-train2017")
    for command in ("plan", "run"):
        assert run_cli(command, "--root", demo, *real, *(("--yes",) if command == "run" else ())) == 2
        err = capsys.readouterr().err
        assert "[demo-root]" in err and "placeholder" in err and "Choose another folder" in err
    assert _snapshot(demo) == before
    with pytest.raises(SetupError) as caught:
        Runner(build_plan(demo, load_catalog(demo_catalog), [], Settings(demo=True)), load_catalog(demo_catalog),
               Settings(hf_endpoint=mirror.base_url), lambda event: None).run()
    assert caught.value.problem.code == Code.DEMO_ROOT

    real_root = tmp_path / "real"
    assert run_cli("run", "--root", real_root, *real, "--yes", "--quiet") == 0
    capsys.readouterr()
    before = _snapshot(real_root)
    for command in ("run", "repair"):
        assert run_cli(command, "--demo", "--root", real_root, *(("--yes",) if command == "run" else ())) == 2
        err = capsys.readouterr().err
        assert "[demo-root]" in err and "real sources" in err
    assert _snapshot(real_root) == before  # not even the demo's world in the state folder

    # A demo root of an earlier version (no marker; the demo's port file) is known too.
    old = tmp_path / "old"
    (old / ".sharegpt4v-setup").mkdir(parents=True)
    (old / ".sharegpt4v-setup" / "demo-port").write_text("8080")
    assert run_cli("plan", "--root", old, *real) == 2
    assert "[demo-root]" in capsys.readouterr().err


def test_run_json_prints_one_result_object_on_stdout(demo_catalog: Path, mirror: MirrorServer, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``run --json`` was accepted and ignored (text on stdout). Now stdout holds one JSON object
    with the result (each problem's code, message and hint); what a person reads goes to stderr."""
    base = ["run", "--catalog", demo_catalog, "--hf-endpoint", mirror.base_url, "--yes", "--json"]
    assert run_cli(*base, "--root", tmp_path / "ok", "--components", "gqa") == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["ok"] and result["exit"] == 0 and result["done"] == ["gqa"] and result["failed"] == {}
    assert "Done: 1 prepared" in err
    mirror.add_fault("downloads.cs.stanford.edu", Fault(status=404, times=None))
    assert run_cli(*base, "--root", tmp_path / "bad", "--components", "gqa") == 1
    out, _err = capsys.readouterr()
    result = json.loads(out)
    assert not result["ok"] and result["exit"] == 1 and result["done"] == []
    assert set(result["failed"]) == {"gqa"} and result["failed"]["gqa"]["code"] and result["failed"]["gqa"]["hint"]


def test_a_cancel_ends_a_request_still_waiting_for_its_answer(tmp_path: Path) -> None:
    """A server that takes the request and never answers: Stop (and the wizard's Quit, which
    stops first) waited for the read timeout — 42 s on a plain download — since the cancel hook
    could only shut a connection once an answer existed. Now the run's cancel shuts the
    connections its requests hold. (The joins below only keep a broken build from hanging.)"""
    import threading

    from helpers import Recorder, SilentServer, fast_settings, wait_for

    from wizard.engine.catalog import load_catalog
    from wizard.engine.control import Control
    from wizard.engine.plan import build_plan
    from wizard.engine.runner import Runner, RunResult

    silent = SilentServer()
    port, held = silent.port, silent.held
    cat_path = _one_component_catalog(tmp_path, "coco-train2017", f"http://127.0.0.1:{port}/train2017.zip",
                                      b"x" * 1000)
    catalog = load_catalog(cat_path)
    settings = fast_settings(min_free_bytes=0, read_timeout=3600.0)
    root = tmp_path / "root"
    root.mkdir()
    control = Control()
    runner = Runner(build_plan(root, catalog, catalog.resolve(None, ["coco-train2017"]), settings), catalog,
                    settings, Recorder(), control)
    results: list[RunResult] = []
    worker = threading.Thread(target=lambda: results.append(runner.run()))
    try:
        worker.start()
        wait_for(lambda: bool(held))  # the request is in; its answer never comes
        control.cancel()
        worker.join(60)
        assert not worker.is_alive(), "the cancel waited for the read timeout"
        assert results and results[0].cancelled
    finally:
        silent.close()
        worker.join(60)
