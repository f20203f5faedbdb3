"""The About dialog: version, the app's license, the bundled components' licenses, the data terms.

Qt and PySide6 are used under the LGPL-3.0: the dialog names it, shows its text (shipped in
``resources/licenses/``) and says where their source is. The data licenses are the catalog's
``usage`` strings, grouped as on the welcome page. A frozen build also ships a generated
``licenses/third-party/THIRD-PARTY-NOTICES.txt`` (see ``packaging/third_party.py``), listed here
when present.
"""

from __future__ import annotations

import html
import importlib.metadata
import platform
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, Slot, qVersion
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..engine.catalog import Catalog
from ..paths import resources_dir
from .i18n import usage_groups

QT_SOURCE_URL = "https://download.qt.io/official_releases/"
PYSIDE_SOURCE_URL = "https://code.qt.io/pyside/pyside-setup.git"
PROJECT_URL = "https://github.com/InternLM/InternLM-XComposer/tree/main/projects/ShareGPT4V"
# Python packages the app uses directly, shown with their declared license.
DIRECT_DEPENDENCIES = ("requests", "huggingface_hub", "gdown", "platformdirs", "ijson")


def licenses_dir() -> Path:
    return resources_dir() / "licenses"


def distribution_info(name: str) -> tuple[str, str]:
    """(version, license) of an installed distribution, from its metadata; "?" when unknown."""
    try:
        meta = importlib.metadata.metadata(name)
    except importlib.metadata.PackageNotFoundError:
        return "?", "?"
    def field(key: str) -> str:
        return next(iter(meta.get_all(key) or []), "") or ""

    license_text = field("License-Expression") or field("License")
    if not license_text or "\n" in license_text or len(license_text) > 60:
        classifiers = [c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or []
                       if c.startswith("License ::")]
        license_text = ", ".join(classifiers) or "?"
    return field("Version") or "?", license_text


class AboutDialog(QDialog):
    """Version and licenses, in four tabs; "About Qt" opens Qt's own dialog."""

    def __init__(self, catalog: Catalog | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._catalog = catalog
        self.setWindowTitle(self.tr("About ShareGPT4V data setup"))
        self.setAccessibleName(self.tr("About ShareGPT4V data setup"))

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName(self.tr("About sections"))
        self.about_view = self._browser(self._about_html(), self.tr("About this application"))
        self.components_view = self._browser(self._components_html(), self.tr("Bundled components and their licenses"))
        self.data_view = self._browser(self._data_html(), self.tr("Licenses of the data"))
        self.tabs.addTab(self.about_view, self.tr("&About"))
        self.tabs.addTab(self.components_view, self.tr("&Components"))
        self.tabs.addTab(self.data_view, self.tr("&Data"))
        self.tabs.addTab(self._license_texts_tab(), self.tr("License &texts"))

        icon = QLabel()
        pixmap = QPixmap(str(resources_dir() / "icons" / "sharegpt4v-setup.png"))
        if not pixmap.isNull():
            icon.setPixmap(pixmap.scaled(64, 64, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation))
        icon.setAccessibleName(self.tr("Application icon"))
        heading = QLabel(self.tr("<b>ShareGPT4V data setup</b><br>Version {version}").format(
            version=html.escape(__version__)))
        heading.setAccessibleName(self.tr("Application name and version"))
        top = QHBoxLayout()
        top.addWidget(icon)
        top.addWidget(heading, 1)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.about_qt_button = QPushButton(self.tr("About &Qt"))
        self.about_qt_button.setAccessibleName(self.tr("About Qt"))
        buttons.addButton(self.about_qt_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.about_qt_button.clicked.connect(self._on_about_qt_button_clicked)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
        em = self.fontMetrics().averageCharWidth()
        self.resize(em * 90, self.fontMetrics().lineSpacing() * 32)

    # -- tabs --------------------------------------------------------------------------------
    def _browser(self, text: str, accessible_name: str) -> QTextBrowser:
        browser = QTextBrowser()
        browser.setOpenExternalLinks(True)
        browser.setAccessibleName(accessible_name)
        browser.setHtml(text)
        return browser

    def _about_html(self) -> str:
        parts = [
            self.tr("Downloads, checks, extracts and lays out the ShareGPT4V training data, resumably."),
            self.tr("This application is free software under the Apache License 2.0 (see License texts)."),
            self.tr("Running on Python {python}, Qt {qt} and PySide6 {pyside}.").format(
                python=platform.python_version(), qt=qVersion(), pyside=pyside_version),
        ]
        link = f'<a href="{PROJECT_URL}">ShareGPT4V</a>'
        about_data = self.tr("About the data: {link}").format(link=link)
        return "".join(f"<p>{html.escape(p)}</p>" for p in parts) + f"<p>{about_data}</p>"

    def _components_html(self) -> str:
        rows = [("Qt", qVersion(), "LGPL-3.0-only"),
                ("PySide6 / Shiboken6 (Qt for Python)", pyside_version, "LGPL-3.0-only"),
                ("Python", platform.python_version(), "PSF-2.0")]
        rows += [(name, *distribution_info(name)) for name in DIRECT_DEPENDENCIES]
        table = "".join(f"<tr><td>{html.escape(n)}</td><td>{html.escape(v)}</td><td>{html.escape(lic)}</td></tr>"
                        for n, v, lic in rows)
        header = "".join(f"<th align='left'>{html.escape(h)}</th>"
                         for h in (self.tr("Component"), self.tr("Version"), self.tr("License")))
        qt_note = self.tr(
            "Qt and PySide6 are used under the GNU Lesser General Public License version 3 (LGPL-3.0), "
            "unmodified and dynamically linked: you may replace them with your own build. The license "
            "text is under License texts. Their source code is available at:")
        links = "".join(f'<li><a href="{url}">{url}</a></li>' for url in (QT_SOURCE_URL, PYSIDE_SOURCE_URL))
        html_text = (f"<table cellspacing='6'><tr>{header}</tr>{table}</table>"
                     f"<p>{html.escape(qt_note)}</p><ul>{links}</ul>")
        if (licenses_dir() / "third-party" / "THIRD-PARTY-NOTICES.txt").is_file():
            html_text += "<p>{}</p>".format(html.escape(self.tr(
                "Every library bundled with this build and its license: see Third-party notices under License texts.")))
        return html_text

    def _data_html(self) -> str:
        intro = self.tr("The data is not part of this application: each source has its own terms, which "
                        "apply to what you download with it.")
        catalog = self._catalog
        if catalog is None:
            try:
                from ..engine.catalog import load_catalog

                catalog = load_catalog()
            except Exception:  # the dialog still shows the rest
                catalog = None
        groups = usage_groups(catalog) if catalog is not None else {}
        items = []
        for usage, titles in groups.items():
            applies = self.tr("Applies to: {names}").format(names=", ".join(titles))
            items.append(f"<li><b>{html.escape(usage)}</b><br><small>{html.escape(applies)}</small></li>")
        return f"<p>{html.escape(intro)}</p><ul>{''.join(items)}</ul>"

    def _license_texts(self) -> list[tuple[str, Path]]:
        folder = licenses_dir()
        entries = [
            (self.tr("Apache License 2.0 (this application)"), folder / "Apache-2.0.txt"),
            (self.tr("GNU LGPL 3.0 (Qt, PySide6)"), folder / "LGPL-3.0.txt"),
            (self.tr("GNU GPL 3.0 (referenced by the LGPL 3.0)"), folder / "GPL-3.0.txt"),
            (self.tr("Qt and PySide6: source code"), folder / "Qt-PySide6-SOURCE.txt"),
            (self.tr("Third-party notices"), folder / "third-party" / "THIRD-PARTY-NOTICES.txt"),
        ]
        return [(title, path) for title, path in entries if path.is_file()]

    def _license_texts_tab(self) -> QWidget:
        page = QWidget()
        self.license_choice = QComboBox()
        self.license_choice.setAccessibleName(self.tr("License to show"))
        for title, path in self._license_texts():
            self.license_choice.addItem(title, str(path))
        self.license_text = QPlainTextEdit()
        self.license_text.setReadOnly(True)
        self.license_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.license_text.setAccessibleName(self.tr("License text"))
        label = QLabel(self.tr("&Show:"))
        label.setBuddy(self.license_choice)
        row = QHBoxLayout()
        row.addWidget(label)
        row.addWidget(self.license_choice, 1)
        layout = QVBoxLayout(page)
        layout.addLayout(row)
        layout.addWidget(self.license_text, 1)
        self.license_choice.currentIndexChanged.connect(self._on_license_choice_current_index_changed)
        self._on_license_choice_current_index_changed(self.license_choice.currentIndex())
        return page

    # -- slots -------------------------------------------------------------------------------
    @Slot(int)
    def _on_license_choice_current_index_changed(self, index: int) -> None:
        path = self.license_choice.itemData(index)
        try:
            text = Path(path).read_text(encoding="utf-8") if path else ""
        except OSError as exc:
            text = str(exc)
        self.license_text.setPlainText(text)

    @Slot()
    def _on_about_qt_button_clicked(self) -> None:
        QMessageBox.aboutQt(self, self.tr("About Qt"))
