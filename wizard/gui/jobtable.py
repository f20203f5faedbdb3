"""The progress page's table: one row per job (name, stage, bar, bytes, speed, ETA, Retry, error).

Columns keep their width whatever the texts (names and stages end in "…" instead of wrapping),
and each column holds one unit: bytes in "Downloaded", bytes per second in "Speed". Jobs that
count files (OCR-VQA images) say "3 of 6 files" in the stage column.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

from ..engine.events import Stage
from . import formatting
from .jobmodel import JobBoard, JobState
from .problems import problem_paragraph
from .widgets import ElidedLabel

BAR_STEPS = 1000
COLUMNS = 7
COL_NAME, COL_STAGE, COL_BAR, COL_BYTES, COL_SPEED, COL_ETA, COL_RETRY = range(COLUMNS)
_ERROR_STYLE = "color: #b71c1c;"
_NOTE_STYLE = "color: #8a5300;"  # the warning colour of the pages' status lines
# Stages during which a bar with an unknown total shows the busy indicator.
_BUSY_STAGES = (Stage.DOWNLOADING, Stage.EXTRACTING, Stage.VERIFYING)


class JobRow(QObject):
    """The widgets of one job, laid out on two grid rows (the second holds the error, if any)."""

    retry_requested = Signal(str)

    def __init__(self, job: str, title: str, grid: QGridLayout, row: int, parent: QWidget) -> None:
        super().__init__(parent)
        self.job = job
        self.name = ElidedLabel()
        self.stage = ElidedLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, BAR_STEPS)
        self.bytes = ElidedLabel()
        self.speed = ElidedLabel()
        self.eta = ElidedLabel()
        self.retry = QPushButton(self.tr("Re&try"))
        self.retry.setVisible(False)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet(_ERROR_STYLE)
        self.error.setVisible(False)
        self.set_title(title)
        self.name.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        for col, widget in enumerate((self.name, self.stage, self.bar, self.bytes, self.speed, self.eta,
                                      self.retry)):
            grid.addWidget(widget, row, col)
        for widget in (self.bytes, self.speed, self.eta):
            widget.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(self.error, row + 1, 0, 1, COLUMNS)
        self.retry.clicked.connect(self._on_retry_clicked)

    def set_title(self, title: str) -> None:
        """The job's name and the accessible names built from it (again after a language change)."""
        self.name.setText(title)
        self.name.setAccessibleName(title)
        self.bar.setAccessibleName(self.tr("Progress of {title}").format(title=title))
        self.retry.setAccessibleName(self.tr("Retry {title}").format(title=title))
        self.error.setAccessibleName(self.tr("Problem with {title}").format(title=title))

    def show_state(self, state: JobState, now: float, retry_queued: bool, paused: bool = False) -> None:
        paused = paused and not state.finished
        downloading = state.stage == Stage.DOWNLOADING and not paused
        stage = formatting.stage_name(state.stage)
        if state.skipped:
            stage = self.tr("Already in place")
        elif paused:
            stage = self.tr("Paused")
        if state.items and state.stage == Stage.DOWNLOADING and state.download_total:
            stage = self.tr("{stage}: {done} of {total} files").format(
                stage=stage, done=f"{state.downloaded:,}", total=f"{state.download_total:,}")
        self.stage.setText(stage)
        fraction = state.fraction()
        if fraction is None and state.stage in _BUSY_STAGES and not paused:
            self.bar.setRange(0, 0)  # busy indicator: total unknown
        else:
            self.bar.setRange(0, BAR_STEPS)
            self.bar.setValue(int((fraction or 0.0) * BAR_STEPS))
        weight = state.expected_bytes
        if state.stage in (Stage.EXTRACTING, Stage.PLACING, Stage.DONE) and weight:
            shown = formatting.size(weight)
        elif weight and (state.counted or state.stage == Stage.DOWNLOADING):
            shown = self.tr("{done} of {total}").format(done=formatting.size(state.counted, approx=state.items),
                                                        total=formatting.size(weight))
        else:
            shown = formatting.size(weight) if weight else ""
        self.bytes.setText(shown)
        self.speed.setText(formatting.speed(state.speed(now)) if downloading and not state.items else "")
        self.eta.setText(formatting.duration(state.eta(now)) if downloading else "")
        failed = state.stage in (Stage.FAILED, Stage.WAITING) and state.problem is not None
        self.retry.setVisible(failed)
        self.retry.setEnabled(not retry_queued)
        self.retry.setText(self.tr("Retry queued") if retry_queued else self.tr("Re&try"))
        # waiting before it started (the disk short of space): the engine's reason, which says
        # what is free and needed; the job carries on by itself once there is room
        # (or retrying: the engine's last warning, e.g. the server unreachable)
        note = state.detail if state.stage == Stage.WAITING and state.problem is None else state.warning
        if failed and state.problem is not None:
            self.error.setStyleSheet(_ERROR_STYLE)
            self.error.setText(problem_paragraph(state.problem))
        elif note:
            self.error.setStyleSheet(_NOTE_STYLE)
            self.error.setText(f"⚠ {note}")
        self.error.setVisible(failed or bool(note))

    @Slot()
    def _on_retry_clicked(self) -> None:
        self.retry_requested.emit(self.job)


class JobTable(QWidget):
    """All job rows; repainted from a :class:`JobBoard` by the progress page's timer."""

    retry_requested = Signal(str)

    def __init__(self, title_of: Callable[[str, str], str] | None = None, parent: QWidget | None = None) -> None:
        """``title_of(job, engine_title)``: the name shown for a job (e.g. translated)."""
        super().__init__(parent)
        self._title_of = title_of or (lambda job, title: title)
        self._engine_titles: dict[str, str] = {}
        self.grid = QGridLayout(self)
        self.grid.setColumnStretch(COL_NAME, 3)
        self.grid.setColumnStretch(COL_BAR, 2)
        self.headers: list[QLabel] = []
        for col in range(COLUMNS):
            label = QLabel()
            self.grid.addWidget(label, 0, col)
            self.headers.append(label)
        self.rows: dict[str, JobRow] = {}
        self.grid.setRowStretch(1000, 1)
        self.retranslate()

    def height_for(self, rows: int) -> int:
        """The height that shows the header and ``rows`` job rows (without error lines) in full."""
        margins = self.grid.contentsMargins()
        spacing = max(0, self.grid.verticalSpacing())
        row = max(QProgressBar().sizeHint().height(), QPushButton().sizeHint().height(),
                  self.fontMetrics().height())
        return margins.top() + self.headers[0].sizeHint().height() + rows * (row + spacing) + margins.bottom()

    def retranslate(self) -> None:
        """Header texts and the fixed column widths that fit them and the longest cell texts."""
        headers = (self.tr("Component"), self.tr("Stage"), self.tr("Progress"), self.tr("Downloaded"),
                   self.tr("Speed"), self.tr("Time left"), "")
        for label, text in zip(self.headers, headers, strict=True):
            label.setText(f"<b>{text}</b>" if text else "")
        metrics = self.fontMetrics()
        pad = metrics.horizontalAdvance("  ")
        samples = {
            COL_STAGE: [formatting.stage_name(s) for s in Stage] + [
                self.tr("Already in place"), self.tr("Paused"),
                self.tr("{stage}: {done} of {total} files").format(
                    stage=formatting.stage_name(Stage.DOWNLOADING), done="88,888", total="88,888")],
            COL_BYTES: [self.tr("{done} of {total}").format(done="≈ 888.8 MB", total="888.8 MB")],
            COL_SPEED: [formatting.speed(888.8e6)],
            COL_ETA: [formatting.duration(3600 * 88 + 60 * 59), formatting.duration(59 * 60 + 59)],
        }
        for col, texts in samples.items():
            width = max(metrics.horizontalAdvance(t) for t in [*texts, headers[col]]) + pad
            self.grid.setColumnMinimumWidth(col, width)
        self.grid.setColumnMinimumWidth(COL_NAME, metrics.horizontalAdvance("M") * 12)
        self.grid.setColumnMinimumWidth(COL_BAR, metrics.horizontalAdvance("M") * 6)
        for job, row in self.rows.items():
            row.set_title(self._title_of(job, self._engine_titles[job]))

    def refresh(self, board: JobBoard, now: float, queued: set[str], paused: bool = False) -> None:
        for job, state in board.jobs.items():
            row = self.rows.get(job)
            if row is None:
                self._engine_titles[job] = state.title
                row = JobRow(job, self._title_of(job, state.title), self.grid, 1 + 2 * len(self.rows), self)
                row.retry_requested.connect(self._on_row_retry_requested)
                self.rows[job] = row
            row.show_state(state, now, job in queued, paused)

    @Slot(str)
    def _on_row_retry_requested(self, job: str) -> None:
        self.retry_requested.emit(job)
