"""What one ``stat`` costs on this machine, from Python and from C: the floor under ``verify``'s
size check (issue 12 asks verify to compare each recorded file's size, so one ``stat`` per file).

Creates ``--files`` empty files in one folder (like ``sam/images``), then measures CPU seconds per
call, each the median of ``--reps`` passes over every file:
- ``getppid``: a syscall that does nothing (the cost of entering the kernel here);
- ``python os.stat``: ``os.stat(name, dir_fd=fd)``, what verify's size helper calls;
- ``C fstatat``: the same calls from a C loop (compiled with ``cc``; skipped without a compiler).

Then prints the implied floor of ``verify_bench.py`` at ``--records`` files: (stats + the JSON's
parse, ``--parse`` CPU seconds) spread perfectly over the machine's cores, as a fraction of
``--json-load`` seconds (the json.load baseline's time from the same machine's verify bench).

    .venv/bin/python benchmarks/stat_cost.py [--files 300000] [--reps 3] [--json-load 26.4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

_C_LOOP = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
int main(int argc, char **argv) {
    int n = atoi(argv[2]);
    int fd = open(argv[1], O_RDONLY | O_DIRECTORY);
    char name[64];
    struct stat st;
    long long total = 0;
    struct timespec a, b;
    if (fd < 0) return 1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "sa_%d.jpg", i);
        if (fstatat(fd, name, &st, 0) == 0) total += st.st_size;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    printf("%.9f %lld\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9, total);
    return 0;
}
"""


def _python_pass(folder: str, names: list[str]) -> float:
    fd = os.open(folder, os.O_RDONLY)
    try:
        start = time.process_time()
        for name in names:
            os.stat(name, dir_fd=fd)
        return time.process_time() - start
    finally:
        os.close(fd)


def _getppid_pass(count: int) -> float:
    getppid = os.getppid
    start = time.process_time()
    for _ in range(count):
        getppid()
    return time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=300_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--records", type=int, default=1_250_000, help="files verify stats (default 1.25M)")
    parser.add_argument("--parse", type=float, default=2.3,
                        help="CPU seconds of verify's JSON parse with values (default 2.3, benchmarks/README.md)")
    parser.add_argument("--json-load", type=float, default=26.4,
                        help="the json.load baseline's seconds from verify_bench.py on this machine")
    args = parser.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} cores")
    work = Path(tempfile.mkdtemp(prefix="statcost-"))
    try:
        folder = work / "images"
        folder.mkdir()
        names = [f"sa_{i}.jpg" for i in range(args.files)]
        for name in names:
            os.close(os.open(folder / name, os.O_CREAT | os.O_WRONLY, 0o644))
        results: dict[str, float] = {}
        results["getppid"] = statistics.median(_getppid_pass(args.files) for _ in range(args.reps))
        results["python os.stat"] = statistics.median(_python_pass(str(folder), names)
                                                      for _ in range(args.reps))
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is not None:
            (work / "loop.c").write_text(_C_LOOP)
            subprocess.run([cc, "-O2", "-o", str(work / "loop"), str(work / "loop.c")], check=True)
            runs = [float(subprocess.run([str(work / "loop"), str(folder), str(args.files)], check=True,
                                         capture_output=True, text=True).stdout.split()[0])
                    for _ in range(args.reps)]
            results["C fstatat"] = statistics.median(runs)
        else:
            print("no C compiler: the C loop is skipped")
        cores = os.cpu_count() or 1
        for label, seconds in results.items():
            per = seconds / args.files
            line = f"{label:<16} {per * 1e6:6.2f} us CPU per call"
            if label != "getppid":
                floor = (per * args.records + args.parse) / cores
                line += (f"   floor at {args.records:,} files: ({per * args.records:.2f} s stats + "
                         f"{args.parse:.2f} s parse) / {cores} cores = {floor:.2f} s = "
                         f"{floor / args.json_load:.3f} x json.load's {args.json_load:.1f} s")
            print(line)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
