"""Sizes, speeds, durations and stage names as the user reads them (translated)."""

from __future__ import annotations

import math

from PySide6.QtCore import QCoreApplication

from ..engine.events import Stage
from ..engine.plan import human


def size(n: int | None, *, approx: bool = False) -> str:
    """A byte count in decimal units ("1.5 GB"); "≈" marks catalog estimates."""
    if n is None:
        return QCoreApplication.translate("Format", "unknown")
    return ("≈ " if approx else "") + human(n)


def speed(bytes_per_second: float | None) -> str:
    if bytes_per_second is None or bytes_per_second <= 0:
        return "—"
    return QCoreApplication.translate("Format", "{size}/s").format(size=human(int(bytes_per_second)))


def duration(seconds: float | None) -> str:
    """A remaining time: "45 s", "12 min", "3 h 05 min"; "—" when unknown."""
    if seconds is None or math.isnan(seconds) or seconds < 0 or seconds > 365 * 86400:
        return "—"
    secs = round(seconds)
    if secs < 60:
        return QCoreApplication.translate("Format", "{s} s").format(s=secs)
    if secs < 3600:
        return QCoreApplication.translate("Format", "{m} min {s:02d} s").format(m=secs // 60, s=secs % 60)
    return QCoreApplication.translate("Format", "{h} h {m:02d} min").format(h=secs // 3600,
                                                                            m=secs % 3600 // 60)


def stage_name(stage: Stage | str) -> str:
    """The translated name of an engine stage."""
    names = {
        Stage.QUEUED: QCoreApplication.translate("Format", "Queued"),
        Stage.DOWNLOADING: QCoreApplication.translate("Format", "Downloading"),
        Stage.VERIFYING: QCoreApplication.translate("Format", "Verifying"),
        Stage.EXTRACTING: QCoreApplication.translate("Format", "Extracting"),
        Stage.PLACING: QCoreApplication.translate("Format", "Placing files"),
        Stage.DONE: QCoreApplication.translate("Format", "Done"),
        Stage.FAILED: QCoreApplication.translate("Format", "Failed"),
        Stage.WAITING: QCoreApplication.translate("Format", "Waiting"),
        Stage.CANCELLED: QCoreApplication.translate("Format", "Stopped (kept)"),
    }
    try:
        return names[Stage(stage)]
    except ValueError:
        return str(stage)


def status_name(status: str) -> str:
    """The translated name of a plan item status (done/partial/todo/failed/waiting)."""
    names = {
        "done": QCoreApplication.translate("Format", "already in place"),
        "partial": QCoreApplication.translate("Format", "partly done, resumes"),
        "todo": QCoreApplication.translate("Format", "to do"),
        "failed": QCoreApplication.translate("Format", "failed before, retries"),
        "waiting": QCoreApplication.translate("Format", "was waiting, retries"),
    }
    return names.get(status, status)
