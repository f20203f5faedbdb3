"""Benchmark many small files (OCR-VQA-like): the engine's image batch against keep-alive curl and aria2c.

Generates ``--files`` files (default 10,000) of 10–60 KB (a JPEG header, then random bytes) and
serves them with nginx on 127.0.0.1 (``tests/servers.py``). Then, interleaved for ``--reps``
rounds (the order rotates each round), each contender downloads every file into an empty folder:

* ``ours``  — the OCR-VQA image batch (``wizard.engine.sources.ocrvqa``, with the run log on as
  in a real run), in a child process that fills the journal's items table and times only the
  batch (interpreter start-up excluded; the batch's own second image process is included), and
  reports its CPU time and its second process's;
* ``curl``  — ``xargs -P16 -n64 curl -s --remote-name-all`` (16 processes, each keeps its
  connection alive over its 64 URLs);
* ``aria2c`` — ``aria2c -i URLS -j16``.

Prints files/s per contender (median over the rounds, and every round), the ratios
ours/curl and ours/aria2c (of speeds: above 1 = ours is faster), the CPU per file (ours: the
batch's processes' CPU; curl/aria2c: all their processes'), and the load average before and
after. ``--hog`` runs a Python busy loop on the side for the whole measurement (a parallel CPU hog).

    .venv/bin/python benchmarks/smallfiles_bench.py [--files 10000] [--reps 3] [--hog] [--workdir DIR]
        [--no-aria2c] [--processes N [--processes M]] [--workers N [--workers M]]
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import functools
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from _timing import timed  # noqa: E402

JPEG_HEAD = bytes.fromhex("ffd8ffe000104a46494600010101004800480000")
HOG = "while True: pass"


def generate(docroot: Path, count: int) -> list[str]:
    folder = docroot / "images/I"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    pool = os.urandom(1 << 20)
    keys = [f"{100000000 + n * 7919}" for n in range(count)]
    for key in keys:
        size = rng.randint(10_000, 60_000)
        start = rng.randrange(0, len(pool) - size)
        (folder / f"{key}.jpg").write_bytes(JPEG_HEAD + pool[start:start + size - len(JPEG_HEAD)])
    return keys


def child(root: Path, urls_file: Path, processes: int | None, workers: int | None = None) -> None:
    """Run the engine's OCR-VQA image batch over the URLs; print {"seconds", "cpu"} as JSON."""
    from wizard.engine.context import JobContext, Settings
    from wizard.engine.control import Control
    from wizard.engine.journal import Journal
    from wizard.engine.runlog import RunLog
    from wizard.engine.sources import ocrvqa

    urls = urls_file.read_text().split()
    settings = Settings()
    if processes is not None:
        settings = dataclasses.replace(settings, ocr_processes=processes)
    if workers is not None:
        settings = dataclasses.replace(settings, ocr_workers=workers)
    ctx = JobContext("ocr-vqa", root, settings, Journal(root), Control())
    ctx.journal.items_add("ocr-vqa", [(Path(u).stem, u) for u in urls])
    target = root / ocrvqa.IMAGE_PREFIX
    target.mkdir(parents=True, exist_ok=True)
    usage = _cpu()
    started = time.perf_counter()
    with RunLog(root, lambda event: None):  # as in a real run: the run log is on
        ocrvqa._Batch(ctx, target).run()
    seconds = time.perf_counter() - started
    cpu = _cpu() - usage
    saved = ctx.journal.items_counts("ocr-vqa").get("saved", 0)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "saved": saved}))


def _cpu() -> float:
    """CPU seconds of this process and of its children that ended (the second image process)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_ours(work: Path, urls_file: Path, processes: int | None = None,
             workers: int | None = None) -> tuple[float, float, int]:
    root = work / "ours"
    proc = subprocess.run([sys.executable, __file__, "--child", str(root), str(urls_file), str(processes or 0),
                           str(workers or 0)],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"ours failed: {proc.stderr.decode()[-2000:]}")
    data = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    return float(data["seconds"]), float(data["cpu"]), int(data["saved"])


def run_curl(work: Path, urls_file: Path) -> tuple[float, float, int]:
    out = work / "curl"
    out.mkdir()
    seconds, cpu = timed(["sh", "-c", f"cd '{out}' && xargs -a '{urls_file}' -P16 -n64 curl -s --remote-name-all"])
    return seconds, cpu, len(os.listdir(out))


def run_aria2c(work: Path, urls_file: Path) -> tuple[float, float, int]:
    out = work / "aria2c"
    out.mkdir()
    seconds, cpu = timed(["aria2c", "-q", "-i", str(urls_file), "-j16", "-d", str(out),
                          "--allow-overwrite=true", "--auto-file-renaming=false"])
    return seconds, cpu, len(os.listdir(out))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]) or None, int(sys.argv[5]) or None)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--hog", action="store_true", help="run a Python busy loop on the side")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--no-aria2c", action="store_true")
    parser.add_argument("--processes", type=int, action="append", metavar="N",
                        help="ours with ocr_processes=N (repeat to compare several: ours-N each)")
    parser.add_argument("--workers", type=int, action="append", metavar="N",
                        help="ours starting with ocr_workers=N (repeat to compare several: ours-wN each)")
    args = parser.parse_args()
    for tool in ("curl", "xargs", *(() if args.no_aria2c else ("aria2c",))):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    from servers import nginx_server

    # As installed (pip and the bundle ship bytecode): the image process started inside the timed
    # window must not compile the modules changed since the last run (PYTHONDONTWRITEBYTECODE).
    compileall.compile_dir(REPO / "wizard", quiet=1)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="smallfiles-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    docroot = work / "doc"
    started = time.perf_counter()
    keys = generate(docroot, args.files)
    print(f"generated {len(keys):,} files of 10-60 KB in {time.perf_counter() - started:.1f} s under {work}")
    contenders: dict[str, Callable[[Path, Path], tuple[float, float, int]]] = {"ours": run_ours}
    if args.processes:
        contenders = {f"ours-{n}": functools.partial(run_ours, processes=n) for n in args.processes}
    if args.workers:
        contenders = {f"ours-w{n}": functools.partial(run_ours, workers=n) for n in args.workers}
    contenders["curl"] = run_curl
    if not args.no_aria2c:
        contenders["aria2c"] = run_aria2c
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    hog = subprocess.Popen([sys.executable, "-c", HOG]) if args.hog else None
    loads = [load()]
    try:
        with nginx_server(docroot, work / "nginx") as nginx:
            urls_file = work / "urls.txt"
            urls_file.write_text("".join(f"{nginx.base_url}/images/I/{k}.jpg\n" for k in keys))
            names = list(contenders)
            for rep in range(args.reps):
                order = names[rep % len(names):] + names[:rep % len(names)]
                for name in order:
                    # Every run's output stays until the end: on ext4, creating thousands of files
                    # right after deleting thousands costs several times the kernel time, which
                    # would penalise whichever contender runs next (found with extract_bench).
                    runs = work / f"runs-{rep}-{name}"
                    runs.mkdir()
                    seconds, cpu, files = contenders[name](runs, urls_file)
                    if files != len(keys):
                        raise SystemExit(f"{name} got {files} of {len(keys)} files")
                    results[name].append((seconds, cpu))
                    print(f"  round {rep + 1} {name:<7} {len(keys) / seconds:8.0f} files/s  "
                          f"{cpu / len(keys) * 1000:5.2f} ms CPU/file  (load {load()})", flush=True)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
        loads.append(load())
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.files:,} files, {args.reps} interleaved rounds{', with a Python busy loop' if args.hog else ''}; "
          f"load average before: {loads[0]}, after: {loads[1]} ({os.cpu_count()} CPUs)")
    print(f"{'contender':<8} {'files/s':>9} {'ms CPU/file':>12}   rounds (s)")
    speed: dict[str, float] = {}
    for name, runs_ in results.items():
        median = statistics.median(s for s, _ in runs_)
        cpu = statistics.median(c for _, c in runs_) / len(keys) * 1000
        speed[name] = len(keys) / median
        print(f"{name:<8} {speed[name]:9.0f} {cpu:12.2f}   " + " ".join(f"{s:.2f}" for s, _ in runs_))
    for ours in (name for name in speed if name.startswith("ours")):
        for peer in ("curl", "aria2c"):
            if peer in speed:
                print(f"{ours} / {peer}: {speed[ours] / speed[peer]:.2f}x (speed; goal vs curl >= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
