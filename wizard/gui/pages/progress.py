"""Page 6: the run — a row per job, an overall bar with ETA, pause/resume, cancel, retry and a log."""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QToolButton,
    QWidget,
    QWizardPage,
)

from ...engine.calls import PlanTask
from ...engine.errors import Code, Problem
from ...engine.events import Event, JobFailed, Log
from ...engine.plan import Plan
from .. import formatting
from ..bridge import Call, EngineBridge
from ..i18n import catalog_text
from ..jobtable import BAR_STEPS, JobTable
from ..problems import problem_paragraph
from ..state import WizardState
from ..widgets import Retranslating, RoomScrollArea, add_demo_banner, scrolled_layout, set_status, status_label

if TYPE_CHECKING:
    from ...engine.runner import RunResult

if TYPE_CHECKING:
    from ...engine.runner import RunResult

REFRESH_MS = 200
#: Job rows always in view (the page scrolls when the window is shorter).
TABLE_ROWS_SHOWN = 3
LOG_LINES = 2000


class ProgressPage(Retranslating, QWizardPage):
    """Starts the run when entered; repaints from the job board every :data:`REFRESH_MS` ms."""

    def __init__(self, state: WizardState, bridge: EngineBridge) -> None:
        super().__init__()
        self._state = state
        self._bridge = bridge
        self._finished_once = False
        self._retries: set[str] = set()
        self._planning = False
        self._plan_call: Call | None = None
        self.last_result: RunResult | None = None

        self.overall_bar = QProgressBar()
        self.overall_bar.setRange(0, BAR_STEPS)
        self.overall_text = QLabel()
        self.table = JobTable(self._job_title)
        self.table_scroll = scroll = RoomScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.table)

        self.pause_button = QPushButton()
        self.cancel_button = QPushButton()
        self.again_button = QPushButton()
        self.again_button.setVisible(False)
        buttons = QHBoxLayout()
        for button in (self.pause_button, self.cancel_button, self.again_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.status = status_label("")

        self.log_toggle = QToolButton()
        self.log_toggle.setCheckable(True)
        self.log_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.log_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setVisible(False)

        # A small screen at 150-200 % scrolls the page rather than squeezing the table to its header.
        scroll.setMinimumHeight(self.table.height_for(TABLE_ROWS_SHOWN) + 2 * scroll.frameWidth()
                                + scroll.horizontalScrollBar().sizeHint().height())
        _outer, layout = scrolled_layout(self)
        layout.addWidget(self.overall_bar)
        layout.addWidget(self.overall_text)
        layout.addWidget(scroll, 3)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.log_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.log, 2)
        add_demo_banner(layout, state.is_demo)

        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(REFRESH_MS)
        self.refresh_timer.timeout.connect(self._on_refresh_timer_timeout)
        self.pause_button.clicked.connect(self._on_pause_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.again_button.clicked.connect(self._on_again_button_clicked)
        self.log_toggle.toggled.connect(self._on_log_toggle_toggled)
        self.table.retry_requested.connect(self._on_table_retry_requested)
        bridge.event_received.connect(self._on_bridge_event_received)
        bridge.finished.connect(self._on_bridge_finished)
        bridge.crashed.connect(self._on_bridge_crashed)
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("Preparing the data"))
        self.setSubTitle(self.tr("You can keep using the computer; the work runs in the background."))
        self.overall_bar.setAccessibleName(self.tr("Overall progress"))
        self.table_scroll.setAccessibleName(self.tr("Jobs"))
        self.overall_text.setAccessibleName(self.tr("Overall progress details"))
        self.pause_button.setText(self.tr("&Resume") if self._bridge.paused else self.tr("&Pause"))
        self.pause_button.setAccessibleName(self.tr("Pause or resume the run"))
        self.cancel_button.setText(self.tr("&Cancel run"))
        self.cancel_button.setAccessibleName(self.tr("Cancel the run"))
        self.cancel_button.setToolTip(self.tr("Stops the run. Everything downloaded so far is kept and "
                                              "the next run resumes where this one stopped."))
        self.again_button.setText(self.tr("Run &again"))
        self.again_button.setAccessibleName(self.tr("Run the unfinished parts again"))
        self.status.setAccessibleName(self.tr("Run status"))
        shown = self.log_toggle.isChecked()
        self.log_toggle.setText(self.tr("Hide &log") if shown else self.tr("Show &log"))
        self.log_toggle.setAccessibleName(self.tr("Show or hide the log"))
        self.log.setAccessibleName(self.tr("Log"))
        self.table.retranslate()
        if self._state.board.jobs:
            self.repaint_now()

    def _job_title(self, job: str, engine_title: str) -> str:
        """A job's name in the current language (the catalog's translation of its title)."""
        for component in self._state.catalog.components:
            if component.id == job:
                return catalog_text(component, "title")
        return engine_title

    # -- QWizardPage -------------------------------------------------------------------------
    def initializePage(self) -> None:
        if not self._bridge.busy:
            self.start_run(self._state.selection)

    @property
    def planning(self) -> bool:
        """The plan of the next run is being worked out (nothing has started yet)."""
        return self._planning

    def isComplete(self) -> bool:
        return self._finished_once and not self._bridge.running and not self._planning

    # -- runs --------------------------------------------------------------------------------
    def start_run(self, ids: list[str]) -> None:
        """Run ``ids``; the selected annotation JSONs always come along (done ones are skipped)
        because they decide which images the engine extracts.

        The plan is worked out first, in the engine child (with the JSONs on disk it reads them to
        know which images the run needs: "Resume" on the root page comes here without the
        components page's read), so the totals shown are the plan's from the start."""
        state = self._state
        catalog, settings, root = state.catalog, state.settings, state.root
        if root is None or self._bridge.busy:
            return
        captions = [c.id for c in state.components() if c.group == "annotations"]
        components = catalog.resolve(None, [*ids, *captions])
        self._planning = True
        self.again_button.setVisible(False)
        self.pause_button.setEnabled(False)
        self.cancel_button.setEnabled(False)
        set_status(self.status, self.tr("Working out the plan…"))
        call = self._bridge.call(PlanTask(root, catalog, components, settings))  # in the engine child
        call.finished.connect(self._on_plan_call_finished)
        call.failed.connect(self._on_plan_call_failed)
        self._plan_call = call
        self.completeChanged.emit()

    @Slot(object)
    def _on_plan_call_finished(self, plan: Plan) -> None:
        self._planning, self._plan_call = False, None
        if self._bridge.cancel_requested:  # the window is closing
            self._end_run()
            return
        if (too_large := plan.file_size_problem()) is not None:  # a resume skips the components page
            self._on_plan_call_failed(too_large)
            return
        if not plan.fits and not self._state.settings.force:
            self.append_log("warning", self.tr("The plan may not fit the free space; jobs wait when the "
                                               "disk is full."))
        self.pause_button.setEnabled(True)
        self.pause_button.setText(self.tr("&Pause"))
        self.cancel_button.setEnabled(True)
        set_status(self.status, self.tr("Working…"))
        self._state.board.begin_run()
        self._bridge.start(plan, self._state.catalog, self._state.settings)
        self.refresh_timer.start()
        self.completeChanged.emit()

    @Slot(object)
    def _on_plan_call_failed(self, problem: Problem) -> None:
        self._planning, self._plan_call = False, None
        if self._bridge.cancel_requested and problem.code is Code.CANCELLED:  # the window is closing
            self._end_run()
            return
        self._on_bridge_crashed(problem)

    def append_log(self, level: str, text: str, job: str | None = None) -> None:
        prefix = {"warning": self.tr("warning"), "error": self.tr("error")}.get(level, "")
        line = (f"[{job}] " if job else "") + (f"{prefix}: " if prefix else "") + text
        self.log.appendPlainText(line)

    def repaint_now(self) -> None:
        board = self._state.board
        now = board.clock()
        for job, note in board.take_notes():
            self.append_log("info", note, job)
        rows = len(self.table.rows)
        self.table.refresh(board, now, self._retries, self._bridge.paused)
        if len(self.table.rows) != rows:
            self._order_tabs()
        done, total = board.overall()
        self.overall_bar.setValue(int(board.overall_fraction() * BAR_STEPS))
        parts = [self.tr("{done} of {total}").format(done=formatting.size(done), total=formatting.size(total))]
        if self._bridge.running and not self._bridge.paused:
            parts.append(formatting.speed(board.meter.rate(now)))
            parts.append(self.tr("{eta} left").format(eta=formatting.duration(board.overall_eta())))
        elif self._bridge.paused:
            parts.append(self.tr("paused"))
        self.overall_text.setText(" · ".join(parts))

    def _order_tabs(self) -> None:
        """Tab goes through the job rows' Retry buttons right after the table, then the run's
        buttons and the log (rows are made as jobs appear: Qt would put them last)."""
        chain: list[QWidget] = [self.table_scroll, *(row.retry for row in self.table.rows.values()),
                                self.pause_button, self.cancel_button, self.again_button,
                                self.log_toggle, self.log]
        for first, second in pairwise(chain):
            QWidget.setTabOrder(first, second)

    # -- slots -------------------------------------------------------------------------------
    @Slot()
    def _on_refresh_timer_timeout(self) -> None:
        self.repaint_now()

    @Slot(object)
    def _on_bridge_event_received(self, event: Event) -> None:
        self._state.board.apply(event)
        if isinstance(event, Log):
            self.append_log(event.level, event.text, event.job)
        elif isinstance(event, JobFailed):
            self.append_log("error", event.problem.render(), event.job)

    @Slot(object)
    def _on_bridge_finished(self, result: RunResult) -> None:
        self.last_result = result
        if self._retries and not result.cancelled:
            ids, self._retries = sorted(self._retries), set()
            self.start_run(ids)
            return
        self._retries.clear()
        if result.cancelled:
            self._state.board.stop_unfinished()
        self._end_run()
        if result.cancelled:
            set_status(self.status, self.tr("Cancelled. Everything downloaded so far is kept: press Run "
                                            "again, or open the wizard on the same folder later, to "
                                            "resume."), "warning")
        elif result.failed or result.waiting:
            set_status(self.status, self.tr("{failed} failed, {waiting} waiting. Each message says what "
                                            "to do; Retry runs that part again.").format(
                failed=len(result.failed), waiting=len(result.waiting)), "error")
        else:
            set_status(self.status, self.tr("All done. Press Next for the summary."), "ok")

    @Slot(object)
    def _on_bridge_crashed(self, problem: Problem) -> None:
        self._retries.clear()
        self._state.board.stop_unfinished()
        self._end_run()
        self.append_log("error", problem.render())
        set_status(self.status, problem_paragraph(problem), "error")

    def _end_run(self) -> None:
        self._finished_once = True
        self.refresh_timer.stop()
        self.repaint_now()
        self.pause_button.setEnabled(False)
        self.pause_button.setText(self.tr("&Pause"))
        self.cancel_button.setEnabled(False)
        jobs = self._state.board.jobs.values()
        # no jobs at all: the run stopped before its first one (a locked root, a full disk)
        self.again_button.setVisible(not jobs or any(s.stage.value != "done" for s in jobs))
        self.completeChanged.emit()

    @Slot()
    def _on_pause_button_clicked(self) -> None:
        if self._bridge.paused:
            self._bridge.resume()
            self.pause_button.setText(self.tr("&Pause"))
            set_status(self.status, self.tr("Working…"))
        else:
            self._bridge.pause()
            self.pause_button.setText(self.tr("&Resume"))
            set_status(self.status, self.tr("Paused. The jobs wait at their next chunk; nothing is lost."),
                       "warning")
        self.repaint_now()

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self._bridge.cancel()
        self.cancel_button.setEnabled(False)
        self.pause_button.setEnabled(False)
        set_status(self.status, self.tr("Stopping… everything downloaded so far is kept and can be "
                                        "resumed."), "warning")

    @Slot()
    def _on_again_button_clicked(self) -> None:
        ids = [job for job, s in self._state.board.jobs.items() if s.stage.value != "done"]
        self.start_run(ids or self._state.selection)

    @Slot(str)
    def _on_table_retry_requested(self, job: str) -> None:
        if self._bridge.running:
            self._retries.add(job)
            self.repaint_now()
        else:
            self.start_run([job])

    @Slot(bool)
    def _on_log_toggle_toggled(self, shown: bool) -> None:
        self.log.setVisible(shown)
        self.log_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.log_toggle.setText(self.tr("Hide &log") if shown else self.tr("Show &log"))
