"""A zip of many small members written by two processes (zipsplit: the zip-members helper takes
batches from the far end): the same files, mtimes, counts and size ledger as one process; exact
member-level resume after a cancel, a damaged member, or a kill -9 of either process; a dead
helper's batches written by the parent; pause and cancel reach the helper; no path escapes."""

from __future__ import annotations

import errno
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import make_ctx

import wizard
import wizard.engine.zipextract as zipextract
from wizard.engine import child, zipmembers, zipsplit
from wizard.engine.catalog import Layout
from wizard.engine.control import Control
from wizard.engine.errors import Cancelled, Code, SetupError
from wizard.engine.extract import ExtractResult, extract_archive
from wizard.engine.sizes import recorded_sizes

COUNT = 2048  # 16 batches of zipextract.BATCH
THRESHOLD = 500  # PARALLEL_FROM in these tests: every archive here uses the helper
FOLDERS = ("a", "b/c")
WHEN = (2017, 8, 31, 12, 0, 0)


def many(path: Path, count: int = COUNT) -> dict[str, bytes]:
    """Members of 200 B to about 9 KB in two folders, half incompressible; {relative path: bytes}."""
    members = {}
    for i in range(count):
        size = 200 + (i * 7919) % 9000
        members[f"{FOLDERS[i % 2]}/{i:06d}.jpg"] = os.urandom(size) if i % 3 else bytes([i % 251]) * size
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(f"train2017/{name}", WHEN)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return members


def on_disk(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


class Helpers:
    """The helpers the extractions of a test started (spy on zipextract.start_helper)."""

    def __init__(self) -> None:
        self.started: list[zipsplit.MembersHelper] = []

    def __call__(self, archive: str, dest: str) -> zipsplit.MembersHelper | None:
        helper = zipsplit.start_helper(archive, dest)
        if helper is not None:
            self.started.append(helper)
        return helper


@pytest.fixture
def helpers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Helpers]:
    monkeypatch.setattr(zipextract, "PARALLEL_FROM", THRESHOLD)
    monkeypatch.setattr(zipextract, "helper_allowed", lambda: True)  # also when Qt is loaded by other tests
    spy = Helpers()
    monkeypatch.setattr(zipextract, "start_helper", spy)
    yield spy
    for helper in spy.started:
        assert helper.proc.poll() is not None, "a helper outlived its extraction"


def run(root: Path, archive: Path, control: Control | None = None) -> ExtractResult:
    ctx, _ = make_ctx(root, control=control)
    try:
        return extract_archive(ctx, archive, "zip", root / "out", Layout(strip="train2017/"))
    finally:
        ctx.journal.close()


def ledger(root: Path, expected: dict[str, bytes]) -> dict[str, int]:
    out = {}
    for folder in FOLDERS:
        names = {k.split("/")[-1] for k in expected if k.rsplit("/", 1)[0] == folder}
        for name, size in recorded_sizes(root, f"out/{folder}", names).items():
            out[f"{folder}/{name}"] = int(size)
    return out


def test_two_processes_write_what_one_writes(tmp_path: Path, helpers: Helpers,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "a.zip"
    expected = many(archive)
    result = run(tmp_path / "two", archive)
    assert len(helpers.started) == 1 and helpers.started[0].proc.returncode == 0
    monkeypatch.setattr(zipextract, "PARALLEL_FROM", 10 * COUNT)
    alone = run(tmp_path / "one", archive)
    assert len(helpers.started) == 1  # the second run used one process
    total = sum(map(len, expected.values()))
    assert (result.written, result.skipped, result.bytes_written) == (COUNT, 0, total) == \
        (alone.written, alone.skipped, alone.bytes_written)
    two, one = tmp_path / "two/out", tmp_path / "one/out"
    assert on_disk(two) == expected == on_disk(one)
    mtime = time.mktime((*WHEN, 0, 0, -1))
    assert {(two / name).stat().st_mtime for name in expected} == {mtime}
    assert ledger(tmp_path / "two", expected) == {k: len(v) for k, v in expected.items()}
    again = run(tmp_path / "two", archive)  # resume of a finished folder: all skipped, in both processes
    assert (again.written, again.skipped) == (0, COUNT)


def test_the_helper_writes_a_share_from_the_far_end(tmp_path: Path, helpers: Helpers,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    archive = tmp_path / "a.zip"
    many(archive)
    with caplog.at_level(logging.DEBUG, logger="wizard.engine.zipextract"):
        run(tmp_path / "root", archive)
    shares = [r.getMessage() for r in caplog.records if "the helper process wrote" in r.getMessage()]
    assert len(shares) == 1
    helped = int(shares[0].split("wrote ")[1].split(" of")[0])
    assert helped >= 1  # it was handed batches at the start, before this process wrote any


def test_resume_after_a_cancel_is_exact(tmp_path: Path, helpers: Helpers) -> None:
    archive = tmp_path / "a.zip"
    expected = many(archive)

    class CancelAfter(Control):
        calls = 0

        def checkpoint(self) -> None:
            self.calls += 1
            if self.calls == 300:
                self.cancel()
            super().checkpoint()

    root = tmp_path / "root"
    with pytest.raises(Cancelled):
        run(root, archive, CancelAfter())
    partial = on_disk(root / "out")
    assert 0 < len(partial) < COUNT
    assert all(expected[name] == data for name, data in partial.items())  # no half-written member
    recorded = ledger(root, expected)
    assert recorded and set(recorded) <= set(partial)
    result = run(root, archive)
    assert (result.written, result.skipped) == (COUNT - len(partial), len(partial))
    assert on_disk(root / "out") == expected


def test_a_member_the_helper_finds_damaged_is_reported_with_its_name(tmp_path: Path, helpers: Helpers) -> None:
    archive = tmp_path / "a.zip"
    expected = many(archive)
    victim = f"{FOLDERS[1]}/{COUNT - 3:06d}.jpg"  # in the helper's first batch (the far end)
    blob = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(f"train2017/{victim}")
    central = blob.rindex(b"PK\x01\x02", 0, blob.rindex(f"train2017/{victim}".encode()))
    blob[central + 16:central + 20] = (info.CRC ^ 0xFFFF).to_bytes(4, "little")
    archive.write_bytes(bytes(blob))
    root = tmp_path / "root"
    with pytest.raises(SetupError) as caught:
        run(root, archive)
    problem = caught.value.problem
    assert problem.code == Code.ARCHIVE_CORRUPT and victim in problem.message and "CRC" in problem.message
    partial = on_disk(root / "out")
    assert victim not in partial and all(expected[name] == data for name, data in partial.items())
    assert set(ledger(root, expected)) <= set(partial)


def test_a_helper_killed_mid_way_leaves_its_batches_to_the_parent(tmp_path: Path, helpers: Helpers,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    archive = tmp_path / "a.zip"
    expected = many(archive)

    first = tmp_path / f"root/out/{FOLDERS[0]}/{COUNT - zipextract.BATCH:06d}.jpg"  # the helper's first

    class KillHelper(Control):
        calls = 0

        def checkpoint(self) -> None:
            self.calls += 1
            if self.calls == 1:  # the helper holds three batches: kill it inside the first
                deadline = time.monotonic() + 60  # a bound on waiting, not a timing assertion
                while not first.exists() and time.monotonic() < deadline:
                    time.sleep(0.001)
                helper = helpers.started[0]
                os.kill(helper.pid, signal.SIGKILL)
                helper.proc.wait()
            super().checkpoint()

    root = tmp_path / "root"
    with caplog.at_level(logging.WARNING, logger="wizard.engine.zipextract"):
        result = run(root, archive, KillHelper())
    assert helpers.started[0].proc.returncode == -signal.SIGKILL
    assert result.written + result.skipped == COUNT
    assert on_disk(root / "out") == expected
    assert ledger(root, expected) == {k: len(v) for k, v in expected.items()}
    assert any("writing them in this process" in r.getMessage() for r in caplog.records)


def test_a_helper_that_cannot_start_leaves_one_process(tmp_path: Path, helpers: Helpers,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def no_spawn(*_args: object, **_kwargs: object) -> subprocess.Popen[bytes]:
        raise OSError(errno.EAGAIN, "fork failed")

    monkeypatch.setattr(child, "spawn", no_spawn)
    archive = tmp_path / "a.zip"
    expected = many(archive)
    result = run(tmp_path / "root", archive)
    assert helpers.started == [] and result.written == COUNT
    assert on_disk(tmp_path / "root/out") == expected


def test_pause_reaches_the_helper(tmp_path: Path, helpers: Helpers) -> None:
    """Paused, the parent hands out nothing more: the helper finishes the batches it holds (at
    most zipextract.AHEAD) and waits; resumed, everything is written."""
    archive = tmp_path / "a.zip"
    expected = many(archive)
    control = Control()
    control.pause()
    root = tmp_path / "root"
    outcome: list[ExtractResult] = []
    worker = threading.Thread(target=lambda: outcome.append(run(root, archive, control)))
    worker.start()
    held = zipextract.AHEAD * zipextract.BATCH
    deadline = time.monotonic() + 60  # a bound on waiting, not a timing assertion
    while len(on_disk(root / "out")) < held and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(on_disk(root / "out")) == held  # what it held, and no more: the parent is paused
    for _ in range(20):
        time.sleep(0.01)
        assert len(on_disk(root / "out")) == held
    control.resume()
    worker.join(120)
    assert outcome and outcome[0].written == COUNT
    assert on_disk(root / "out") == expected


def test_a_rerun_completes_members_a_kill_left_short(tmp_path: Path, helpers: Helpers) -> None:
    """Whatever a kill left — missing, short and whole members in both halves — a run with the
    helper replaces the short ones, keeps the whole ones and writes the rest. (Whole: with the
    member's mtime, as an extraction leaves it; safefs.is_whole.)"""
    archive = tmp_path / "a.zip"
    expected = many(archive)
    root = tmp_path / "root"
    out = root / "out"
    stamp = time.mktime((*WHEN, 0, 0, -1))
    for i, (name, data) in enumerate(expected.items()):
        if i % 5 == 0:
            continue  # missing
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data[: len(data) // 2] if i % 5 == 1 else data)
        os.utime(out / name, (stamp, stamp))
    whole = sum(1 for i in range(COUNT) if i % 5 > 1)
    result = run(root, archive)
    assert (result.written, result.skipped) == (COUNT - whole, whole)
    assert on_disk(out) == expected


# --- the helper's own checks: no path escapes the target ---------------------------------------


def task_for(zf: zipfile.ZipFile, member: str, folder: str, base: str) -> zipmembers.Task:
    info = zf.getinfo(member)
    return (folder, base, False, info.header_offset, info.compress_size, info.file_size, info.CRC,
            info.compress_type, info.orig_filename.encode(), None, None)


def test_the_writer_never_follows_a_link_planted_in_the_target(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.jpg", b"payload" * 100)
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.jpg"
    victim.write_bytes(b"keep me")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(outside)  # a folder swapped for a link after it was checked
    (dest / "x.jpg").symlink_to(victim)  # a link planted at a member's name
    with zipfile.ZipFile(archive) as zf, open(archive, "rb") as fh:
        writer = zipmembers.MemberWriter(fh.fileno(), str(dest))
        try:
            with pytest.raises(OSError) as caught:
                writer.write(task_for(zf, "x.jpg", "sub", "victim.jpg"))
            assert caught.value.errno in (errno.ELOOP, errno.ENOTDIR)
            assert caught.value.filename == str(dest / "sub")
            assert writer.write(task_for(zf, "x.jpg", "", "x.jpg")) is True
        finally:
            writer.close()
    assert victim.read_bytes() == b"keep me" and sorted(os.listdir(outside)) == ["victim.jpg"]
    assert not (dest / "x.jpg").is_symlink() and (dest / "x.jpg").read_bytes() == b"payload" * 100


def test_the_helper_answers_each_batch_and_stops_at_the_first_bad_member(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(4):
            zf.writestr(f"{i}.jpg", bytes([i]) * 5000)
    dest = tmp_path / "dest"
    dest.mkdir()
    with zipfile.ZipFile(archive) as zf:
        good = [task_for(zf, f"{i}.jpg", "", f"{i}.jpg") for i in range(4)]
    bad = (*good[3][:6], good[3][6] ^ 1, *good[3][7:])  # a wrong CRC-32
    helper = zipsplit.MembersHelper(str(archive), str(dest))
    try:
        assert helper.send(1, good[:2])
        assert helper.send(2, [good[2], bad])
        answers: list[zipsplit.Answer] = []
        deadline = time.monotonic() + 60  # a bound on waiting, not a timing assertion
        while len(answers) < 2 and not helper.gone and time.monotonic() < deadline:
            helper.wait()
            answers += helper.answers()
        answers += helper.close()
    finally:
        if helper.proc.poll() is None:
            helper.proc.kill()
    assert [(n, done) for n, done, _ in answers] == [(1, b"\x01\x01"), (2, b"\x01")]
    assert answers[0][2] is None and isinstance(answers[1][2], zipfile.BadZipFile)
    assert helper.proc.returncode == 1
    assert sorted(os.listdir(dest)) == ["0.jpg", "1.jpg", "2.jpg"]


# --- kill -9 of the parent ---------------------------------------------------------------------

CHILD = """
import sys, time
from pathlib import Path
import wizard.engine.zipextract as zipextract
from wizard.engine.catalog import Layout
from wizard.engine.context import JobContext, Settings
from wizard.engine.control import Control
from wizard.engine.extract import extract_archive
from wizard.engine.journal import Journal

class Slow(Control):
    def checkpoint(self):
        time.sleep(0.001)
        super().checkpoint()

zipextract.PARALLEL_FROM = 1000
root, archive = Path(sys.argv[1]), Path(sys.argv[2])
ctx = JobContext("test", root, Settings(), Journal(root), Slow())
extract_archive(ctx, archive, "zip", root / "out", Layout(strip="train2017/"))
"""


def helper_of(pid: int) -> int | None:
    """The pid of the zip-members helper whose parent is ``pid`` (Linux /proc), or None."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"zip-members" in cmdline:
                return int(entry)
    return None


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the helper through /proc (Linux)")
def test_kill_9_of_the_parent_stops_the_helper_and_a_rerun_is_exact(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "a.zip"
    expected = many(archive, 6000)
    root = tmp_path / "root"
    env = {**os.environ, "PYTHONPATH": str(Path(wizard.__file__).resolve().parent.parent)}
    parent = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(archive)], env=env,
                              stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60  # bounds on waiting, not timing assertions
    helper = None
    while helper is None and parent.poll() is None and time.monotonic() < deadline:
        helper = helper_of(parent.pid)
        time.sleep(0.005)
    assert helper is not None, "no helper started"
    while len(on_disk(root / "out")) < 2500 and parent.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    parent.send_signal(signal.SIGKILL)
    _, err = parent.communicate()
    assert parent.returncode == -signal.SIGKILL, err.decode()[-2000:]
    while alive(helper) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not alive(helper), "the helper outlived its parent"
    partial = on_disk(root / "out")
    assert 0 < len(partial) < len(expected)
    short = [name for name, data in partial.items() if data != expected[name]]
    assert len(short) <= 2  # at most the member each process was writing
    assert all(expected[name].startswith(partial[name]) for name in short)
    recorded = ledger(root, expected)
    assert recorded and all(partial.get(name) == expected[name] and size == len(expected[name])
                            for name, size in recorded.items())  # what the ledger calls done is whole

    monkeypatch.setattr(zipextract, "PARALLEL_FROM", THRESHOLD)
    monkeypatch.setattr(zipextract, "helper_allowed", lambda: True)
    result = run(root, archive)
    assert result.written + result.skipped == len(expected)
    assert len(partial) - len(short) == result.skipped
    assert on_disk(root / "out") == expected
