"""The About dialog: reachable from the wizard, names the LGPL and where Qt's source is, ships the texts."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, QTranslator
from PySide6.QtWidgets import QLabel, QWizard
from pytestqt.qtbot import QtBot

from wizard import __version__
from wizard.gui.about import PYSIDE_SOURCE_URL, QT_SOURCE_URL, AboutDialog
from wizard.gui.app import build_state, build_wizard
from wizard.gui.i18n import translations_dir


def test_about_opens_from_the_wizard_and_names_the_lgpl(qtbot: QtBot, tmp_path: Path) -> None:
    wizard = build_wizard(build_state(prefs_path=tmp_path / "prefs.json"))
    qtbot.addWidget(wizard)
    wizard.show()
    button = wizard.button(QWizard.WizardButton.HelpButton)
    assert button.isVisible() and button.text() == "Ab&out"
    assert button.accessibleName() == "About this application"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dialog = wizard.about_dialog
    assert isinstance(dialog, AboutDialog)
    qtbot.waitExposed(dialog)
    assert dialog.isVisible() and dialog.windowTitle() == "About ShareGPT4V data setup"

    components = dialog.components_view.toPlainText()
    assert "LGPL-3.0" in components and "PySide6" in components
    assert QT_SOURCE_URL in components and PYSIDE_SOURCE_URL in components
    assert "Apache License 2.0" in dialog.about_view.toPlainText()
    # Data terms come from the catalog's usage strings.
    usage = next(c.usage for c in wizard.state.catalog.components if c.usage)
    assert usage in dialog.data_view.toPlainText()

    titles = [dialog.license_choice.itemText(i) for i in range(dialog.license_choice.count())]
    lgpl = next(i for i, t in enumerate(titles) if "LGPL" in t)
    dialog.license_choice.setCurrentIndex(lgpl)
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in dialog.license_text.toPlainText()
    dialog.license_choice.setCurrentIndex(0)
    assert "Apache License" in dialog.license_text.toPlainText()

    for widget in (dialog.tabs, dialog.components_view, dialog.data_view, dialog.license_choice,
                   dialog.license_text, dialog.about_qt_button):
        assert widget.accessibleName(), widget
    dialog.close()


def test_about_shows_the_version(qtbot: QtBot) -> None:
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    labels = " ".join(label.text() for label in dialog.findChildren(QLabel))
    assert f"Version {__version__}" in labels


def test_about_strings_are_translated(qtbot: QtBot) -> None:
    translator = QTranslator()
    assert translator.load("sharegpt4v_setup_zh_CN", str(translations_dir()))
    app = QCoreApplication.instance()
    assert app is not None
    app.installTranslator(translator)
    try:
        dialog = AboutDialog()
        qtbot.addWidget(dialog)
        assert dialog.windowTitle() == "关于 ShareGPT4V 数据准备"
        assert dialog.tabs.tabText(3) == "许可证全文(&T)"
        assert "LGPL-3.0" in dialog.components_view.toPlainText()
    finally:
        app.removeTranslator(translator)
