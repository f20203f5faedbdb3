"""Benchmark SA-1B tars: our streamed download+extract against download-then-``tar -x``.

Generates SAM-like tars (default 4 × 250 MB): flat ``./sa_N.jpg`` members of 200–400 KB (a JPEG
header and random bytes) each followed by a small ``./sa_N.json``, in GNU tar format, and serves
them with nginx on 127.0.0.1 (``tests/servers.py``). Then, one tar after another as a SAM job
does, into a fresh target each time:

* ``stream``  — the engine (``Runner`` on a one-component catalog, ``Settings.stream_tars``):
  members are written while the tar downloads; the tar is never stored;
* ``curl+tar`` — ``curl -o sa_N.tar URL && tar -xf sa_N.tar --wildcards '*.jpg' && rm sa_N.tar``;
* ``engine, stored`` — the engine with ``stream_tars=False`` (download, verify, extract, delete).

``--rate 50M`` caps every contender's download at that many bytes/s (our limiter, curl's
``--limit-rate``) to play a real link, where the network rather than the disk is the bottleneck.

``--per-connection 20m`` plays a CDN that caps each connection instead (nginx ``limit_rate``):
the engine then reads each tar's next ranges ahead on extra connections
(:mod:`wizard.engine.readahead`; ``--segments``, default 8 as the size policy gives a real 11 GB
tar), and ``aria2c -x8 -s8`` then ``tar -x`` joins as the peer (curl, one connection, is left out
unless ``--curl``: it is eight times slower there).

The contenders run interleaved for ``--reps`` rounds (the order rotates each round); each line
is the median of the rounds. The load average is printed before and after; ``--hog`` runs a
Python busy loop on the side for the whole measurement.
Wall time, CPU seconds (this process and its children: nginx is not counted) and peak disk use
are measured; disk use is sampled every 50 ms with ``statvfs`` of
the target filesystem (used bytes above the level before the run). As root, the targets live on
a dedicated loop-mounted ext4 image so the samples see nothing else (``--fs plain``: the workdir's
own filesystem, noisier). Prints each contender and the ratios stream / curl+tar.

    .venv/bin/python benchmarks/sam_stream_bench.py [--size 250M] [--tars 4] [--rate 50M] [--reps 3]
                                                    [--per-connection 20m] [--segments 8] [--hog]
                                                    [--workdir DIR] [--fs loop|plain] [--no-stored]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import servers  # noqa: E402
from servers import nginx_server  # noqa: E402

from wizard.engine.catalog import load_catalog  # noqa: E402
from wizard.engine.context import Settings  # noqa: E402
from wizard.engine.net.ratelimit import parse_rate  # noqa: E402
from wizard.engine.plan import build_plan  # noqa: E402
from wizard.engine.runner import Runner  # noqa: E402

JPEG_HEAD = bytes.fromhex("ffd8ffe000104a46494600010101004800480000")
SAMPLE_SECONDS = 0.05


def make_tar(path: Path, size: int, first_id: int, rng: random.Random, pool: bytes) -> int:
    """Write one SAM-like tar of about ``size`` bytes; returns the number of jpgs."""
    count, total, sid = 0, 0, first_id
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        while total < size:
            length = rng.randint(200_000, 400_000)
            start = rng.randrange(0, len(pool) - length)
            image = JPEG_HEAD + pool[start : start + length - len(JPEG_HEAD) - 2] + b"\xff\xd9"
            masks = (b'{"image": {"image_id": %d}, "annotations": [' % sid) + b"0" * rng.randint(1000, 4000) + b"]}"
            for name, data in ((f"./sa_{sid}.jpg", image), (f"./sa_{sid}.json", masks)):
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), 1_680_000_000, 0o644
                tf.addfile(info, io.BytesIO(data))
                total += 512 + (len(data) + 511) // 512 * 512
            count += 1
            sid += 37
    return count


def used_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


class PeakSampler:
    """Samples the used bytes of ``path``'s filesystem every 50 ms; ``peak`` is above the start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = used_bytes(path)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, used_bytes(self.path) - self.base)
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, used_bytes(self.path) - self.base)


@dataclass
class Outcome:
    name: str
    seconds: float
    peak: int
    files: int
    cpu: float = 0.0  # user + system seconds of this process and its waited-for children


def cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def write_catalog(work: Path, base_url: str, names: list[str], total: int) -> tuple[Path, Path]:
    catalog = work / "bench-catalog.toml"
    catalog.write_text(f"""schema = 1
[[component]]
id = "sam-tars"
title = "SAM bench"
target = "sam/images"
archive = "tar"
approx_extracted = {total}
  [component.layout]
  include = ["*.jpg"]
  flatten = true
  [[component.source]]
  kind = "sam-links"
  label = "nginx on 127.0.0.1"
  first = 0
  last = {len(names) - 1}
  name_format = "sa_{{index:06d}}.tar"
  approx_size = {total}
""", encoding="utf-8")
    links = work / "bench-links.tsv"
    expiry = f"{int(time.time()) + 7 * 86400:X}"
    links.write_text("file_name\tcdn_link\n" + "".join(f"{n}\t{base_url}/sam/{n}?oe={expiry}\n" for n in names),
                     encoding="utf-8")
    return catalog, links


def run_engine(catalog: Path, links: Path, root: Path, stream: bool, rate: int | None,
               segments: int | None = None) -> int:
    cat = load_catalog(catalog)
    settings = Settings(sam_links=links, stream_tars=stream, min_free_bytes=0, limit_rate=rate, segments=segments)
    plan = build_plan(root, cat, cat.resolve(None, ["sam-tars"]), settings)
    result = Runner(plan, cat, settings).run()
    if not result.ok:
        raise SystemExit(f"engine run failed: {result.failed or result.waiting}")
    return len(os.listdir(root / "sam/images"))


def run_curl_tar(base_url: str, names: list[str], root: Path, rate: int | None) -> int:
    target = root / "sam/images"
    target.mkdir(parents=True)
    limit = ["--limit-rate", str(rate)] if rate else []
    for name in names:
        tar = root / name
        subprocess.run(["curl", "-sS", "--fail", *limit, "-o", str(tar), f"{base_url}/sam/{name}"], check=True)
        subprocess.run(["tar", "-xf", str(tar), "-C", str(target), "--wildcards", "*.jpg"], check=True)
        tar.unlink()
    return len(os.listdir(target))


def run_aria2c_tar(base_url: str, names: list[str], root: Path, rate: int | None) -> int:
    target = root / "sam/images"
    target.mkdir(parents=True)
    limit = [f"--max-overall-download-limit={rate}"] if rate else []
    for name in names:
        tar = root / name
        subprocess.run(["aria2c", "-q", "-x8", "-s8", "--file-allocation=falloc", "--allow-overwrite=true",
                        *limit, "-d", str(root), "-o", name, f"{base_url}/sam/{name}"], check=True)
        subprocess.run(["tar", "-xf", str(tar), "-C", str(target), "--wildcards", "*.jpg"], check=True)
        tar.unlink()
    return len(os.listdir(target))


def per_connection_limit(rate: str) -> None:
    """Make ``servers.nginx_server`` cap every connection at ``rate`` (nginx ``limit_rate``)."""
    plain = servers.nginx_conf

    def conf(*args: object, **kwargs: object) -> str:
        return plain(*args, **kwargs).replace("sendfile on;", f"sendfile on;\n    limit_rate {rate};")  # type: ignore[arg-type]

    servers.nginx_conf = conf


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(name: str, fs: Path, job: Callable[[Path], int]) -> Outcome:
    root = fs / "root"
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["sync"], check=False)
    root.mkdir()
    with PeakSampler(fs) as sampler:
        started, cpu = time.perf_counter(), cpu_seconds()
        files = job(root)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["sync"], check=False)
    return Outcome(name, seconds, sampler.peak, files, cpu)


@contextlib.contextmanager
def target_fs(work: Path, kind: str, size: int) -> Iterator[Path]:
    """A filesystem for the targets: a loop-mounted ext4 image (root) or the workdir itself."""
    if kind == "plain":
        path = work / "plain"
        path.mkdir(exist_ok=True)
        yield path
        return
    image, mnt = work / "target.img", work / "mnt"
    mnt.mkdir(exist_ok=True)
    with open(image, "wb") as fh:
        fh.truncate(size)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", str(image)],
                   check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
        image.unlink(missing_ok=True)


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_rate, default=parse_rate("250M"), help="bytes per tar (250M)")
    parser.add_argument("--tars", type=int, default=4)
    parser.add_argument("--rate", type=parse_rate, help="download speed cap for every contender, e.g. 50M")
    parser.add_argument("--workdir", type=Path, help="where tars and targets go (default: a temp dir)")
    parser.add_argument("--fs", choices=("loop", "plain"), default="loop" if os.geteuid() == 0 else "plain")
    parser.add_argument("--no-stored", action="store_true", help="skip the engine's download-then-extract run")
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--per-connection", help="nginx limit_rate per connection, e.g. 20m")
    parser.add_argument("--segments", type=int, help="connections per tar for ours (default 8 with --per-connection)")
    parser.add_argument("--curl", action="store_true", help="also run curl + tar -x with --per-connection")
    parser.add_argument("--hog", action="store_true", help="run a Python busy loop on the side")
    args = parser.parse_args()
    for tool in ("curl", "tar"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sam-stream-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    docroot = work / "doc"
    (docroot / "sam").mkdir(parents=True, exist_ok=True)
    names = [f"sa_{i:06d}.tar" for i in range(args.tars)]
    rng, pool = random.Random(1), os.urandom(32 << 20)
    started = time.perf_counter()
    jpgs = sum(make_tar(docroot / "sam" / n, args.size, 1 + i * 11_200, rng, pool) for i, n in enumerate(names))
    total = sum((docroot / "sam" / n).stat().st_size for n in names)
    print(f"generated {args.tars} tars, {mb(total)}, {jpgs:,} jpgs in {time.perf_counter() - started:.1f} s "
          f"under {work}")
    throttled = args.per_connection is not None
    if throttled:
        per_connection_limit(args.per_connection)
    segments = args.segments if args.segments is not None else (8 if throttled else None)
    results: dict[str, list[Outcome]] = {}
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.hog else None
    loads = [load()]
    try:
        with nginx_server(docroot, work / "nginx") as nginx, \
                target_fs(work, args.fs, int(total * 2.5) + (256 << 20)) as fs:
            catalog, links = write_catalog(work, nginx.base_url, names, total)
            print(f"nginx at {nginx.base_url}; targets on {fs} ({args.fs})")
            rate = args.rate
            if rate:
                print(f"downloads capped at {mb(rate)}/s")
            if throttled:
                print(f"nginx caps each connection at {args.per_connection}/s; ours reads ahead on "
                      f"{segments} connections")
            contenders: dict[str, Callable[[Path], int]] = {
                "stream (ours)": lambda root: run_engine(catalog, links, root, True, rate, segments)}
            if throttled:
                contenders["aria2c-x8 + tar"] = lambda root: run_aria2c_tar(nginx.base_url, names, root, rate)
            if not throttled or args.curl:
                contenders["curl + tar -x"] = lambda root: run_curl_tar(nginx.base_url, names, root, rate)
            if not args.no_stored:
                contenders["engine, stored"] = lambda root: run_engine(catalog, links, root, False, rate, segments)
            order = list(contenders)
            for rep in range(args.reps):
                for name in order[rep % len(order):] + order[:rep % len(order)]:
                    outcome = measure(name, fs, contenders[name])
                    results.setdefault(name, []).append(outcome)
                    print(f"  round {rep + 1} {name:<16} {outcome.seconds:7.2f}s  cpu {outcome.cpu:5.2f}s  "
                          f"peak {mb(outcome.peak)}  "
                          f"(load {load()})", flush=True)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
        loads.append(load())
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.reps} interleaved rounds{', with a Python busy loop' if args.hog else ''}; load average "
          f"before: {loads[0]}, after: {loads[1]} ({os.cpu_count()} CPUs)")
    print(f"{'contender':<16} {'wall':>9} {'cpu':>7} {'MB/s':>8} {'peak disk':>11} {'jpgs':>7}   rounds (s)")
    median: dict[str, float] = {}
    for name, runs in results.items():
        median[name] = statistics.median(o.seconds for o in runs)
        peak = max(o.peak for o in runs)
        cpu = statistics.median(o.cpu for o in runs)
        print(f"{name:<16} {median[name]:8.2f}s {cpu:6.2f}s {total / median[name] / 1e6:8.0f} {mb(peak):>11} "
              f"{runs[0].files:>7,}   " + " ".join(f"{o.seconds:.2f}" for o in runs))
    if any(o.files != jpgs for runs in results.values() for o in runs):
        print(f"MISMATCH: expected {jpgs} jpgs")
        return 1
    ours = "stream (ours)"
    for peer in ("aria2c-x8 + tar", "curl + tar -x"):
        if peer in median:
            peak = max(o.peak for o in results[ours]) / max(1, max(o.peak for o in results[peer]))
            print(f"ours / {peer}: speed {median[peer] / median[ours]:.2f}x, peak disk {peak:.2f}x"
                  + (" (goal: speed >= 0.9)" if peer.startswith("aria2c") else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
