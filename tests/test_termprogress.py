"""The terminal's progress table where users really run it: a narrow terminal or split pane
(``COLUMNS=40``) and a terminal that knows no cursor codes (``TERM=dumb``)."""

from __future__ import annotations

import io
import re
import types

import pytest

from wizard import termprogress
from wizard.engine.events import JobQueued, Progress, Stage, StageChanged
from wizard.termprogress import TerminalReporter

_CODES = re.compile(r"\x1b\[\d*[A-J]")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The reporter's clock, a second further at each reading: every event redraws."""
    now = [1000.0]

    def monotonic() -> float:
        now[0] += 1.0
        return now[0]

    monkeypatch.setattr(termprogress, "time", types.SimpleNamespace(monotonic=monotonic))
    return now


def _feed(reporter: TerminalReporter) -> None:
    for job in ("coco-train2017", "llava-pretrain"):
        reporter(JobQueued(job, f"{job} images", 19_000_000_000))
        reporter(StageChanged(job, Stage.DOWNLOADING))
        for done in range(1, 6):
            reporter(Progress(job, Stage.DOWNLOADING, done * 1_000_000_000, 19_000_000_000))


def test_on_a_narrow_terminal_each_row_of_the_table_fits_one_line(clock: list[float],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrapped row takes two lines, and the cursor-up that clears the table leaves one behind at
    every redraw: the terminal fills with stale rows."""
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("TERM", "xterm-256color")
    out = Tty()
    reporter = TerminalReporter(out)
    assert reporter.interactive
    _feed(reporter)
    rows = _CODES.sub("", out.getvalue()).splitlines()
    assert any("coco-train2017" in row for row in rows)  # the table was drawn
    assert all(len(row) < 40 for row in rows), [row for row in rows if len(row) >= 40]


def test_term_dumb_gets_lines_and_no_cursor_codes(clock: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    out = Tty()
    reporter = TerminalReporter(out)
    _feed(reporter)
    text = out.getvalue()
    assert "\x1b" not in text
    assert "coco-train2017: downloading" in text  # the stage lines a log gets
