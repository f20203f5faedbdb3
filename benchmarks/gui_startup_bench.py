"""Start-up time of the wizard: from launching the process to its first painted window, against a
bare PySide6 QWizard measured the same way in the same run.

Each contender is a fresh Python process. It creates the QApplication, watches for the first paint
of its top-level window (the window class's ``paintEvent``, wrapped the same way for both: an
application-wide Python event filter would make PySide6 wrap every object that gets an event, which
costs the wizard's rich-text widgets ~0.1 s the real application never pays) and exits at once; the
parent times from spawning the process to reading that line. The bare contender shows a QWizard with
one empty page; the wizard contender imports ``wizard.cli`` first and runs ``main([])``, exactly as
the ``sharegpt4v-setup`` command does, with preferences and caches in a temporary home. Repetitions
are interleaved (bare, wizard, bare, …) so a machine that gets busier affects both alike.
Target: wizard ≤ 1.5 × bare (median).

    .venv/bin/python benchmarks/gui_startup_bench.py [--reps 5] [--platform offscreen|xcb]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import os, sys, time

def painted():
    sys.stdout.write(f"painted {time.process_time():.4f}\n")
    sys.stdout.flush()
    os._exit(0)

if sys.argv[1] == "wizard":
    import importlib.util

    class Watch:  # patches SetupWizard.paintEvent once main() imports it, keeping the app's import order
        def find_spec(self, name, path=None, target=None):
            if name != "wizard.gui.wizard":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                shown = module.SetupWizard.paintEvent

                def paint_event(self, event):
                    shown(self, event)
                    painted()

                module.SetupWizard.paintEvent = paint_event

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, Watch())
    from wizard.cli import main  # what the command imports first, before Qt (its own order)
else:
    from PySide6.QtWidgets import QApplication

if sys.argv[1] == "bare":
    app = QApplication(sys.argv[:1])
    from PySide6.QtWidgets import QWizard, QWizardPage

    class Bare(QWizard):
        def paintEvent(self, event):
            super().paintEvent(event)
            painted()

    wizard = Bare()
    page = QWizardPage()
    page.setTitle("Bare QWizard")
    wizard.addPage(page)
    wizard.show()
    app.exec()
else:
    main([])
"""


def launch(kind: str, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawning the contender to its first painted window, and the CPU seconds the
    contender's process had used by then (steadier than the wall time on a busy machine)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, kind], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    seconds = time.perf_counter() - started
    proc.wait(timeout=60)
    word, _, cpu = line.decode().partition(" ")
    if word != "painted":
        raise SystemExit(f"{kind} did not paint a window: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    return seconds, float(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each contender (at least 3)")
    parser.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
                        help="Qt platform plugin (default: $QT_QPA_PLATFORM or offscreen)")
    args = parser.parse_args()
    reps = max(3, args.reps)
    with tempfile.TemporaryDirectory(prefix="gui-startup-") as home:
        env = {**os.environ, "QT_QPA_PLATFORM": args.platform, "HOME": home,
               "XDG_CONFIG_HOME": str(Path(home) / "config"), "XDG_CACHE_HOME": str(Path(home) / "cache"),
               "XDG_STATE_HOME": str(Path(home) / "state"), "XDG_DATA_HOME": str(Path(home) / "data"),
               "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
               # Byte-code as an installed app has it (pip compiles on install); the warm-up run
               # writes it here even where PYTHONDONTWRITEBYTECODE is set.
               "PYTHONPYCACHEPREFIX": str(Path(home) / "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        launch("bare", env)  # warm the file cache and write the byte-code for both: not counted
        launch("wizard", env)
        times: dict[str, list[float]] = {"bare": [], "wizard": []}
        cpu: dict[str, list[float]] = {"bare": [], "wizard": []}
        load = os.getloadavg()[0]
        for _ in range(reps):
            for kind in times:
                seconds, used = launch(kind, env)
                times[kind].append(seconds)
                cpu[kind].append(used)
    bare, wizard = statistics.median(times["bare"]), statistics.median(times["wizard"])
    for kind, values in times.items():
        shown = ", ".join(f"{v:.3f}" for v in values)
        print(f"{kind:7s} median {statistics.median(values):.3f} s, CPU {statistics.median(cpu[kind]):.3f} s"
              f"  (runs: {shown})")
    ratio = wizard / bare
    cpu_ratio = statistics.median(cpu["wizard"]) / statistics.median(cpu["bare"])
    print(f"load average {load:.2f} -> {os.getloadavg()[0]:.2f}")
    verdict = "met" if ratio <= 1.5 else "MISSED"
    print(f"ratio wizard/bare: {ratio:.2f} (CPU {cpu_ratio:.2f}); target <= 1.5 -> {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
