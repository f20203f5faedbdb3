"""Bounded reads: how many bytes a transfer may accept, and the one bad copy kept of a file.

No transfer writes past the size it expects plus :data:`MARGIN`: the catalog's exact size, else
the size the server declares (``Content-Length``/``Content-Range``), else twice the catalog's
approximate size, else what the disk budget allows (free space above ``Settings.min_free_bytes``).
A body that runs on is cut off at the bound and reported as ``body-too-long``
(:func:`too_long`); nothing beyond the bound is kept. :func:`quarantine` keeps at most one bad
copy of each file (a newer one replaces the older).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from ..context import JobContext
from ..errors import Code, SetupError
from ..fsinfo import free_bytes

log = logging.getLogger(__name__)

#: What a transfer may receive beyond the size it expects (small: the size is known exactly).
MARGIN = 64 * 1024


def limit_for(ctx: JobContext, *, size: int | None = None, declared: int | None = None,
              approx: int | None = None) -> int:
    """The most bytes a file may have: see the module docstring."""
    if size is not None:
        return size + MARGIN
    if declared is not None:
        return declared + MARGIN
    if approx is not None:
        return 2 * approx
    return disk_budget(ctx)


def disk_budget(ctx: JobContext) -> int:
    """Bytes that may still be written under the root before the free-space floor is reached."""
    try:
        free = free_bytes(ctx.downloads)
    except OSError:
        return 1 << 62
    return max(MARGIN, free - ctx.settings.min_free_bytes)


def too_long(name: str, limit: int, *, declared: int | None = None, expected: int | None = None) -> SetupError:
    """The ``body-too-long`` problem for a body cut off at (or announced beyond) ``limit`` bytes."""
    if declared is not None and expected is not None:
        what = f"The server announces {declared:,} bytes for {name}; {expected:,} were expected."
    else:
        what = f"The server sent more than {limit:,} bytes for {name} and was cut off there."
    return SetupError(Code.BODY_TOO_LONG, what,
                      "The server sends something else than the catalog describes (a changed file, an error "
                      "page that never ends, a wrong link). Nothing past the expected size was kept; check the "
                      "source or point the catalog at a mirror (--catalog).")


def quarantine(ctx: JobContext, path: Path, tag: str) -> Path:
    """Move ``path`` into the quarantine folder as ``<name>.<tag>``, replacing any earlier bad copy
    of the same file (at most one is kept per file)."""
    folder = ctx.quarantine
    earlier = re.compile(re.escape(path.name) + r"(\.\d+)?\.[a-z-]+")
    for old in folder.iterdir():
        if earlier.fullmatch(old.name):
            old.unlink(missing_ok=True)
    kept = folder / f"{path.name}.{tag}"
    os.replace(path, kept)
    log.info("kept a bad copy of %s at %s", path.name, kept)
    return kept
