"""The CLI command equivalent to the wizard's choices, to resume or repeat a run on a server."""

from __future__ import annotations

import shlex
from pathlib import Path

from ..engine.context import Settings


def cli_command(root: Path, components: list[str], settings: Settings, *, demo: bool = False,
                default_endpoint: str | None = None) -> str:
    """``sharegpt4v-setup run --root ... --components ... --yes`` plus the options chosen.

    The Hub token is never written out: the command reads the ``HF_TOKEN`` variable instead.
    """
    args = ["sharegpt4v-setup", "run"]
    if demo:
        args.append("--demo")
    args += ["--root", str(root), "--components", ",".join(components), "--yes"]
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
