"""The Finish page's check against the annotations: ``verify`` when asked (Check again), and
``repair`` of what is missing — both off the GUI thread through :meth:`EngineBridge.call`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.calls import RepairTask, VerifyTask
from ..engine.errors import Code, Problem
from ..engine.events import Event, JobFailed, Log, StageChanged
from .bridge import Call, EngineBridge, Task
from .problems import problem_paragraph
from .state import WizardState
from .verifyview import VerifyView
from .widgets import Retranslating

if TYPE_CHECKING:  # repair (and requests with it) loads when a repair starts, in the engine child
    from ..engine.repair import RepairReport
    from ..engine.verify import VerifyReport

LOG_LINES = 2000


def run_jsons(state: WizardState) -> list[Path] | None:
    """The annotation JSONs of the run that are on disk; None: every known JSON in the root."""
    if state.root is None:
        return None
    paths: list[Path] = []
    for component in state.components():
        if component.group == "annotations" and component.archive == "none":
            for source in component.sources:
                path = (state.root / component.target / source.file_name).absolute()
                if path.is_file() and path not in paths:
                    paths.append(path)
    return paths or None


def selected_folders(state: WizardState) -> set[str]:
    """Image folder keys ("coco", "sam", ...) the selected components fill."""
    from ..engine.annotations import classify  # with the JSON parser: not needed at start-up

    return {classify(c.target + "/x") for c in state.components() if c.group != "annotations"}


class VerifyPanel(Retranslating, QGroupBox):
    """Runs the check and the repair; shows the result in a :class:`VerifyView`."""

    busy_changed = Signal(bool)
    checked = Signal(object)  # VerifyReport, after a check or a repair
    repaired = Signal(object)  # RepairReport

    def __init__(self, state: WizardState, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._bridge = bridge
        self._call: Call | None = None
        self._checking = False  # the call is a check, not a repair
        self.last_report: VerifyReport | None = None
        self.last_repair: RepairReport | None = None
        self.view = VerifyView()
        self.check_button = QPushButton()
        self.repair_button = QPushButton()
        self.repair_button.setEnabled(False)
        self.stop_button = QPushButton()
        self.stop_button.setVisible(False)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)  # busy: no known total
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setVisible(False)
        row = QHBoxLayout()
        row.addWidget(self.check_button)
        row.addWidget(self.repair_button)
        row.addWidget(self.stop_button)
        row.addWidget(self.busy_bar, 1)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setMaximumHeight(self.fontMetrics().lineSpacing() * 6)
        self.log.setVisible(False)

        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addLayout(row)
        layout.addWidget(self.log)
        self.check_button.clicked.connect(self._on_check_button_clicked)
        self.repair_button.clicked.connect(self._on_repair_button_clicked)
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("Images the annotations reference"))
        self.check_button.setText(self.tr("C&heck again"))
        self.check_button.setAccessibleName(self.tr("Check the images against the annotations again"))
        self.repair_button.setText(self.tr("&Repair"))
        self.repair_button.setAccessibleName(self.tr("Fetch the missing images again"))
        self.repair_button.setToolTip(self.tr(
            "Fetches only the missing images from the archives that hold them (also of parts not "
            "selected in this run), then checks again."))
        self.stop_button.setText(self.tr("&Stop"))
        self.stop_button.setAccessibleName(self.tr("Stop the check or repair"))
        self.stop_button.setToolTip(self.tr("Stops at the next file; what is restored so far is kept."))
        self.busy_bar.setAccessibleName(self.tr("Checking or repairing"))
        self.log.setAccessibleName(self.tr("Repair log"))
        self.view.retranslate()
        if self.last_report is not None and not self.busy:
            self.view.show_report(self.last_report, selected_folders(self._state))

    @property
    def busy(self) -> bool:
        return self._call is not None

    @property
    def checking(self) -> bool:
        """A check (which only reads) is running, not a repair."""
        return self._call is not None and self._checking

    # -- starting work -------------------------------------------------------------------------
    def start_check(self) -> None:
        """Verify the run's JSONs against the data root (does nothing while the bridge is busy)."""
        root, catalog, jsons = self._state.root, self._state.catalog, run_jsons(self._state)
        if root is None or self._bridge.busy:
            return

        self.view.clear()
        self._start(VerifyTask(root, jsons, catalog), self._on_check_finished)
        self._checking = True

    def start_repair(self) -> None:
        """Repair what the root's JSONs miss, then show the check of the run's JSONs."""
        state = self._state
        root, catalog, settings, jsons = state.root, state.catalog, state.settings, run_jsons(state)
        if root is None or self._bridge.busy:
            return

        self.log.clear()
        self.log.setVisible(True)
        self.view.show_unrecoverable({})
        self._append(self.tr("Repairing the missing images…"))
        self._start(RepairTask(root, catalog, settings, jsons), self._on_repair_finished)
        self._checking = False

    def _start(self, task: Task, on_finished: Callable[[Any], None]) -> None:
        call = self._bridge.call(task)
        call.event_received.connect(self._on_call_event_received)
        call.finished.connect(on_finished)
        call.failed.connect(self._on_call_failed)
        self._call = call
        self._set_busy(True)

    def _set_busy(self, busy: bool) -> None:
        self.busy_bar.setVisible(busy)
        self.stop_button.setVisible(busy)
        self.stop_button.setEnabled(busy)
        self.check_button.setEnabled(not busy)
        report = self.last_report
        self.repair_button.setEnabled(not busy and report is not None and not report.ok)
        self.busy_changed.emit(busy)

    def _append(self, text: str, job: str | None = None) -> None:
        self.log.appendPlainText((f"[{job}] " if job else "") + text)

    # -- slots ---------------------------------------------------------------------------------
    @Slot()
    def _on_check_button_clicked(self) -> None:
        self.start_check()

    @Slot()
    def _on_repair_button_clicked(self) -> None:
        self.start_repair()

    @Slot()
    def _on_stop_button_clicked(self) -> None:
        if self._call is not None:
            self._bridge.cancel()
            self.stop_button.setEnabled(False)

    @Slot(object)
    def _on_call_event_received(self, event: Event) -> None:
        if isinstance(event, Log):
            self._append(event.text, event.job)
        elif isinstance(event, StageChanged):
            self._append(f"{event.stage.value} {event.detail}".strip(), event.job)
        elif isinstance(event, JobFailed):
            self._append(event.problem.render(), event.job)

    @Slot(object)
    def _on_check_finished(self, report: VerifyReport) -> None:
        self._call = None
        self.last_report = report
        self.view.show_report(report, selected_folders(self._state))
        self._set_busy(False)
        self.checked.emit(report)

    @Slot(object)
    def _on_repair_finished(self, report: RepairReport) -> None:
        self._call = None
        self.last_repair = report
        self._append(self.tr("Restored %n image(s).", "", report.restored))
        for cid, problem in report.problems.items():
            self._append(problem.render(), cid)
        if report.after is not None:
            self.last_report = report.after
            self.view.show_report(report.after, selected_folders(self._state))
        self.view.show_unrecoverable(report.unrecoverable)
        self._set_busy(False)
        self.repaired.emit(report)
        if report.after is not None:
            self.checked.emit(report.after)

    @Slot(object)
    def _on_call_failed(self, problem: Problem) -> None:
        self._call = None
        if problem.code == Code.CANCELLED:
            self.view.show_problem(self.tr("Stopped. The work done so far is kept."))
        else:
            self.view.show_problem(problem_paragraph(problem))
        if self.log.isVisible():
            self._append(problem.render())
        self.last_report = None
        self._set_busy(False)
