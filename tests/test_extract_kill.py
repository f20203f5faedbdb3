"""kill -9 in the middle of extracting many small members (each created straight at its final
name): every member the size ledger recorded before the kill is whole on disk, and a rerun
finishes exactly — the members a kill left short are replaced, the whole ones kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from helpers import make_ctx

import wizard
from wizard.engine.catalog import Layout
from wizard.engine.extract import extract_archive
from wizard.engine.sizes import SizeLedger, recorded_sizes

COUNT = 3000
FOLDER = "coco/train2017"

# The child extracts with a checkpoint that naps, so the kill lands while members are being written.
CHILD = """
import sys, time
from pathlib import Path
from wizard.engine.catalog import Layout
from wizard.engine.context import JobContext, Settings
from wizard.engine.control import Control
from wizard.engine.extract import extract_archive
from wizard.engine.journal import Journal

class Slow(Control):
    def checkpoint(self):
        time.sleep(0.0005)
        super().checkpoint()

root, archive = Path(sys.argv[1]), Path(sys.argv[2])
ctx = JobContext("test", root, Settings(), Journal(root), Slow())
extract_archive(ctx, archive, "zip", root / "coco/train2017", Layout(strip="train2017/"))
"""


def many(path: Path) -> dict[str, bytes]:
    """Members of 200 B to about 20 KB, half incompressible."""
    members = {}
    for i in range(COUNT):
        size = 200 + (i * 7919) % 20_000
        members[f"{i:012d}.jpg"] = os.urandom(size) if i % 2 else bytes([i % 251]) * size
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(f"train2017/{name}", data)
    return members


def count_files(folder: Path) -> int:
    try:
        return len(os.listdir(folder))
    except FileNotFoundError:
        return 0


def test_kill_9_mid_extraction_then_a_rerun_is_exact(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    expected = many(archive)
    root = tmp_path / "root"
    folder = root / FOLDER
    env = {**os.environ, "PYTHONPATH": str(Path(wizard.__file__).resolve().parent.parent)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(archive)], env=env,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60  # a bound on waiting for the child, not a timing assertion
    while count_files(folder) < SizeLedger.FLUSH_EVERY + 300 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    _, err = child.communicate()
    assert child.returncode == -signal.SIGKILL, err.decode()[-2000:]
    on_disk_before = count_files(folder)
    assert 0 < on_disk_before < COUNT
    short = [p.name for p in folder.iterdir() if p.stat().st_size != len(expected[p.name])]
    assert len(short) <= 1  # at most the member whose write() the kill interrupted

    recorded = recorded_sizes(root, FOLDER, expected.keys())
    assert recorded  # the ledger is appended in batches of SizeLedger.FLUSH_EVERY
    for name, size in recorded.items():  # what the ledger calls done is whole
        assert (folder / name).read_bytes() == expected[name] and int(size) == len(expected[name])

    ctx, _ = make_ctx(root)
    try:
        result = extract_archive(ctx, archive, "zip", folder, Layout(strip="train2017/"))
    finally:
        ctx.journal.close()
    assert result.written + result.skipped == COUNT
    assert len(recorded) <= result.skipped <= on_disk_before
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == expected
