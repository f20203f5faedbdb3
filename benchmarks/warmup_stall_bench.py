"""GUI responsiveness while the components page reads the annotation JSONs already in a root.

A probe QTimer fires every 10 ms on the GUI thread while the wizard's bridge runs the page's
read (``annotationcache.warm_task``: the JSONs' image counts and the SA-1B images they
reference, as the page starts it) on ``ROOT``; the lateness of each tick is how long the window
could not react. Then the plans the page builds on its GUI thread are timed. ``ROOT`` holds the
JSONs at their places (e.g. ``ROOT/sharegpt4v/share-captioner_coco_lcs_sam_1246k_1107.json``, a
link to the 1.5 GB file ``verify_bench.py`` generates); ``--sam-links`` makes the plans read the
SA-1B images too. The caches under ``ROOT/.sharegpt4v-setup/index`` are removed first.

    .venv/bin/python benchmarks/warmup_stall_bench.py ROOT [--sam-links FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TICK_MS = 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path)
    parser.add_argument("--sam-links", type=Path, default=None)
    args = parser.parse_args(argv)

    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from wizard.engine.catalog import load_catalog
    from wizard.engine.plan import build_plan
    from wizard.engine.settings import Settings
    from wizard.gui.annotationcache import warm_task
    from wizard.gui.bridge import EngineBridge

    root: Path = args.root
    shutil.rmtree(root / ".sharegpt4v-setup" / "index", ignore_errors=True)
    catalog = load_catalog()
    settings = Settings(sam_links=args.sam_links)
    clock = QElapsedTimer()
    clock.start()
    late: list[int] = []
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        late.append(now - last[0] - TICK_MS)
        last[0] = now

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    timer.start()
    start = time.monotonic()
    bridge = EngineBridge()
    call = bridge.call(warm_task(root, catalog, list(catalog.components), settings))
    outcome: list[object] = []
    call.finished.connect(lambda value: (outcome.append(value), app.quit()))
    call.failed.connect(lambda problem: (outcome.append(problem), app.quit()))
    app.exec()
    took = time.monotonic() - start
    late.sort()
    print(f"read: {outcome[0]!r} in {took:.1f} s; load {os.getloadavg()[0]:.2f}")
    print(f"event-loop lateness (ms) over {len(late)} ticks: median {statistics.median(late):.0f}, "
          f"p99 {late[int(len(late) * 0.99)]:.0f}, max {late[-1]:.0f}")
    for ids in (["json-pt", "coco-train2017"], ["json-pt", "sam-tars"], ["json-pt", "sam-tars"]):
        begin = time.monotonic()
        build_plan(root, catalog, catalog.resolve(None, ids), settings)
        print(f"plan of {','.join(ids)} on the GUI thread: {time.monotonic() - begin:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
