"""Benchmark the HTTP fetcher against curl and aria2c, side by side, on nginx at 127.0.0.1.

Generates one file (default 1 GiB), serves it with nginx twice — ``/fast/`` unthrottled and
``/slow/`` with ``limit_rate 20m`` per connection — and downloads it with each contender in turn
(rotating their order from run to run) into a fresh file that is deleted, followed by ``sync``,
after each run, so disk use stays about twice the file size:

* unthrottled: ours (default settings: the automatic connection count, which starts at 2 and
  grows only while that is faster) vs ``curl -s -o`` and vs ``curl -s -o FILE && sync FILE``
  and ours timed until its background syncer has the file on disk (the fair pair for
  durability: ``download()`` returns after the rename, the run waits for the syncer at its end);
  ours is also run with ``--segments 1`` and with sha256 verification, for information;
* throttled (20 MiB/s per connection): ours with default settings vs ``aria2c -x8 -s8`` and
  (``--curl-throttled``) vs curl.

Each of our runs is a fresh ``python`` process timing :func:`wizard.engine.net.transfer.download`
itself (interpreter start-up is excluded; it is ~0.2 s); curl and aria2c are timed from spawn to
exit. Every line shows the median and the best run in MB/s (10^6 bytes/s), all runs, and the
median CPU seconds (user + system, interpreter start-up included); the ratios compare medians and
best runs. Targets (default settings): unthrottled ours/curl >= 0.9; throttled ours/aria2c >= 1.0.
The load average is printed before and after: figures taken on a busy machine say so. ``--hog`` runs
a Python busy loop beside every contender (a parallel CPU hog).

    .venv/bin/python benchmarks/http_bench.py [--size 1G] [--reps 3] [--slow-reps 3]
        [--rate 20m] [--workdir DIR] [--skip-throttled] [--curl-throttled] [--hog]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _timing import timed  # noqa: E402

from wizard.engine.net.ratelimit import parse_rate  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
BLOCK = 64 << 20


@dataclass
class Result:
    name: str
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)

    def line(self, size: int) -> str:
        runs = ", ".join(f"{s:.2f}" for s in self.seconds)
        return (f"  {self.name:<30} median {size / self.median / 1e6:7.1f} MB/s {self.median:7.2f} s, "
                f"best {size / self.best / 1e6:7.1f} MB/s   (runs: {runs} s; cpu {statistics.median(self.cpu):.2f} s)")


def ratio(name: str, results: dict[str, Result], ours: str, other: str, target: str) -> str:
    median = results[other].median / results[ours].median
    best = results[other].best / results[ours].best
    return f"  {name}: {median:.2f} on medians, {best:.2f} on best runs ({target})"


def make_file(path: Path, size: int) -> str:
    """Write ``size`` pseudo-random bytes (a 64 MiB random block, varied per block); its sha256."""
    digest = hashlib.sha256()
    base = os.urandom(BLOCK)
    with path.open("wb") as out:
        written = 0
        index = 0
        while written < size:
            block = index.to_bytes(8, "little") + base[8:]
            block = block[: size - written]
            out.write(block)
            digest.update(block)
            written += len(block)
            index += 1
    return digest.hexdigest()


def nginx_conf(docroot: Path, workdir: Path, port: int, rate: str) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = workdir / "tmp"
    return f"""{user}worker_processes auto;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    etag on;
    server {{
        listen 127.0.0.1:{port};
        root {docroot};
        location /slow/ {{ limit_rate {rate}; }}
    }}
}}
"""


def start_nginx(docroot: Path, workdir: Path, rate: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(nginx_conf(docroot, workdir, port, rate), encoding="utf-8")
    proc = subprocess.Popen([NGINX, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"nginx did not start: {(workdir / 'error.log').read_text(errors='replace')[-2000:]}")


def cleanup(path: Path) -> None:
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    shutil.rmtree(path.parent / "root", ignore_errors=True)
    os.sync()


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPU(s)"


def curl_sync(url: str, out: Path) -> list[str]:
    """curl, then ``sync FILE``: the bytes are on disk when it exits, as ours are."""
    return ["sh", "-c", 'curl -s -o "$1" "$2" && sync "$1"', "curl-sync", str(out), url]


def ours(url: str, out: Path, segments: int | None, sha256: str | None, durable: bool = False) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", url, str(out)]
    if durable:
        command.append("--durable")
    if segments is not None:
        command += ["--segments", str(segments)]
    if sha256:
        command += ["--sha256", sha256]
    return command


def child(url: str, out: Path, segments: int | None, sha256: str | None, durable: bool) -> None:
    """One download with the engine, timed around ``download()`` (``durable``: and until the
    background syncer has the file on disk, as a run's end waits for it); prints JSON."""
    from wizard.engine.context import JobContext, Settings
    from wizard.engine.control import Control
    from wizard.engine.journal import Journal
    from wizard.engine.net.durable import wait_for_syncs
    from wizard.engine.net.transfer import download

    root = out.parent / "root"
    root.mkdir(exist_ok=True)
    ctx = JobContext("bench", root, Settings(segments=segments), Journal(root), Control())
    started = time.perf_counter()
    download(ctx, url, out, sha256=sha256)
    if durable:
        wait_for_syncs()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "size": out.stat().st_size}))


def measure(results: dict[str, Result], contenders: list[tuple[str, Callable[[], list[str]], bool]],
            reps: int, out: Path, size: int) -> None:
    for rep in range(reps):  # rotate the order: each contender follows each other one in turn
        shift = rep % len(contenders)
        order = contenders[shift:] + contenders[:shift]
        for name, command, inner in order:
            seconds, cpu = timed(command(), inner)
            if out.stat().st_size != size:
                raise SystemExit(f"{name}: wrong size {out.stat().st_size}")
            result = results.setdefault(name, Result(name))
            result.seconds.append(seconds)
            result.cpu.append(cpu)
            print(f"    {name}: {seconds:.2f} s", flush=True)
            cleanup(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G", help="file size (K/M/G = 1024 powers); default 1G")
    parser.add_argument("--reps", type=int, default=3, help="runs per unthrottled contender (>= 3)")
    parser.add_argument("--slow-reps", type=int, default=3,
                        help="runs per throttled contender (curl runs once)")
    parser.add_argument("--rate", default="20m", help="nginx limit_rate per connection on /slow/")
    parser.add_argument("--workdir", type=Path, help="where to put the file (default: a temp dir)")
    parser.add_argument("--skip-throttled", action="store_true")
    parser.add_argument("--curl-throttled", action="store_true",
                        help="also time curl on the throttled file (1 GiB at 20 MiB/s take ~51 s)")
    parser.add_argument("--hog", action="store_true", help="run a Python busy loop on the side (all contenders)")
    parser.add_argument("--child", nargs=2, metavar=("URL", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--segments", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sha256", help=argparse.SUPPRESS)
    parser.add_argument("--durable", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.segments, args.sha256, args.durable)
        return

    size = parse_rate(args.size)
    print(f"before: {load()}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="http-bench-", dir=args.workdir))
    www = workdir / "www"
    (www / "fast").mkdir(parents=True)
    (www / "slow").mkdir()
    try:
        print(f"generating {size:,} bytes in {workdir} ...", flush=True)
        digest = make_file(www / "fast" / "file.bin", size)
        os.link(www / "fast" / "file.bin", www / "slow" / "file.bin")
        os.sync()
        proc, base = start_nginx(www, workdir / "nginx", args.rate)
        out = workdir / "out" / "file.bin"
        out.parent.mkdir()
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.hog else None
        try:
            fast, slow = f"{base}/fast/file.bin", f"{base}/slow/file.bin"
            subprocess.run(["curl", "-s", "-o", "/dev/null", fast], check=True)  # warm the page cache
            print("unthrottled:", flush=True)
            fast_results: dict[str, Result] = {}
            measure(fast_results, [
                ("curl -s -o", lambda: ["curl", "-s", "-o", str(out), fast], False),
                ("curl -s -o && sync FILE", lambda: curl_sync(fast, out), False),
                ("ours (auto segments)", lambda: ours(fast, out, None, None), True),
                ("ours, until on disk", lambda: ours(fast, out, None, None, durable=True), True),
                ("ours (--segments 1)", lambda: ours(fast, out, 1, None), True),
                ("ours (auto segments) + sha256", lambda: ours(fast, out, None, digest), True),
            ], args.reps, out, size)
            slow_results: dict[str, Result] = {}
            if not args.skip_throttled:
                print(f"throttled ({args.rate} per connection):", flush=True)
                slow_contenders: list[tuple[str, Callable[[], list[str]], bool]] = [
                    ("ours (auto segments)", lambda: ours(slow, out, None, None), True),
                    ("aria2c -x8 -s8", lambda: [
                        "aria2c", "-q", "-x8", "-s8", "--file-allocation=falloc", "--allow-overwrite=true",
                        "--auto-file-renaming=false", "-d", str(out.parent), "-o", out.name, slow], False),
                ]
                measure(slow_results, slow_contenders, args.slow_reps, out, size)
                if args.curl_throttled:  # once: nginx paces it (1 GiB take ~51 s)
                    measure(slow_results, [("curl -s -o", lambda: ["curl", "-s", "-o", str(out), slow], False)],
                            1, out, size)
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
            proc.terminate()
            proc.wait(timeout=10)
        print(f"\nfile: {size:,} bytes; nginx {args.rate} per connection on the throttled URL"
              f"{'; a Python busy loop ran beside every contender' if args.hog else ''}")
        print(f"after: {load()}")
        print("unthrottled:")
        for result in fast_results.values():
            print(result.line(size))
        print(ratio("ours/curl throughput", fast_results, "ours (auto segments)", "curl -s -o", "target >= 0.9"))
        print(ratio("ours until on disk/(curl && sync)", fast_results, "ours, until on disk",
                    "curl -s -o && sync FILE", "information: both on disk at the end"))
        print(ratio("ours --segments 1/curl", fast_results, "ours (--segments 1)", "curl -s -o", "information"))
        print(ratio("ours+sha256/curl", fast_results, "ours (auto segments) + sha256", "curl -s -o",
                    "information: curl verifies nothing"))
        if slow_results:
            print(f"throttled ({args.rate} per connection):")
            for result in slow_results.values():
                print(result.line(size))
            print(ratio("ours/aria2c throughput", slow_results, "ours (auto segments)", "aria2c -x8 -s8",
                        "target >= 1.0"))
            if "curl -s -o" in slow_results:
                print(ratio("ours/curl throughput", slow_results, "ours (auto segments)", "curl -s -o", "information"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
