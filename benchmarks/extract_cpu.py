"""CPU per 10,000 small zip members: ours (one process and with the helper) against unzip and bsdtar.

The ratio ``extract_bench.py --members N --hog`` reports is, with one busy loop on a 2-core machine,
the ratio of CPU per member (our two processes share one core): this script measures that CPU,
user and system apart, on a folder where the kernel's share is stable (tmpfs by default:
``/dev/shm``). Ours runs in a fresh ``python`` process that times ``extract_archive`` alone
(``getrusage`` of itself and of its reaped helper; start-up and imports not counted); unzip and
bsdtar are timed from spawn to exit. Runs are interleaved; every run is printed, then the medians.
Output folders are kept until the end (see ``extract_bench.py`` on mass deletions).

    .venv/bin/python benchmarks/extract_cpu.py [--members 20000] [--reps 3] [--workdir /dev/shm]
        [--profile]   # also: ours once in one process under cProfile (top functions to stderr)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from extract_bench import make_small_zip  # noqa: E402


def _usage(who: int) -> tuple[float, float]:
    usage = resource.getrusage(who)
    return usage.ru_utime, usage.ru_stime


def child(archive: Path, dest: Path, mode: str) -> None:
    """Extract once with the engine in ``mode`` "one", "two" or "profile"; prints user/sys as JSON."""
    import wizard.engine.zipextract as zipextract
    from wizard.engine.catalog import Layout
    from wizard.engine.context import JobContext, Settings
    from wizard.engine.control import Control
    from wizard.engine.extract import extract_archive
    from wizard.engine.journal import Journal

    if mode != "two":
        zipextract.PARALLEL_FROM = 1 << 62
    else:
        zipextract.helper_allowed = lambda: True  # type: ignore[assignment]
    root = dest.parent / "bench-root"
    root.mkdir(parents=True)
    ctx = JobContext("bench", root, Settings(), Journal(root), Control())
    layout = Layout(strip="train2017/")
    before = [_usage(resource.RUSAGE_SELF), _usage(resource.RUSAGE_CHILDREN)]
    if mode == "profile":
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(extract_archive, ctx, archive, "zip", dest, layout)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    else:
        extract_archive(ctx, archive, "zip", dest, layout)
    after = [_usage(resource.RUSAGE_SELF), _usage(resource.RUSAGE_CHILDREN)]
    user = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
    system = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
    print(json.dumps({"user": user, "sys": system}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("ARCHIVE", "DEST", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.child[2])
        return
    workdir = Path(tempfile.mkdtemp(prefix="extract-cpu-", dir=args.workdir))
    try:
        archive = workdir / "train2017.zip"
        members, _total = make_small_zip(archive, args.members)
        me = [sys.executable, str(Path(__file__).resolve()), "--child", str(archive)]
        contenders: dict[str, list[str] | None] = {"ours, one process": None, "ours, with the helper": None,
                                                   "unzip -q": ["unzip", "-q", str(archive), "-d"]}
        if shutil.which("bsdtar"):
            contenders["bsdtar -xf"] = ["bsdtar", "-xf", str(archive), "-C"]
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
        print(f"{members:,} members in {workdir}; load {os.getloadavg()[0]:.2f}", flush=True)
        for rep in range(args.reps):
            for name, command in contenders.items():
                dest = workdir / f"out-{len(list(workdir.iterdir()))}"
                if command is None:
                    mode = "one" if "one" in name else "two"
                    proc = subprocess.run([*me, str(dest / "train2017"), mode], capture_output=True, text=True)
                    if proc.returncode:
                        raise SystemExit(f"ours failed: {proc.stderr[-2000:]}")
                    figures = json.loads(proc.stdout.strip().splitlines()[-1])
                    user, system = figures["user"], figures["sys"]
                else:
                    dest.mkdir()
                    before = _usage(resource.RUSAGE_CHILDREN)
                    subprocess.run([*command, str(dest)], check=True)
                    after = _usage(resource.RUSAGE_CHILDREN)
                    user, system = after[0] - before[0], after[1] - before[1]
                scale = 10_000 / members
                runs[name].append((user * scale, system * scale))
                print(f"  rep {rep}: {name:<24} user {user * scale:5.2f}  sys {system * scale:5.2f}"
                      "  (s per 10,000 members)", flush=True)
        print(f"load after: {os.getloadavg()[0]:.2f}")
        for name, figures in runs.items():
            user = statistics.median(u for u, _ in figures)
            system = statistics.median(s for _, s in figures)
            print(f"  {name:<24} median user {user:5.2f}  sys {system:5.2f}  total {user + system:5.2f}")
        if args.profile:
            dest = workdir / "out-profile"
            subprocess.run([*me, str(dest / "train2017"), "profile"], check=True, stdout=subprocess.DEVNULL)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
