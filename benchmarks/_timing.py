"""Timing shared by the benchmark scripts: run a contender as a child process, wall + CPU time."""

from __future__ import annotations

import json
import resource
import subprocess
import time


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], inner: bool = False) -> tuple[float, float]:
    """Run a contender; (seconds, cpu seconds). ``inner``: the child prints its own timing as the
    last line of its output, a JSON object with ``seconds`` (start-up is then not counted)."""
    cpu = children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    cpu = children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    if inner:
        seconds = float(json.loads(proc.stdout.decode().strip().splitlines()[-1])["seconds"])
    return seconds, cpu
