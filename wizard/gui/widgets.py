"""Small widgets and helpers the pages share: a path field with Browse, status labels, the demo banner."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QDir, QEvent, QSize, Signal, Slot
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QTreeWidget,
    QVBoxLayout,
    QWidget,
)

# Colours of status labels; each text also starts with a symbol so colour is never the only cue.
_STYLES = {
    "ok": ("✔", "color: #1b5e20;"),
    "info": ("", ""),
    "warning": ("⚠", "color: #8a5300;"),
    "error": ("✖", "color: #b71c1c; font-weight: bold;"),
}


class Retranslating:
    """Mixin for widgets whose texts come from ``retranslate()``: it runs again whenever the
    application's language changes (a translator installed or removed sends LanguageChange)."""

    def retranslate(self) -> None:
        raise NotImplementedError

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)  # type: ignore[misc]


def set_status(label: QLabel, text: str, kind: str = "info") -> None:
    """Show ``text`` in ``label`` styled as ok / info / warning / error (empty text hides it)."""
    symbol, style = _STYLES[kind]
    label.setText(f"{symbol} {text}" if symbol and text else text)
    label.setStyleSheet(style)
    label.setProperty("statusKind", kind)
    label.setVisible(bool(text))


def status_label(accessible_name: str) -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setAccessibleName(accessible_name)
    label.setVisible(False)
    return label


class PathField(QWidget):
    """A line edit for a path plus a Browse button (a folder or a file chooser)."""

    path_changed = Signal(str)

    def __init__(self, *, directory: bool, caption: str, accessible_name: str, file_filter: str = "",
                 browse_text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._directory = directory
        self.edit = QLineEdit()
        self.edit.setClearButtonEnabled(True)
        self.button = QPushButton()
        self.set_texts(caption=caption, accessible_name=accessible_name, file_filter=file_filter,
                       browse_text=browse_text)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.button)
        self.setFocusProxy(self.edit)
        self.edit.textChanged.connect(self._on_edit_text_changed)
        self.button.clicked.connect(self._on_button_clicked)

    def set_texts(self, *, caption: str, accessible_name: str, file_filter: str = "",
                  browse_text: str = "") -> None:
        """(Re)set the translated texts; the owner calls this again when the language changes."""
        self._caption = caption
        self._filter = file_filter
        self.edit.setAccessibleName(accessible_name)
        # Two fields on one page need different mnemonics: ``browse_text`` overrides "B&rowse…".
        self.button.setText(browse_text or self.tr("B&rowse…"))
        self.button.setAccessibleName(self.tr("Browse: {what}").format(what=accessible_name))

    def text(self) -> str:
        return self.edit.text().strip()

    def set_text(self, text: str) -> None:
        self.edit.setText(text)

    @Slot(str)
    def _on_edit_text_changed(self, text: str) -> None:
        self.path_changed.emit(text.strip())

    @Slot()
    def _on_button_clicked(self) -> None:
        start = self.text() or QDir.homePath()
        if self._directory:
            chosen = QFileDialog.getExistingDirectory(self, self._caption, start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, self._caption, start, self._filter)
        if chosen:
            self.edit.setText(QDir.toNativeSeparators(chosen))


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when it is too narrow, instead of wrapping or clipping.

    The full text stays the accessible text and the tooltip; the size hint does not depend on
    the text, so a grid column holding it keeps its width when the text changes.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(False)
        self.setToolTip(text)

    def setText(self, text: str) -> None:
        if text != self.text():
            super().setText(text)
            self.setToolTip(text)
            self.update()

    def minimumSizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        return QSize(metrics.horizontalAdvance("…") * 3, metrics.height())

    def sizeHint(self) -> QSize:
        return self.minimumSizeHint()

    def elided(self) -> str:
        """The text as painted at the current width."""
        from PySide6.QtCore import Qt  # not at import: the welcome page needs no Qt namespace (start-up)

        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width())

    def paintEvent(self, event: QPaintEvent) -> None:
        from PySide6.QtCore import Qt

        painter = QPainter(self)
        painter.drawText(self.contentsRect(), int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), self.elided())
        painter.end()


def fit_rows(tree: QTreeWidget, max_rows: int) -> None:
    """Make ``tree`` exactly as tall as its visible rows (at most ``max_rows``; then it scrolls)."""
    rows = 0
    first = item = tree.topLevelItem(0)
    while item is not None:
        rows += 1
        item = tree.itemBelow(item)
    shown = tree.visualItemRect(first).height() if first is not None else 0  # exact once laid out
    row_height = shown or max(tree.sizeHintForRow(0), tree.fontMetrics().height())
    header = 0 if tree.isHeaderHidden() else tree.header().sizeHint().height()
    scroll_bar = tree.horizontalScrollBar().sizeHint().height()
    height = header + row_height * max(1, min(rows, max_rows)) + 2 * tree.frameWidth() + scroll_bar
    tree.setFixedHeight(height)


class RoomTree(QTreeWidget):
    """A tree that prefers its minimum height and stretches into the room a page has left: its
    default preferred height would make a :func:`scrolled_layout` page scroll on screens where
    the page fits (the scroll area sizes its content by preferred heights)."""

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self.minimumHeight())


class RoomScrollArea(QScrollArea):
    """The same for a scroll area inside a :func:`scrolled_layout` page (the job table's)."""

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self.minimumHeight())


def set_min_rows(tree: QTreeWidget, rows: int) -> None:
    """Never let ``tree`` shrink below its header and ``rows`` rows (it scrolls beyond them)."""
    row_height = max(tree.sizeHintForRow(0), tree.fontMetrics().height())
    header = 0 if tree.isHeaderHidden() else tree.header().sizeHint().height()
    scroll_bar = tree.horizontalScrollBar().sizeHint().height()
    tree.setMinimumHeight(header + row_height * rows + 2 * tree.frameWidth() + scroll_bar)


def scrolled_layout(page: QWidget) -> tuple[QVBoxLayout, QVBoxLayout]:
    """Give ``page`` a frameless scroll area: returns (the page's layout, the scrolled content's layout).

    A page whose content is taller than a small screen then scrolls instead of pushing the
    wizard's buttons off the screen.
    """
    content = QWidget()
    inner = QVBoxLayout(content)
    inner.setContentsMargins(0, 0, 0, 0)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(content)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    # No Tab stop of its own (a nameless one for screen readers): Tab goes to the controls in
    # it, and a scroll area scrolls to the one that gets the focus.
    from PySide6.QtCore import Qt  # not at import: the welcome page needs no Qt namespace (start-up)

    scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    outer = QVBoxLayout(page)
    outer.addWidget(scroll)
    return outer, inner


class DemoBanner(Retranslating, QLabel):
    """The "offline demo" notice at the top of a page (in the current language, also after a
    switch on the options page)."""

    def __init__(self) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setObjectName("demoBanner")
        self.setStyleSheet("QLabel#demoBanner { background: #fff4cc; color: #5c4400; "
                           "border: 1px solid #e0c060; border-radius: 4px; padding: 4px 8px; }")
        self.retranslate()

    def retranslate(self) -> None:
        self.setText(QCoreApplication.translate(
            "DemoBanner", "Offline demo: a miniature copy of the data served from this computer "
            "(127.0.0.1). Nothing is downloaded from the internet."))
        self.setAccessibleName(QCoreApplication.translate("DemoBanner", "Demo mode notice"))


def add_demo_banner(layout: QVBoxLayout, demo: bool) -> None:
    """Put the "offline demo" banner at the top of a page's layout when the demo runs."""
    if demo:
        layout.insertWidget(0, DemoBanner())
