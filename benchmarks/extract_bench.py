"""Benchmark zip extraction: our ``extract_archive`` against ``unzip -q`` and ``bsdtar -xf``.

Generates a COCO-like ``train2017.zip`` (default about 1 GiB): stored (uncompressed, like COCO's
JPEGs) members of 100–300 KB with a JPEG header and random bytes, named
``train2017/000000xxxxxx.jpg``; with ``--members N`` instead N small deflated members of 2–20 KB
in folders of 1,000 (OCR-VQA/thumbnail-like: the cost is zlib and file creation; ours creates each
at its final name and, from 5,000 such members, writes them in two processes — its CPU time
includes the helper's).
Each contender extracts it into a fresh folder, the order rotating each round; the folder is kept
(deleted at the end: mass deletion makes the next creations slower for a while) and ``sync``
called before the next run. Ours is a fresh ``python`` process timing
:func:`wizard.engine.extract.extract_archive` with the COCO layout (``strip = "train2017/"``);
unzip and bsdtar (when installed) are timed from spawn to exit. Prints every run, the medians,
the ratios and the machine's load average before and after. Targets: ours >= 0.9 of unzip's speed
on big members, >= 1.1 on 50,000 small ones. ``--profile`` runs ours once more under cProfile;
``--hog`` runs a Python busy loop on the side for the whole measurement (a parallel CPU hog).

    .venv/bin/python benchmarks/extract_bench.py [--size 1G | --members 50000] [--reps 3] [--hog] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _timing import timed  # noqa: E402

from wizard.engine.net.ratelimit import parse_rate  # noqa: E402

HOG = "while True: pass"
JPEG_HEAD = bytes.fromhex("ffd8ffe000104a46494600010101004800480000")


def make_zip(path: Path, size: int, seed: int = 2017) -> tuple[int, int]:
    """Write the archive; (members, uncompressed bytes)."""
    rng = random.Random(seed)
    pool = os.urandom(32 << 20)
    members = total = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        while total < size:
            length = rng.randint(100_000, 300_000)
            start = rng.randrange(0, len(pool) - length)
            data = JPEG_HEAD + pool[start : start + length - len(JPEG_HEAD) - 2] + b"\xff\xd9"
            info = zipfile.ZipInfo(f"train2017/{rng.randrange(10**12):012d}.jpg", (2017, 8, 31, 12, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
            members += 1
            total += len(data)
    return members, total


def make_small_zip(path: Path, count: int, seed: int = 50) -> tuple[int, int]:
    """``count`` deflated members of 2-20 KB (half text-like, half random); (members, bytes)."""
    rng = random.Random(seed)
    pool = os.urandom(4 << 20)
    words = b"the a image shows red blue person street table dog sky tree water light "
    total = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(count):
            length = rng.randint(2_000, 20_000)
            if i % 2:
                start = rng.randrange(0, len(pool) - length)
                data = JPEG_HEAD + pool[start:start + length]
            else:
                data = (words * (length // len(words) + 1))[:length]
            info = zipfile.ZipInfo(f"train2017/{i // 1000:03d}/{i:012d}.jpg", (2017, 8, 31, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
            total += len(data)
    return count, total


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def child(archive: Path, dest: Path, profile: bool) -> None:
    """Extract once with the engine, timed around ``extract_archive()`` only; prints JSON."""
    from wizard.engine.catalog import Layout
    from wizard.engine.context import JobContext, Settings
    from wizard.engine.control import Control
    from wizard.engine.extract import extract_archive
    from wizard.engine.journal import Journal

    root = dest.parent / "bench-root"
    root.mkdir(exist_ok=True)
    ctx = JobContext("bench", root, Settings(), Journal(root), Control())
    layout = Layout(strip="train2017/")
    started = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(extract_archive, ctx, archive, "zip", dest, layout)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    else:
        result = extract_archive(ctx, archive, "zip", dest, layout)
    seconds = time.perf_counter() - started
    shutil.rmtree(root)
    print(json.dumps({"seconds": seconds, "written": result.written}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G", help="uncompressed bytes (K/M/G = 1024 powers); default 1G")
    parser.add_argument("--members", type=int, default=0,
                        help="instead: this many small deflated members (e.g. 50000)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="where to work (default: a temp dir)")
    parser.add_argument("--profile", action="store_true", help="also run ours once under cProfile")
    parser.add_argument("--child", nargs=2, metavar=("ARCHIVE", "DEST"), help=argparse.SUPPRESS)
    parser.add_argument("--hog", action="store_true", help="run a Python busy loop on the side")
    parser.add_argument("--child-profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.child_profile)
        return

    size = parse_rate(args.size)
    workdir = Path(tempfile.mkdtemp(prefix="extract-bench-", dir=args.workdir))
    try:
        archive = workdir / "train2017.zip"
        if args.members:
            print(f"generating {args.members:,} small members in {archive} ...", flush=True)
            members, total = make_small_zip(archive, args.members)
        else:
            print(f"generating about {size:,} bytes of members in {archive} ...", flush=True)
            members, total = make_zip(archive, size)
        os.sync()
        subprocess.run(["cat", str(archive)], stdout=subprocess.DEVNULL, check=True)  # warm the cache
        dest = workdir / "out"
        # Each run's output is kept until the end: creating files right after deleting thousands
        # (ext4, here) costs several times more kernel time for about 30 s, which punished
        # whichever contender ran after another one's folder was removed.
        kept = workdir / "kept"
        kept.mkdir()
        runs = args.reps * 3 + args.profile
        if shutil.disk_usage(workdir).free < runs * total * 1.2 + (1 << 30):
            raise SystemExit(f"keeping {runs} extractions of {total:,} bytes needs more free space in {workdir}")
        ours = [sys.executable, str(Path(__file__).resolve()), "--child", str(archive), str(dest / "train2017")]
        contenders = {
            "unzip -q": (["unzip", "-q", str(archive), "-d", str(dest)], False),
            "ours (extract_archive)": (ours, True),
        }
        if shutil.which("bsdtar"):
            contenders["bsdtar -xf"] = (["bsdtar", "-xf", str(archive), "-C", str(dest)], False)
        else:
            print("bsdtar is not installed: compared with unzip only (apt-get install libarchive-tools)")
        hog = subprocess.Popen([sys.executable, "-c", HOG]) if args.hog else None
        print(f"before: {_load()}{' (with a Python busy loop on the side)' if hog else ''}", flush=True)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        cpus: dict[str, list[float]] = {name: [] for name in contenders}
        order = list(contenders)
        try:
            for rep in range(args.reps):
                names = order[rep % len(order):] + order[:rep % len(order)]
                for name in names:
                    dest.mkdir()
                    seconds, cpu = timed(*contenders[name])
                    count = sum(len(files) for _, _, files in os.walk(dest))
                    if count != members:
                        raise SystemExit(f"{name}: {count} files instead of {members}")
                    dest.rename(kept / f"run-{len(list(kept.iterdir()))}")  # deleted at the end, see above
                    os.sync()
                    times[name].append(seconds)
                    cpus[name].append(cpu)
                    print(f"    {name}: {seconds:.2f} s", flush=True)
            if args.profile:
                dest.mkdir()
                subprocess.run([*ours, "--child-profile"], check=True, stdout=subprocess.DEVNULL)
                dest.rename(kept / "profile")
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
        print(f"after:  {_load()}")
        kind = "small deflated" if args.members else "stored"
        print(f"\narchive: {members:,} {kind} members, {total:,} bytes{', with a Python busy loop' if hog else ''}")
        for name in contenders:
            median = statistics.median(times[name])
            runs = ", ".join(f"{s:.2f}" for s in times[name])
            print(f"  {name:<24} {total / median / 1e6:8.1f} MB/s  {members / median:8.0f} files/s   "
                  f"median {median:6.2f} s (runs: {runs})   cpu {statistics.median(cpus[name]):5.2f} s")
        target = 1.1 if args.members else 0.9
        ours_median = statistics.median(times["ours (extract_archive)"])
        for peer in (n for n in contenders if not n.startswith("ours")):
            ratio = statistics.median(times[peer]) / ours_median
            goal = f" (target >= {target})" if peer == "unzip -q" else ""
            print(f"  ours/{peer.split()[0]} speed: {ratio:.2f}{goal}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
