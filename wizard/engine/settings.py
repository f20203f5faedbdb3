"""Run-wide options (:class:`Settings`): what the CLI flags and the GUI's options page set.

Its own module, without the journal, the rate limiter and the run log that :mod:`.context`
brings: the wizard's first window needs the settings and none of those.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: The most jobs a run takes at once, and per host (the command line's and the wizard's bound).
MAX_JOBS = 16
#: The offline demo's free-space reserve (``Settings.min_free_bytes``): its whole world is about
#: 1 MB, so it neither refuses nor waits on a disk with tens of MB free.
DEMO_MIN_FREE = 16 << 20


@dataclass
class Settings:
    """Run-wide options; the CLI flags and the GUI's options page fill this in."""

    hf_endpoint: str | None = None  # None: catalog/HF_ENDPOINT
    hf_token: str | None = None
    keep_archives: bool = False
    allow_mirrors: bool = False
    concurrency: int = 3  # jobs at once
    per_host: int = 2  # jobs at once per host
    sam_links: Path | None = None
    drive_cookies: Path | None = None  # cookies.txt for Google Drive (gdown), for users the quota stops
    local: dict[str, Path] = field(default_factory=dict)
    local_mode: str = "hardlink"  # hardlink | copy | move
    retries: int = 6  # consecutive failed attempts without progress before giving up
    backoff: float = 1.0  # first retry delay in seconds, doubled each time (capped)
    backoff_cap: float = 60.0
    connect_timeout: float = 20.0
    read_timeout: float = 60.0
    stall_seconds: float = 120.0  # reconnect when under stall_bytes arrive in this window
    stall_bytes: int = 64 * 1024
    chunk_size: int = 1 << 20
    force: bool = False  # start even when the plan does not fit the free space
    #: False: when annotation JSONs are part of the run, extract only the images they reference.
    full_archives: bool = False
    limit_rate: int | None = None  # bytes/s over all transfers (None: unlimited)
    segments: int | None = None  # connections per large file (None: by size; 1: never split)
    min_segment_size: int = 32 << 20  # bytes; no piece of a split download is smaller
    ocr_workers: int = 4  # OCR-VQA images fetched at once to begin with (more while throughput rises)
    ocr_max_workers: int = 16  # ... and at most
    ocr_per_host: int = 16  # ... of which at most this many from one host
    ocr_retries: int = 3  # retries per OCR-VQA image (timeouts, 5xx, 429) before it counts as dead
    #: Processes that fetch a large batch of OCR-VQA images (2: the run's and a second one, for the
    #: second core; 1: the run's alone).
    ocr_processes: int = 2
    #: SA-1B tars: extract members while the tar downloads; the tar itself is never stored.
    stream_tars: bool = True
    #: New work waits while the root's filesystem has less free than this (0: never wait).
    min_free_bytes: int = 512 << 20  # = plan.MARGIN_BYTES: a plan that fits never waits for space
    # (the demo's is DEMO_MIN_FREE)
    space_poll_seconds: float = 5.0  # how often a job waiting for free space looks again
    #: The observer also gets DEBUG records (every request); the run log always has them.
    verbose: bool = False
    #: The offline demo: its root holds placeholder images and is kept apart from real data (demoroot.py).
    demo: bool = False


def hub_endpoint(settings: Settings, default: str) -> str:
    """The Hub endpoint to use: the setting first, then HF_ENDPOINT (e.g. https://hf-mirror.com),
    then ``default`` (the catalog's)."""
    return (settings.hf_endpoint or os.environ.get("HF_ENDPOINT") or default).rstrip("/")
