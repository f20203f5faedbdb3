"""Byte counts in words for messages: ``human(1_500_000) == "1.5 MB"`` (decimal units)."""

from __future__ import annotations


def human(n: int | None) -> str:
    """A byte count as people read it; "?" when unknown."""
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover
