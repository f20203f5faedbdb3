"""The progress page's table: one row per job (name, stage, bar, bytes, speed, ETA, Retry, error)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

from ..engine.events import Stage
from . import formatting
from .jobmodel import JobBoard, JobState

BAR_STEPS = 1000
COLUMNS = 7


class JobRow(QObject):
    """The widgets of one job, laid out on two grid rows (the second holds the error, if any)."""

    retry_requested = Signal(str)

    def __init__(self, job: str, title: str, grid: QGridLayout, row: int, parent: QWidget) -> None:
        super().__init__(parent)
        self.job = job
        self.name = QLabel(title)
        self.name.setWordWrap(True)
        self.stage = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setAccessibleName(self.tr("Progress of {title}").format(title=title))
        self.bytes = QLabel()
        self.speed = QLabel()
        self.eta = QLabel()
        self.retry = QPushButton(self.tr("Re&try"))
        self.retry.setAccessibleName(self.tr("Retry {title}").format(title=title))
        self.retry.setVisible(False)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet("color: #b71c1c;")
        self.error.setAccessibleName(self.tr("Problem with {title}").format(title=title))
        self.error.setVisible(False)
        self.name.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        for col, widget in enumerate((self.name, self.stage, self.bar, self.bytes, self.speed, self.eta,
                                      self.retry)):
            grid.addWidget(widget, row, col)
        for widget in (self.bytes, self.speed, self.eta):
            widget.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(self.error, row + 1, 0, 1, COLUMNS)
        self.retry.clicked.connect(self._on_retry_clicked)

    def show_state(self, state: JobState, now: float, retry_queued: bool) -> None:
        stage = formatting.stage_name(state.stage)
        if state.skipped:
            stage = self.tr("Already in place")
        self.stage.setText(stage)
        fraction = state.fraction()
        if fraction is None and state.stage in (Stage.DOWNLOADING, Stage.EXTRACTING, Stage.VERIFYING):
            self.bar.setRange(0, 0)  # busy indicator: total unknown
        else:
            self.bar.setRange(0, BAR_STEPS)
            self.bar.setValue(int((fraction or 0.0) * BAR_STEPS))
        expected = state.expected_bytes
        downloading = state.stage == Stage.DOWNLOADING
        if state.items and downloading and state.download_total:
            shown = self.tr("{done} of {total} files").format(done=f"{state.downloaded:,}",
                                                              total=f"{state.download_total:,}")
        elif state.stage in (Stage.EXTRACTING, Stage.PLACING, Stage.DONE) and expected:
            shown = formatting.size(expected)
        elif expected and not state.items:
            shown = self.tr("{done} of {total}").format(done=formatting.size(state.downloaded),
                                                        total=formatting.size(expected))
        else:
            shown = ""
        self.bytes.setText(shown)
        rate = state.speed(now) if downloading else None
        if state.items:
            self.speed.setText(self.tr("{n:.0f} files/s").format(n=rate) if rate else "")
        else:
            self.speed.setText(formatting.speed(rate) if downloading else "")
        self.eta.setText(formatting.duration(state.eta(now)) if state.stage == Stage.DOWNLOADING else "")
        failed = state.stage in (Stage.FAILED, Stage.WAITING) and state.problem is not None
        self.retry.setVisible(failed)
        self.retry.setEnabled(not retry_queued)
        self.retry.setText(self.tr("Retry queued") if retry_queued else self.tr("Re&try"))
        if failed and state.problem is not None:
            text = state.problem.message
            if state.problem.hint:
                text += "\n" + self.tr("What to do: {hint}").format(hint=state.problem.hint)
            self.error.setText(text)
        self.error.setVisible(failed)

    @Slot()
    def _on_retry_clicked(self) -> None:
        self.retry_requested.emit(self.job)


class JobTable(QWidget):
    """All job rows; repainted from a :class:`JobBoard` by the progress page's timer."""

    retry_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setColumnStretch(0, 3)
        self.grid.setColumnStretch(2, 2)
        headers = (self.tr("Component"), self.tr("Stage"), self.tr("Progress"), self.tr("Downloaded"),
                   self.tr("Speed"), self.tr("Time left"), "")
        for col, text in enumerate(headers):
            label = QLabel(f"<b>{text}</b>")
            self.grid.addWidget(label, 0, col)
        self.rows: dict[str, JobRow] = {}
        self.grid.setRowStretch(1000, 1)

    def refresh(self, board: JobBoard, now: float, queued: set[str]) -> None:
        for job, state in board.jobs.items():
            row = self.rows.get(job)
            if row is None:
                row = JobRow(job, state.title, self.grid, 1 + 2 * len(self.rows), self)
                row.retry_requested.connect(self._on_row_retry_requested)
                self.rows[job] = row
            row.show_state(state, now, job in queued)

    @Slot(str)
    def _on_row_retry_requested(self, job: str) -> None:
        self.retry_requested.emit(job)
