"""Shows a :class:`~wizard.engine.verify.VerifyReport`: a verdict, per JSON and image folder the
referenced / present / missing / unreadable counts, where the full missing lists are, and the
images a repair could not bring back with the reason for each."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from .widgets import fit_rows, set_status, status_label

if TYPE_CHECKING:
    from ..engine.verify import FolderCounts, Totals, VerifyReport

# Count columns after the name column, in order.
COUNTS = ("referenced", "present", "missing", "unreadable")
MISSING_COLUMN = 1 + COUNTS.index("missing")
_ALERT = QColor("#b71c1c")
#: Rows of the counts tree shown before it scrolls (the finish page itself scrolls).
TREE_ROWS = 16


class VerifyView(QWidget):
    """Verdict, counts tree, missing-list paths and (after a repair) the unrecoverable images."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.verdict = status_label("")
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2 + len(COUNTS))
        self.tree.setUniformRowHeights(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # long JSON names elide
        self.lists = QLabel()
        self.lists.setWordWrap(True)
        self.lists.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.lists.setVisible(False)
        self.unrecoverable_label = QLabel()
        self.unrecoverable_label.setWordWrap(True)
        self.unrecoverable_label.setVisible(False)
        self.unrecoverable = QTreeWidget()
        self.unrecoverable.setColumnCount(2)
        self.unrecoverable.setRootIsDecorated(False)
        self.unrecoverable.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.unrecoverable.setVisible(False)
        self.unrecoverable_label.setBuddy(self.unrecoverable)

        self.retranslate()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.verdict)
        layout.addWidget(self.tree)
        layout.addWidget(self.lists)
        layout.addWidget(self.unrecoverable_label)
        layout.addWidget(self.unrecoverable, 1)

    def retranslate(self) -> None:
        """Static texts; the panel shows its last report again after a language change."""
        self.verdict.setAccessibleName(self.tr("Verification verdict"))
        self.tree.setAccessibleName(self.tr("Referenced images per annotation file and image folder"))
        self.tree.setHeaderLabels([self.tr("Annotation file / image folder"), self.tr("Referenced"),
                                   self.tr("Present"), self.tr("Missing"), self.tr("Unreadable"),
                                   self.tr("Note")])
        for column in range(1, 1 + len(COUNTS)):
            self.tree.headerItem().setTextAlignment(column, Qt.AlignmentFlag.AlignRight)
        self.lists.setAccessibleName(self.tr("Files listing every missing image"))
        self.unrecoverable.setAccessibleName(self.tr("Images no source can provide"))
        self.unrecoverable.setHeaderLabels([self.tr("Image"), self.tr("Why it cannot be restored")])

    def clear(self) -> None:
        self.tree.clear()
        set_status(self.verdict, "")
        self.lists.setVisible(False)
        self.show_unrecoverable({})

    def show_problem(self, text: str) -> None:
        self.clear()
        set_status(self.verdict, text, "error")

    def show_report(self, report: VerifyReport, selected: set[str] | None = None) -> None:
        """Fill the tree; folders whose key is not in ``selected`` get a "not selected" note."""
        self.tree.clear()
        lists: list[str] = []
        for result in report.results:
            path = result.json_path
            name = str(path.relative_to(report.root)) if path.is_relative_to(report.root) else str(path)
            top = self._row(name, result.totals, "; ".join(result.notes))
            top.setToolTip(0, str(path))
            for folder in result.folders:
                note = "" if selected is None or folder.key in selected or not folder.missing else \
                    self.tr("not selected in this run")
                top.addChild(self._row(folder.key, folder, note))
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
            top.setToolTip(len(COUNTS) + 1, top.text(len(COUNTS) + 1))
            if result.missing_report is not None and (result.totals.missing or result.totals.unreadable):
                lists.append(self.tr("{json}: {list}").format(json=name, list=str(result.missing_report)))
        self.lists.setText("\n".join([self.tr("Full lists of the missing images:"), *lists]) if lists else "")
        self.lists.setVisible(bool(lists))
        self.refit()
        QTimer.singleShot(0, self, self.refit)  # again once the rows are laid out: their real height
        self.show_verdict(report)

    @Slot()
    def refit(self) -> None:
        """Size the counts tree to its rows (again once they are laid out)."""
        fit_rows(self.tree, TREE_ROWS)

    def show_verdict(self, report: VerifyReport) -> None:
        totals = report.totals
        if report.ok:
            set_status(self.verdict, self.tr("Every image the annotations reference is in place "
                                             "(%n image(s)).", "", totals.referenced), "ok")
            return
        parts = []
        if totals.missing:
            parts.append(self.tr("%n image(s) missing", "", totals.missing))
        if totals.unreadable:
            parts.append(self.tr("%n image(s) unreadable", "", totals.unreadable))
        if totals.invalid:
            parts.append(self.tr("%n invalid image path(s)", "", totals.invalid))
        set_status(self.verdict, ", ".join(parts), "error")

    def show_unrecoverable(self, reasons: dict[str, str]) -> None:
        """List the images no source can provide, with why (empty: hide the list)."""
        self.unrecoverable.clear()
        for path, why in sorted(reasons.items()):
            item = QTreeWidgetItem([path, why])
            item.setToolTip(1, why)
            self.unrecoverable.addTopLevelItem(item)
        self.unrecoverable_label.setText(self.tr("%n image(s) no source can provide:", "", len(reasons)))
        self.unrecoverable_label.setVisible(bool(reasons))
        self.unrecoverable.setVisible(bool(reasons))

    # -- reading back (tests, accessibility tools) -----------------------------------------------
    def counts(self, json_name: str, folder: str | None = None) -> dict[str, int]:
        """The counts shown for ``json_name`` (the file name) and ``folder`` (None: its total)."""
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            if top is None or Path(top.text(0)).name != json_name:
                continue
            rows = [top] if folder is None else [top.child(j) for j in range(top.childCount())]
            for item in rows:
                if item is not None and (folder is None or item.text(0) == folder):
                    return {c: int(item.data(1 + k, Qt.ItemDataRole.UserRole)) for k, c in enumerate(COUNTS)}
        raise KeyError((json_name, folder))

    def _row(self, name: str, counts: FolderCounts | Totals, note: str) -> QTreeWidgetItem:
        values = [getattr(counts, c) for c in COUNTS]
        item = QTreeWidgetItem([name, *(f"{v:,}" for v in values), note])
        for k, value in enumerate(values):
            item.setData(1 + k, Qt.ItemDataRole.UserRole, value)
            item.setTextAlignment(1 + k, Qt.AlignmentFlag.AlignRight)
        if counts.missing or counts.unreadable:
            item.setForeground(MISSING_COLUMN, QBrush(_ALERT))
            item.setForeground(MISSING_COLUMN + 1, QBrush(_ALERT))
        return item
