"""GUI responsiveness during a run at full speed: the longest event-loop stall, measured.

A probe QTimer fires every 5 ms on the GUI thread; the longest gap between two ticks is the
longest time the window could not react. It is measured twice in one invocation: on an idle
event loop (the baseline: what the platform and Python give anyway) and while the real wizard
(offscreen) downloads and extracts a generated COCO-like zip (`--size`, default 400 MB of
100–300 KB stored members) from the loopback demo mirror at full speed. Target: under 50 ms.
``--load`` runs one CPU hog process per core for the whole measurement (idle baseline included),
as on a machine that is busy with something else; ``--hog`` runs one (the issue's "a parallel CPU
hog": a Python busy loop).

The archive is served by nginx (``sendfile``), as a real server would be: elsewhere, costing
this machine next to no CPU. ``--mirror-in-process`` serves it instead from the demo's
``MirrorServer``, Python threads inside the wizard's process that copy the file in chunks and
compete with the GUI thread for the interpreter lock and the cores (the wizard's offline demo
mode, not a real download).

    .venv/bin/python benchmarks/gui_stall_bench.py [--size 400M] [--load | --hog] [--workdir DIR] [--mirror-in-process]
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication
from servers import NginxServer, launch_nginx, stop_nginx

from wizard.demo.session import DemoSession
from wizard.demo.world import dumps_toml
from wizard.engine.catalog import load_catalog
from wizard.engine.context import Settings
from wizard.engine.net.ratelimit import parse_rate
from wizard.gui.app import build_state, build_wizard
from wizard.gui.bridge import warm_up
from wizard.gui.pageids import PageId


class Probe:
    """Ticks every few ms on the GUI thread and keeps the gaps between ticks."""

    def __init__(self, interval_ms: int = 5) -> None:
        self.gaps: list[float] = []
        self.ends: list[float] = []  # when each gap ended (perf_counter)
        self.cpu: list[float] = []  # the GUI thread's CPU time within each gap
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        cpu = time.thread_time()
        self.gaps.append(now - self._last)
        self.ends.append(now)
        self.cpu.append(cpu - self._last_cpu)
        self._last = now
        self._last_cpu = cpu

    def start(self) -> None:
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


def big_coco_zip(path: Path, size: int) -> tuple[int, str]:
    rng = random.Random(7)
    written = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        n = 0
        while written < size:
            body = rng.randbytes(rng.randint(100_000, 300_000))
            zf.writestr(f"train2017/{n:012d}.jpg", b"\xff\xd8\xff\xe0" + body + b"\xff\xd9")
            written += len(body)
            n += 1
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return path.stat().st_size, digest


def spin(app: QApplication, seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


#: A sampler process: each CPU's "steal" time of /proc/stat (time the hypervisor ran something
#: else while this guest's CPU wanted to run) every 5 ms until its stdin closes, then the changes as
#: JSON. A process, not a thread, so that it takes nothing from the GUI thread's interpreter lock.
_STEAL_SAMPLER = r"""
import json, select, sys, time
def read():
    vals = []
    with open("/proc/stat", "rb") as f:
        for line in f:
            if not line.startswith(b"cpu"):
                break
            if line[3:4] != b" ":
                vals.append(int(line.split()[8]))
    return vals
out, last = [], None
while True:
    ready = select.select([sys.stdin], [], [], 0.005)[0]
    now, vals = time.perf_counter(), read()
    if vals != last:
        out.append((now, vals))
        last = vals
    if ready:
        break
json.dump(out, sys.stdout)
"""
USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class StealWatch:
    """How much CPU time the host took from this machine's CPUs while the GUI thread waited
    (Linux guests; on bare metal and elsewhere it reads zero)."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, list[int]]] = []
        self.proc = subprocess.Popen([sys.executable, "-c", _STEAL_SAMPLER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE) if os.path.exists("/proc/stat") else None

    def stop(self) -> None:
        if self.proc is not None:
            out, _ = self.proc.communicate(b"x", timeout=30)
            self.samples = [(t, list(v)) for t, v in json.loads(out or b"[]")]

    def _at(self, when: float) -> list[int]:
        """The counters as last sampled at or before ``when`` (the first sample before any)."""
        index = bisect.bisect_right(self.samples, when, key=lambda sample: sample[0])
        return self.samples[max(index - 1, 0)][1] if self.samples else []

    def within(self, start: float, end: float) -> list[float]:
        """Milliseconds stolen from each CPU between ``start`` and ``end`` (perf_counter); the
        kernel books steal at its next tick, so 20 ms past ``end`` count too."""
        before, after = self._at(start), self._at(end + 0.02)
        return [(b - a) * 1000 / USER_HZ for a, b in zip(before, after, strict=True)]


def cpu_hogs(count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` processes that keep one core each busy until killed."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="400M", help="size of the generated archive (default 400M)")
    load = parser.add_mutually_exclusive_group()
    load.add_argument("--load", action="store_true", help="run a CPU hog per core alongside")
    load.add_argument("--hog", action="store_true", help="run one CPU hog (a Python busy loop) alongside")
    parser.add_argument("--workdir", type=Path, help="where to put the data (default: a temp dir)")
    parser.add_argument("--mirror-in-process", action="store_true",
                        help="serve from a thread of the wizard's process (as the offline demo does)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="gui-stall-"))
    work.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(["gui-stall-bench"])
    session = DemoSession(world_dir=work / "world")
    session.start()
    wizard = None
    nginx: NginxServer | None = None
    base_url = session.base_url
    if not args.mirror_in_process:  # the same files from nginx
        assert session.world is not None
        session.stop()
        nginx = launch_nginx(session.world.docroot, work / "nginx")
        base_url = nginx.base_url
    load_before = os.getloadavg()
    hogs = cpu_hogs((os.cpu_count() or 1) if args.load else 1 if args.hog else 0)
    steal = StealWatch()
    try:
        assert session.world is not None
        zip_rel = "bench/train2017.zip"
        (session.world.docroot / "bench").mkdir()
        size, sha = big_coco_zip(session.world.docroot / zip_rel, parse_rate(args.size))
        data = tomllib.loads(session.catalog_path.read_text())
        coco = next(c for c in data["component"] if c["id"] == "coco-train2017")
        coco["source"] = [{"kind": "http", "label": "bench", "url": f"{base_url}/{zip_rel}",
                           "size": size, "sha256": sha}]
        coco.pop("file_count", None)  # the generated archive holds its own number of images
        catalog_path = work / "catalog.toml"
        catalog_path.write_text(dumps_toml(data))
        catalog = load_catalog(catalog_path)

        probe = Probe()
        probe.start()
        spin(app, 3.0)
        probe.stop()
        idle = list(probe.gaps)

        state = build_state(catalog=catalog, prefs_path=work / "prefs.json",
                            base_settings=Settings(hf_endpoint=base_url, full_archives=True))
        wizard = build_wizard(state)
        warm_up().join()  # as the application does once its first window is up
        wizard.show()
        wizard.welcome_page.accept_box.setChecked(True)
        wizard.next()
        wizard.root_page.path.set_text(str(work / "root"))
        wizard.next()
        wizard.components_page.set_selection(["coco-train2017"])
        wizard.next()
        wizard.next()
        probe.gaps.clear()
        probe.ends.clear()
        probe.cpu.clear()
        probe.start()
        started = time.perf_counter()
        gui_cpu = time.thread_time()
        wizard.next()  # the commit page: the plan is worked out off the GUI thread, then the run starts
        assert wizard.currentId() == PageId.PROGRESS
        loop = QEventLoop()
        wizard.bridge.finished.connect(loop.quit)
        wizard.bridge.crashed.connect(loop.quit)
        if wizard.bridge.busy:
            loop.exec()
        elapsed = time.perf_counter() - started
        gui_cpu = time.thread_time() - gui_cpu
        probe.stop()
        busy = list(probe.gaps)
        worst = sorted(zip(probe.gaps, probe.ends, probe.cpu, strict=True), reverse=True)[:5]
        bursts = sorted(zip(probe.cpu, probe.ends, strict=True), reverse=True)[:5]
        result = wizard.progress_page.last_result
        ok = result is not None and result.ok
        if not ok:
            print(f"the run did not succeed: {result!r}", file=sys.stderr)
        files = len(list((work / "root" / "coco" / "train2017").iterdir())) if ok else 0
    finally:
        steal.stop()
        for hog in hogs:
            hog.kill()
            hog.wait()
        if wizard is not None:
            wizard.shutdown()
            wizard.close()
        session.stop()
        if nginx is not None:
            stop_nginx(nginx)
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    ms = 1000.0
    print("load average before: {:.2f} {:.2f} {:.2f}, after: {:.2f} {:.2f} {:.2f} ({} CPUs)".format(
        *load_before, *os.getloadavg(), os.cpu_count()))
    if hogs:
        print(f"load: {len(hogs)} CPU hog process(es) ({os.cpu_count()} cores), during both measurements")
    print(f"server: {'the demo mirror, threads of the wizard process' if nginx is None else 'nginx'}")
    print(f"workload: {size / 1e6:.0f} MB zip, {files} members, downloaded + verified + extracted in "
          f"{elapsed:.1f} s ({size / 1e6 / elapsed:.0f} MB/s); run ok: {ok}")
    print(f"GUI thread CPU during the run: {gui_cpu:.2f} s ({gui_cpu / elapsed:.1%} of the run's time)")
    print(f"baseline (idle event loop, 3 s): longest gap {max(idle) * ms:.1f} ms, "
          f"median {statistics.median(idle) * ms:.1f} ms")
    print(f"during the run:                  longest gap {max(busy) * ms:.1f} ms, "
          f"median {statistics.median(busy) * ms:.1f} ms, p99 {sorted(busy)[int(len(busy) * 0.99)] * ms:.1f} ms")
    print("longest gaps (ms, ended at s into the run, GUI thread CPU within, host steal per CPU within): " +
          ", ".join(f"{gap * ms:.0f} @ {end - started:.1f} (cpu {cpu * ms:.0f}, steal "
                    f"{'/'.join(f'{x:.0f}' for x in steal.within(end - gap, end))})" for gap, end, cpu in worst))
    clean = [gap for gap, end in zip(probe.gaps, probe.ends, strict=True) if not any(steal.within(end - gap, end))]
    over_steal = ", ".join(f"{gap * ms:.0f}: {max(steal.within(end - gap, end), default=0):.0f}"
                           for gap, end in zip(probe.gaps, probe.ends, strict=True) if gap * ms >= 50)
    print(f"host steal during the run: {' / '.join(f'{x:.0f}' for x in steal.within(started, started + elapsed))} ms "
          f"per CPU; longest gap with no steal in it: {max(clean, default=0.0) * ms:.1f} ms "
          f"({len(clean)} of {len(probe.gaps)} gaps)" if steal.samples else "host steal: not available")
    print("longest GUI thread CPU bursts between two ticks (ms @ s): " + ", ".join(
        f"{cpu * ms:.0f} @ {end - started:.1f}" for cpu, end in bursts))
    print(f"ratio longest stall run/idle: {max(busy) / max(idle):.2f}; target: longest stall < 50 ms -> "
          f"{'met' if max(busy) * ms < 50 else 'MISSED'}" + (
              "" if max(busy) * ms < 50 or not steal.samples else
              f" (gaps of 50 ms or more, and the ms the host stole from a CPU within each: {over_steal}; "
              f"gaps with no steal in them: longest {max(clean, default=0.0) * ms:.1f} ms)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
