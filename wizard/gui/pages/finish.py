"""Page 7: per-component results, the check against the annotations (with Repair), the folder to
give to training, Open folder, and the CLI equivalent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QWizardPage,
)

from ...engine.events import Stage
from ..bridge import EngineBridge
from ..commandline import cli_command, training_argument
from ..i18n import catalog_text
from ..problems import problem_paragraph
from ..state import WizardState
from ..verifypanel import VerifyPanel, selected_folders
from ..widgets import Retranslating, add_demo_banner, fit_rows, scrolled_layout, set_status, status_label

if TYPE_CHECKING:
    from ...engine.verify import VerifyReport

#: Result rows shown before the list scrolls (the page itself scrolls on small screens).
RESULT_ROWS = 14


class FinishPage(Retranslating, QWizardPage):
    """What was achieved, whether every referenced image is there, and how to go on."""

    def __init__(self, state: WizardState, bridge: EngineBridge) -> None:
        super().__init__()
        self._state = state
        self._bridge = bridge
        self._all_done = False
        self._shown = False  # initializePage ran: the results can be shown again in another language
        self.results = QTreeWidget()
        self.results.setColumnCount(3)
        self.results.setRootIsDecorated(False)
        self.results.setUniformRowHeights(True)
        self.results.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.results.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.verify_panel = VerifyPanel(state, bridge)

        self.folder_label = folder_label = QLabel()
        self.folder = QLineEdit()
        self.folder.setReadOnly(True)
        folder_label.setBuddy(self.folder)
        self.copy_folder_button = QPushButton()
        self.open_button = QPushButton()
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(self.copy_folder_button)
        folder_row.addWidget(self.open_button)
        self.open_status = status_label("")
        self.open_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.command_label = command_label = QLabel()
        command_label.setWordWrap(True)
        self.command = QPlainTextEdit()
        self.command.setReadOnly(True)
        self.command.setMaximumHeight(self.fontMetrics().lineSpacing() * 5)
        self.copy_command_button = QPushButton()

        outer, layout = scrolled_layout(self)
        layout.addWidget(self.results)
        layout.addWidget(self.verify_panel, 1)
        layout.addWidget(folder_label)
        layout.addLayout(folder_row)
        layout.addWidget(self.open_status)
        layout.addWidget(command_label)
        layout.addWidget(self.command)
        layout.addWidget(self.copy_command_button, 0, Qt.AlignmentFlag.AlignLeft)
        add_demo_banner(outer, state.is_demo)

        self.copy_folder_button.clicked.connect(self._on_copy_folder_button_clicked)
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.copy_command_button.clicked.connect(self._on_copy_command_button_clicked)
        self.verify_panel.busy_changed.connect(self._on_verify_panel_busy_changed)
        self.verify_panel.checked.connect(self._on_verify_panel_checked)
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("Finished"))
        self.results.setAccessibleName(self.tr("Results per component"))
        self.results.setHeaderLabels([self.tr("Component"), self.tr("Result"), self.tr("Details")])
        self.folder_label.setText(self.tr("Give training this folder:"))
        self.folder.setAccessibleName(self.tr("Training argument for the image folder"))
        self.copy_folder_button.setText(self.tr("Cop&y"))
        self.copy_folder_button.setAccessibleName(self.tr("Copy the training argument"))
        self.open_button.setText(self.tr("O&pen folder"))
        self.open_button.setAccessibleName(self.tr("Open the data root in the file manager"))
        self.open_status.setAccessibleName(self.tr("Open folder result"))
        self.command_label.setText(self.tr("To resume or repeat this run on a server without a screen:"))
        self.command.setAccessibleName(self.tr("Equivalent command line"))
        self.copy_command_button.setText(self.tr("&Copy command"))
        self.copy_command_button.setAccessibleName(self.tr("Copy the command line"))
        if self._shown:
            self._show_results()
            self._show_headline(None if self.verify_panel.busy else self.verify_panel.last_report)

    def isComplete(self) -> bool:
        return not self.verify_panel.busy  # Finish waits for a check or repair to end

    def initializePage(self) -> None:
        self._shown = True
        self._show_results()
        root, state = self._state.root, self._state
        self.folder.setText(training_argument(root) if root else "")
        presets = {p.id: p.components for p in state.catalog.presets}
        self.command.setPlainText(cli_command(root, state.selection, state.settings, demo=state.is_demo,
                                              default_endpoint=state.catalog.hub_endpoint,
                                              presets=presets) if root else "")
        self.verify_panel.start_check()
        self._show_headline(None)  # (after the check started: it says the check is running)

    def _show_results(self) -> None:
        """One row per selected component: its result and, for a problem, what to do."""
        state = self._state
        board = state.board
        self.results.clear()
        any_details = False
        for cid in state.selection:
            job = board.jobs.get(cid)
            title = catalog_text(state.catalog.component(cid), "title")
            details = ""
            if job is None or job.stage in (Stage.CANCELLED, Stage.QUEUED) or not job.finished:
                result = self.tr("Not finished (resumes next time)")
            elif job.stage == Stage.DONE:
                result = self.tr("Already in place") if job.skipped else self.tr("Done")
            elif job.stage == Stage.WAITING:
                result = self.tr("Waiting")
            else:
                result = self.tr("Failed")
            if job is not None and job.problem is not None and job.stage in (Stage.FAILED, Stage.WAITING):
                details = problem_paragraph(job.problem)
            item = QTreeWidgetItem([title, result, details.replace("\n", " ")])
            item.setToolTip(2, details)
            if details:
                item.setForeground(1, QBrush(QColor("#b71c1c")))
            self.results.addTopLevelItem(item)
            any_details = any_details or bool(details)
        self.results.setColumnHidden(2, not any_details)  # no empty Details column
        header = self.results.header()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents if any_details
                                    else QHeaderView.ResizeMode.Stretch)
        fit_rows(self.results, RESULT_ROWS)
        QTimer.singleShot(0, self, self._refit)  # again once the rows are laid out: their real height
        self._all_done = all(cid in board.jobs and board.jobs[cid].stage == Stage.DONE
                             for cid in state.selection)

    @Slot()
    def _refit(self) -> None:
        fit_rows(self.results, RESULT_ROWS)
        self.verify_panel.view.refit()

    def _show_headline(self, report: VerifyReport | None) -> None:
        """The page's subtitle: what the run achieved, never contradicting the check below."""
        if not self._all_done:
            text = self.tr("Some parts are not finished yet; run again (here or with the command below) to "
                           "complete them.")
        elif report is None and self.verify_panel.busy:
            text = self.tr("Every part ran to the end. Checking the images against the annotations…")
        elif report is None:  # the check failed or was stopped: it says why below
            text = self.tr("Every part ran to the end. The check of the images against the annotations "
                           "did not finish (see below); Check again runs it.")
        elif report.ok:
            text = self.tr("Everything is in place.")
        elif not self._selected_incomplete(report):
            text = self.tr("Everything you selected is in place. The annotations also reference images of "
                           "parts you did not select (see below).")
        else:
            text = self.tr("Every part ran to the end, but the check below finds images missing or "
                           "unreadable. Repair fetches them again.")
        self.setSubTitle(text)

    def _selected_incomplete(self, report: VerifyReport) -> bool:
        """Whether images are missing or unreadable in the folders this run's parts fill."""
        if report.totals.invalid:
            return True
        mine = selected_folders(self._state)
        return any(folder.key in mine and (folder.missing or folder.unreadable)
                   for result in report.results for folder in result.folders)

    @Slot(object)
    def _on_verify_panel_checked(self, report: VerifyReport) -> None:
        self._show_headline(report)

    @Slot(bool)
    def _on_verify_panel_busy_changed(self, busy: bool) -> None:
        if not busy and self.verify_panel.last_report is None:  # no "Checking…" after it ended
            self._show_headline(None)
        self.completeChanged.emit()

    @Slot()
    def _on_copy_folder_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.folder.text())

    @Slot()
    def _on_copy_command_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.command.toPlainText())

    @Slot()
    def _on_open_button_clicked(self) -> None:
        root = self._state.root
        if root is None:
            return
        if QDesktopServices.openUrl(QUrl.fromLocalFile(str(root))):
            set_status(self.open_status, "")
        else:  # no file manager (a server, a minimal desktop): say so and give the path to copy
            set_status(self.open_status, self.tr("No file manager could be opened here. The folder is: "
                                                 "{path}").format(path=root), "warning")
