"""Check a Linux one-folder bundle after trimming: every shared library each binary needs resolves.

The spec drops Qt libraries and plugins the app does not use; this catches a kept plugin or
module that needs a dropped library (it would fail only when Qt loads it, on a user's machine).
Libraries are looked up in the bundle first, then on this system (``ldd``); the ones the target
system must provide are listed in ``wizard/syslibs.py`` and ``packaging/README.md``.

    .venv/bin/python packaging/check_bundle.py dist/sharegpt4v-setup
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from wizard.syslibs import BASE, PLATFORM_LIBRARIES

#: Libraries the target system provides (checked by wizard.syslibs when the wizard starts): a
#: build machine without, say, Wayland may lack them, and that is fine.
SYSTEM_PROVIDED = {lib.soname for group in (BASE, *PLATFORM_LIBRARIES.values()) for lib in group} | {
    "libwayland-egl.so.1"}


def elf_files(bundle: Path) -> list[Path]:
    found = []
    for path in sorted(bundle.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def unresolved(bundle: Path) -> dict[str, list[str]]:
    """For each ELF file of the bundle, the libraries ``ldd`` cannot find (only files with some)."""
    files = elf_files(bundle)
    dirs = sorted({str(p.parent) for p in files if ".so" in p.name})
    env = dict(os.environ, LD_LIBRARY_PATH=":".join(dirs))
    problems: dict[str, list[str]] = {}
    for path in files:
        proc = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env, check=False)
        missing = sorted({line.split("=>")[0].strip() for line in proc.stdout.splitlines()
                          if "not found" in line} - SYSTEM_PROVIDED)
        if missing:
            problems[str(path.relative_to(bundle))] = missing
    return problems


def main(argv: list[str]) -> int:
    bundle = Path(argv[0] if argv else "dist/sharegpt4v-setup")
    if not bundle.is_dir():
        print(f"check_bundle: {bundle} is not a folder", file=sys.stderr)
        return 2
    problems = unresolved(bundle)
    for name, missing in problems.items():
        print(f"check_bundle: {name} needs {', '.join(missing)}, which is neither bundled nor on this system",
              file=sys.stderr)
    count = len(elf_files(bundle))
    verdict = "all libraries resolve" if not problems else f"{len(problems)} with missing libraries"
    print(f"check_bundle: {count} binaries, {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
