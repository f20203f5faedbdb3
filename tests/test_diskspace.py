"""Disk space: the free-space watch (wizard.engine.diskspace), the plan's peak with streamed SA-1B
tars, and — on a small tmpfs mounted for the test (root only) — a run that waits for space and
carries on by itself, and a disk that fills mid-write: no partial final file, the job parked
``no-space``, retried in the same run when space returns, or by the next run."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import subprocess
import tarfile
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Recorder, fast_settings, make_ctx, sha256

from wizard.demo import MirrorServer, World
from wizard.demo.server import Fault
from wizard.demo.session import tree_of
from wizard.demo.world import dumps_toml
from wizard.engine.catalog import Layout, load_catalog
from wizard.engine.control import Control
from wizard.engine.diskspace import DiskMonitor, job_need
from wizard.engine.errors import Cancelled, Code, SetupError
from wizard.engine.events import Event, Stage, StageChanged
from wizard.engine.fsinfo import free_bytes
from wizard.engine.plan import build_plan
from wizard.engine.runner import Runner, RunResult
from wizard.engine.tarstream import stream_tar

MB = 1_000_000


# -- the monitor ---------------------------------------------------------------------------------------
class FakeDisk:
    """A statfn whose answers a test scripts; counts the calls."""

    def __init__(self, *values: int) -> None:
        self.values = list(values)
        self.calls = 0

    def __call__(self, path: Path) -> int:
        self.calls += 1
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def test_check_asks_the_filesystem_at_most_once_per_interval(tmp_path: Path) -> None:
    now = [0.0]
    disk = FakeDisk(10 * MB)
    monitor = DiskMonitor(tmp_path, 1 * MB, statfn=disk, clock=lambda: now[0], interval=1.0)
    ctx, rec = make_ctx(tmp_path / "root")
    for _ in range(50):
        monitor.check(ctx)
    now[0] = 0.99
    monitor.check(ctx)
    assert disk.calls == 1
    now[0] = 1.0
    monitor.check(ctx)
    assert disk.calls == 2 and not rec.of(StageChanged)


def test_wait_reports_waiting_then_carries_on(tmp_path: Path) -> None:
    disk = FakeDisk(300 * MB, 300 * MB, 310 * MB, 2_000 * MB)
    monitor = DiskMonitor(tmp_path, 1_100 * MB, statfn=disk, poll=0.01)
    ctx, rec = make_ctx(tmp_path / "root")
    ctx.stage(Stage.DOWNLOADING, "x")
    monitor.check(ctx)
    stages = [(e.stage, e.detail) for e in rec.events if isinstance(e, StageChanged)]
    fs = monitor.filesystem
    assert stages[1] == (Stage.WAITING, f"Only 300.0 MB free on {fs}; waiting for space (need 1.1 GB)")
    assert stages[-1] == (Stage.DOWNLOADING, "space is available again")
    assert any("2.0 GB free on" in t and "carrying on" in t for t in rec.logs())


def test_progress_reports_consult_the_monitor(tmp_path: Path) -> None:
    disk = FakeDisk(1 * MB, 1 * MB, 5 * MB)
    ctx, rec = make_ctx(tmp_path / "root")
    ctx.disk = DiskMonitor(tmp_path, 2 * MB, statfn=disk, poll=0.01)
    ctx.stage(Stage.EXTRACTING)
    ctx.progress(10, 100)  # what every download and extraction loop calls
    assert [e.stage for e in rec.events if isinstance(e, StageChanged)] == [
        Stage.EXTRACTING, Stage.WAITING, Stage.EXTRACTING]


def test_cancel_ends_the_wait(tmp_path: Path) -> None:
    control = Control()

    def statfn(path: Path) -> int:
        control.cancel()
        return 0

    ctx, _ = make_ctx(tmp_path / "root", control=control)
    with pytest.raises(Cancelled):
        DiskMonitor(tmp_path, MB, statfn=statfn, poll=0.01).wait_for(ctx, MB)


def test_streamed_sam_tars_need_no_archive_space(demo_catalog: Path, sam_links: Path, tmp_path: Path) -> None:
    cat = load_catalog(demo_catalog)
    comps = cat.resolve(None, ["sam-tars", "coco-train2017"])
    streamed = build_plan(tmp_path, cat, comps, fast_settings(sam_links=sam_links))
    stored = build_plan(tmp_path, cat, comps, fast_settings(sam_links=sam_links, stream_tars=False))
    by_id = {i.component.id: i for i in streamed.items}
    sam_s, coco_s = by_id["sam-tars"], by_id["coco-train2017"]
    by_id = {i.component.id: i for i in stored.items}
    sam_d, coco_d = by_id["sam-tars"], by_id["coco-train2017"]
    assert sam_s.peak_archive_bytes == 0 and sam_d.peak_archive_bytes == sam_d.total_download_bytes // 51 > 0
    assert coco_s.peak_archive_bytes == coco_d.peak_archive_bytes == coco_s.total_download_bytes
    assert stored.peak_bytes - streamed.peak_bytes == sam_d.peak_archive_bytes
    settings = fast_settings(min_free_bytes=5)
    assert job_need(sam_s, settings) == 5 + sam_s.extracted_bytes // 51
    assert job_need(coco_s, settings) == 5 + coco_s.total_download_bytes + coco_s.extracted_bytes


# -- a real small filesystem ---------------------------------------------------------------------------
@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 32 MB tmpfs under tmp_path (skipped unless root and mount works); unmounted afterwards."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "fs"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def ballast(fs: Path, leave: int) -> Path:
    """A file that leaves about ``leave`` bytes free on ``fs``."""
    path = fs / "ballast"
    size = free_bytes(fs) - leave
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.posix_fallocate(fd, 0, size)
    finally:
        os.close(fd)
    assert abs(free_bytes(fs) - leave) < 64 * 1024
    return path


def random_zip(prefix: str, count: int, size: int, seed: int) -> tuple[bytes, dict[str, bytes]]:
    rng = random.Random(seed)
    files = {f"{i:04d}.jpg": rng.randbytes(size) for i in range(count)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(prefix + name, data)
    return buf.getvalue(), files


def catalog(tmp_path: Path, sources: dict[str, tuple[str, bytes]]) -> Path:
    """The real catalog's components ``sources`` keys, each an http source (url, data)."""
    from wizard.paths import default_catalog_path

    raw = tomllib.loads(default_catalog_path().read_text())
    comps = []
    for comp in raw["component"]:
        if comp["id"] in sources:
            url, data = sources[comp["id"]]
            comp["source"] = [{"kind": "http", "label": "test", "url": url, "size": len(data), "sha256": sha256(data)}]
            comp["approx_extracted"], comp["file_count"] = len(data), 3
            comps.append(comp)
    raw["component"], raw["preset"] = comps, []
    path = tmp_path / "cat.toml"
    path.write_text(dumps_toml(raw))
    return path


def run(cat_path: Path, root: Path, ids: list[str], emit: Any, **overrides: Any) -> RunResult:
    cat = load_catalog(cat_path)
    settings = fast_settings(**overrides)
    root.mkdir(parents=True, exist_ok=True)
    return Runner(build_plan(root, cat, cat.resolve(None, ids), settings), cat, settings, emit).run()


def test_low_space_pauses_new_work_until_space_returns(small_fs: Path, world: World, demo_catalog: Path,
                                                       mirror: MirrorServer, sam_links: Path) -> None:
    weight = ballast(small_fs, 4 * MB)
    waiting = threading.Event()
    rec = Recorder()

    def emit(event: Event) -> None:
        rec(event)
        if isinstance(event, StageChanged) and event.stage == Stage.WAITING and "waiting for space" in event.detail:
            waiting.set()

    root = small_fs / "root"
    results: list[RunResult] = []
    runner = threading.Thread(target=lambda: results.append(
        run(demo_catalog, root, ["sam-tars"], emit, sam_links=sam_links, min_free_bytes=8 * MB,
            space_poll_seconds=0.05)))
    runner.start()
    try:
        assert waiting.wait(60), "the job never reported that it waits for space"
        assert runner.is_alive() and not [r for r in mirror.requests if r.path.startswith("/sam/")]
        detail = next(e.detail for e in rec.events if isinstance(e, StageChanged) and e.stage == Stage.WAITING)
        assert detail.startswith("Only ") and f"free on {small_fs}; waiting for space (need 8.0 MB)" in detail
    finally:
        weight.unlink()
        runner.join(120)
    assert not runner.is_alive() and results and results[0].ok
    assert tree_of(root) == world.expected_tree(["sam-tars"])


def test_a_full_disk_mid_download_parks_the_job_then_a_rerun_completes(small_fs: Path, tmp_path: Path) -> None:
    data, files = random_zip("train2017/", 3, 2 * MB, seed=3)
    docroot = tmp_path / "doc"
    docroot.mkdir()
    (docroot / "train2017.zip").write_bytes(data)
    root = small_fs / "root"
    downloads = root / ".sharegpt4v-setup/downloads"
    with MirrorServer(docroot) as server:
        cat = catalog(tmp_path, {"coco-train2017": (server.url("train2017.zip"), data)})
        weight = ballast(small_fs, 3 * MB)
        rec = Recorder()
        result = run(cat, root, ["coco-train2017"], rec, min_free_bytes=0)
        problem = result.waiting["coco-train2017"]
        assert problem.code == Code.NO_SPACE and problem.parked
        assert "is full" in problem.message and "needs about" in problem.message and "Free some space" in problem.hint
        assert not (downloads / "train2017.zip").exists()  # only the resumable .part, never a partial final file
        assert not (root / "coco/train2017").exists() or not list((root / "coco/train2017").iterdir())
        kept = (downloads / "train2017.zip.part").stat().st_size
        assert 0 < kept < len(data)

        weight.unlink()
        server.clear_requests()
        result = run(cat, root, ["coco-train2017"], Recorder(), min_free_bytes=0)
        assert result.ok
        assert [r.headers.get("Range") for r in server.requests if r.method == "GET"] == [f"bytes={kept}-"]
    assert {p.name: p.read_bytes() for p in (root / "coco/train2017").iterdir()} == files


def test_a_job_parked_by_a_full_disk_is_retried_in_the_same_run(small_fs: Path, tmp_path: Path) -> None:
    big, big_files = random_zip("train2017/", 3, 2 * MB, seed=4)
    small, small_files = random_zip("images/", 3, 10_000, seed=5)
    docroot = tmp_path / "doc"
    docroot.mkdir()
    (docroot / "train2017.zip").write_bytes(big)
    (docroot / "images.zip").write_bytes(small)
    root = small_fs / "root"
    weight = ballast(small_fs, 3 * MB)
    rec = Recorder()

    def emit(event: Event) -> None:
        rec(event)
        if isinstance(event, StageChanged) and event.stage == Stage.WAITING and "Retried in this run" in event.detail:
            weight.unlink(missing_ok=True)  # someone frees space while the other job still runs

    with MirrorServer(docroot) as server:
        server.add_fault("/images.zip", Fault(delay=1.5))  # keeps the run busy while space comes back
        cat = catalog(tmp_path, {"coco-train2017": (server.url("train2017.zip"), big),
                                 "gqa": (server.url("images.zip"), small)})
        result = run(cat, root, ["coco-train2017", "gqa"], emit, min_free_bytes=0, concurrency=2)
    assert result.ok and sorted(result.done) == ["coco-train2017", "gqa"] and not result.waiting
    assert any("free again; retrying coco-train2017" in t for t in rec.logs())
    assert {p.name: p.read_bytes() for p in (root / "coco/train2017").iterdir()} == big_files
    assert {p.name: p.read_bytes() for p in (root / "gqa/images").iterdir()} == small_files


def test_a_full_disk_mid_stream_leaves_no_partial_member(small_fs: Path, tmp_path: Path) -> None:
    rng = random.Random(9)
    members = [(f"./sa_{i}.jpg", rng.randbytes(size)) for i, size in enumerate([500_000, 500_000, 6 * MB, 10_000])]
    docroot = tmp_path / "doc"
    docroot.mkdir()
    with tarfile.open(docroot / "t.tar", "w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    root = small_fs / "root"
    dest = root / "sam/images"
    layout = Layout(include=("*.jpg",), flatten=True)
    with MirrorServer(docroot) as server:
        weight = ballast(small_fs, 3 * MB)
        ctx, _ = make_ctx(root, fast_settings(min_free_bytes=0))
        with pytest.raises(SetupError) as caught:
            stream_tar(ctx, server.url("t.tar"), "t.tar", dest, layout)
        assert caught.value.problem.code == Code.NO_SPACE and caught.value.problem.parked
        assert "no partial file is left behind" in caught.value.problem.message
        assert sorted(os.listdir(dest)) == ["sa_0.jpg", "sa_1.jpg"]  # no sa_2.jpg, no temp file
        weight.unlink()
        server.clear_requests()
        with contextlib.closing(ctx.journal):
            result = stream_tar(ctx, server.url("t.tar"), "t.tar", dest, layout)
        assert (result.written, result.skipped) == (4, 0)  # counted over both passes, none twice
        assert server.requests[0].headers.get("Range", "").startswith("bytes=")
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == {n[2:]: d for n, d in members}


# -- a FAT32 root (a USB disk): no file of 4 GiB or more ---------------------------------------------------
def _mountinfo(tmp_path: Path, usb: Path, fstype: str) -> Path:
    """A mountinfo where ``usb`` (its space written as Linux does, ``\\040``) is a mount of ``fstype``."""
    escaped = str(usb).replace(" ", "\\040")
    path = tmp_path / "mountinfo"
    path.write_text("22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
                    f"48 22 7:0 / {escaped} rw,nosuid,nodev,relatime shared:30 - {fstype} /dev/loop0 rw,fmask=0022\n")
    return path


@pytest.mark.parametrize("fstype", ["vfat", "exfat"])
def test_a_download_larger_than_fat32_holds_is_refused_up_front(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fstype: str) -> None:
    from wizard import cli
    from wizard.engine import fsinfo
    from wizard.paths import default_catalog_path

    raw = tomllib.loads(default_catalog_path().read_text())
    comp = next(c for c in raw["component"] if c["id"] == "coco-train2017")
    size = 5 * 1024 ** 3  # no server: a run that started would fail on the connection, not on the disk
    comp["source"] = [{"kind": "http", "label": "test", "url": "http://127.0.0.1:9/train2017.zip",
                       "size": size, "sha256": "0" * 64}]
    raw["component"], raw["preset"] = [comp], []
    cat = tmp_path / "one.toml"
    cat.write_text(dumps_toml(raw))
    usb = tmp_path / "usb disk"
    usb.mkdir()
    monkeypatch.setattr(fsinfo, "MOUNTINFO", _mountinfo(tmp_path, usb, fstype))
    args = ["--catalog", str(cat), "--root", str(usb / "sg4v"), "--components", "coco-train2017"]
    assert cli.main(["plan", *args]) == 0
    said = capsys.readouterr().out
    if fstype == "exfat":  # exFAT has no such limit
        assert "FAT32" not in said
        assert cli.main(["plan", *args, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["too_large"] is None
        return
    assert "[no-space]" in said and "FAT32" in said and "coco-train2017 (train2017.zip, 5.4 GB)" in said
    assert cli.main(["plan", *args, "--json"]) == 0
    too_large = json.loads(capsys.readouterr().out)["too_large"]
    assert too_large["code"] == "no-space" and "FAT32" in too_large["message"]
    assert cli.main(["run", *args, "--yes", "--force"]) == cli.EXIT_SPACE  # --force cannot make it fit
    err = capsys.readouterr().err
    assert "FAT32" in err and "hint: Choose a data root on another filesystem" in err
    assert not list((usb / "sg4v").rglob("*.part"))  # nothing was downloaded
