"""The engine's typed progress protocol: frozen event dataclasses handed to one callback.

Observers (the CLI's terminal renderer, the GUI bridge, tests) receive events from worker
threads and must not block; the GUI bridge turns them into queued Qt signals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from .errors import Problem


class Stage(StrEnum):
    """Where a job is. The order here is the order a job moves through."""

    QUEUED = "queued"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    EXTRACTING = "extracting"
    PLACING = "placing"
    DONE = "done"
    FAILED = "failed"
    WAITING = "waiting"  # parked: quota, expired links, low disk; resumable later
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class JobQueued:
    job: str
    title: str
    download_bytes: int | None


@dataclass(frozen=True)
class StageChanged:
    job: str
    stage: Stage
    detail: str = ""


@dataclass(frozen=True)
class Progress:
    """Bytes (or items) done out of total for the job's current stage."""

    job: str
    stage: Stage
    done: int
    total: int | None
    unit: str = "bytes"  # "bytes", or "files" for sources that count items (OCR-VQA images)


@dataclass(frozen=True)
class JobFailed:
    job: str
    problem: Problem


@dataclass(frozen=True)
class JobDone:
    job: str
    skipped: bool = False
    detail: str = ""


@dataclass(frozen=True)
class Log:
    level: str  # "info" | "warning" | "error" | "debug" (engine log records, with --verbose)
    text: str
    job: str | None = None


@dataclass(frozen=True)
class RunFinished:
    done: tuple[str, ...]
    failed: tuple[str, ...]
    waiting: tuple[str, ...]
    cancelled: bool


Event = JobQueued | StageChanged | Progress | JobFailed | JobDone | Log | RunFinished
Emit = Callable[[Event], None]
#: The per-transfer callback shape used inside sources: (bytes done, total or None).
ProgressCallback = Callable[[int, int | None], None]


def null_emit(event: Event) -> None:
    """An observer that ignores everything."""
