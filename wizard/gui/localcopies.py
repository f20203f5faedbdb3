"""The "I already have this component at …" editor of the options page (fills Settings.local)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QDir, Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from ..engine.catalog import Component
from .i18n import catalog_text
from .widgets import PathField, Retranslating

ID_ROLE = Qt.ItemDataRole.UserRole
PATH_ROLE = Qt.ItemDataRole.UserRole + 1


class LocalCopies(Retranslating, QGroupBox):
    """Pairs of component → archive or folder the user already has; the engine uses them instead."""

    def __init__(self) -> None:
        super().__init__()
        self.help_label = help_label = QLabel()
        help_label.setWordWrap(True)
        self.component = QComboBox()
        self.path = PathField(directory=False, caption="", accessible_name="")
        self.folder_button = QPushButton()
        self.add_button = QPushButton()
        self.list = QListWidget()
        self.remove_button = QPushButton()
        row = QHBoxLayout()
        row.addWidget(self.component)
        row.addWidget(self.path, 1)
        row.addWidget(self.folder_button)
        row.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.addWidget(help_label)
        layout.addLayout(row)
        layout.addWidget(self.list)
        layout.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.folder_button.clicked.connect(self._on_folder_button_clicked)
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self._titles: dict[str, str] = {}
        self._components: list[Component] = []
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("Copies you already have (optional)"))
        self.help_label.setText(self.tr("If you already downloaded an archive (or extracted folder) of a "
                                        "part, point to it and it is used instead of downloading."))
        self.component.setAccessibleName(self.tr("Component you have a copy of"))
        self.path.set_texts(caption=self.tr("Choose the archive you have"),
                            accessible_name=self.tr("Path of your copy"), browse_text=self.tr("Brow&se…"))
        self.folder_button.setText(self.tr("Fol&der…"))
        self.folder_button.setAccessibleName(self.tr("Choose an extracted folder instead"))
        self.add_button.setText(self.tr("&Add"))
        self.add_button.setAccessibleName(self.tr("Add this local copy"))
        self.list.setAccessibleName(self.tr("Local copies"))
        self.remove_button.setText(self.tr("Remo&ve"))
        self.remove_button.setAccessibleName(self.tr("Remove the selected local copy"))
        if self._components:
            entries = [(self.list.item(r).data(ID_ROLE), self.list.item(r).data(PATH_ROLE))
                       for r in range(self.list.count())]
            self.set_components(self._components)
            for cid, path in entries:
                self.add(cid, path)

    def set_components(self, components: list[Component]) -> None:
        """Offer the selected components; drop entries for components no longer selected."""
        self._components = list(components)
        self._titles = {c.id: catalog_text(c, "title") for c in components}
        self.component.clear()
        for comp in components:
            self.component.addItem(self._titles[comp.id], comp.id)
        for row in reversed(range(self.list.count())):
            if self.list.item(row).data(ID_ROLE) not in self._titles:
                self.list.takeItem(row)
        self.list.setVisible(self.list.count() > 0)
        self.remove_button.setVisible(self.list.count() > 0)

    def add(self, cid: str, path: str) -> None:
        for row in reversed(range(self.list.count())):
            if self.list.item(row).data(ID_ROLE) == cid:
                self.list.takeItem(row)
        item = QListWidgetItem(self.tr("{title} → {path}").format(title=self._titles.get(cid, cid),
                                                                   path=path))
        item.setData(ID_ROLE, cid)
        item.setData(PATH_ROLE, path)
        self.list.addItem(item)
        self.list.setVisible(True)
        self.remove_button.setVisible(True)

    def entries(self) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for row in range(self.list.count()):
            item = self.list.item(row)
            out[str(item.data(ID_ROLE))] = Path(str(item.data(PATH_ROLE))).expanduser()
        return out

    @Slot()
    def _on_folder_button_clicked(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, self.tr("Choose the folder you have"),
                                                  self.path.text() or QDir.homePath())
        if chosen:
            self.path.set_text(QDir.toNativeSeparators(chosen))

    @Slot()
    def _on_add_button_clicked(self) -> None:
        cid, path = self.component.currentData(), self.path.text()
        if cid and path:
            self.add(str(cid), path)
            self.path.set_text("")

    @Slot()
    def _on_remove_button_clicked(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self.list.setVisible(self.list.count() > 0)
        self.remove_button.setVisible(self.list.count() > 0)
