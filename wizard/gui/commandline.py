"""The CLI command equivalent to the wizard's choices, to resume or repeat a run on a server."""

from __future__ import annotations

import shlex
from collections.abc import Collection, Mapping
from pathlib import Path

from ..engine.context import Settings


def selection_args(components: list[str], presets: Mapping[str, Collection[str]] | None = None) -> list[str]:
    """``--preset X`` for the largest preset the selection contains, ``--components`` for the rest."""
    chosen = set(components)
    best = max(((pid, set(members)) for pid, members in (presets or {}).items() if set(members) <= chosen),
               key=lambda pm: len(pm[1]), default=None)
    args: list[str] = []
    rest = components
    if best is not None and best[1]:
        args += ["--preset", best[0]]
        rest = [c for c in components if c not in best[1]]
    if rest:
        args += ["--components", ",".join(rest)]
    return args


def training_argument(root: Path) -> str:
    """``--image_folder ROOT``, quoted for a shell like :func:`cli_command` (a root with a space
    or a shell character pastes as one argument)."""
    return shlex.join(["--image_folder", str(root)])


def cli_command(root: Path, components: list[str], settings: Settings, *, demo: bool = False,
                default_endpoint: str | None = None, presets: Mapping[str, Collection[str]] | None = None) -> str:
    """``sharegpt4v-setup run --root ... --preset ... --yes`` plus the options chosen.

    The selection is spelled as the largest preset it contains (``presets``: id → component
    ids) plus the components beyond it. The Hub token is never written out: the command reads
    the ``HF_TOKEN`` variable instead.
    """
    args = ["sharegpt4v-setup", "run"]
    if demo:
        args.append("--demo")
    args += ["--root", str(root), *selection_args(components, presets), "--yes"]
    if not demo:
        endpoint = (settings.hf_endpoint or "").rstrip("/")
        if endpoint and endpoint != (default_endpoint or "").rstrip("/"):
            args += ["--hf-endpoint", endpoint]
        if settings.sam_links is not None:
            args += ["--sam-links", str(settings.sam_links)]
        if settings.drive_cookies is not None:
            args += ["--drive-cookies", str(settings.drive_cookies)]
    if settings.allow_mirrors:
        args.append("--allow-mirrors")
    if settings.keep_archives:
        args.append("--keep-archives")
    if settings.full_archives:
        args.append("--full-archives")
    for cid, path in sorted(settings.local.items()):
        args += ["--local", f"{cid}={path}"]
    if settings.concurrency != Settings.concurrency:
        args += ["--concurrency", str(settings.concurrency)]
    if settings.force:
        args.append("--force")
    return shlex.join(args)
