"""Keyboard access: no two controls on a page share a mnemonic (Alt+letter), in either language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QAbstractButton, QApplication, QGroupBox, QLabel, QWidget, QWizard
from pytestqt.qtbot import QtBot

from wizard.engine.catalog import load_catalog
from wizard.gui.app import build_state, build_wizard
from wizard.gui.i18n import install_translators, remove_translators
from wizard.gui.wizard import SetupWizard

_MNEMONIC = re.compile(r"&([^&\s])")


@pytest.fixture(params=["en", "zh_CN"])
def language(request: pytest.FixtureRequest) -> Iterator[str]:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    translators = install_translators(app, request.param)
    yield request.param
    remove_translators(app, translators)


def mnemonic(text: str) -> str | None:
    found = _MNEMONIC.search(text.replace("&&", ""))
    return found.group(1).lower() if found else None


def _text(widget: QWidget) -> str:
    if isinstance(widget, QAbstractButton):
        return widget.text()
    if isinstance(widget, QLabel) and widget.buddy() is not None:
        return widget.text()
    if isinstance(widget, QGroupBox) and widget.isCheckable():
        return widget.title()
    return ""


def clashes(wizard: SetupWizard) -> dict[str, list[str]]:
    """Per page: the mnemonics used more than once, with the texts that use them."""
    found: dict[str, list[str]] = {}
    for page_id in wizard.pageIds():
        page = wizard.page(page_id)
        texts = [wizard.buttonText(which) for which in (
            QWizard.WizardButton.BackButton, QWizard.WizardButton.NextButton,
            QWizard.WizardButton.CancelButton, QWizard.WizardButton.HelpButton)]
        if page.isCommitPage():
            texts.append(page.buttonText(QWizard.WizardButton.CommitButton))
        if page.isFinalPage() or not wizard.page(page_id + 1):
            texts.append(wizard.buttonText(QWizard.WizardButton.FinishButton))
        texts += [t for t in (_text(w) for w in page.findChildren(QWidget)) if t]
        used: dict[str, list[str]] = {}
        for text in texts:
            key = mnemonic(text)
            if key is not None:
                used.setdefault(key, []).append(text)
        for key, users in used.items():
            if len(users) > 1:
                found[f"{type(page).__name__} {key}"] = users
    return found


def test_no_duplicate_mnemonic_on_any_page(qtbot: QtBot, language: str, tmp_path: Path) -> None:
    wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"))
    qtbot.addWidget(wizard)
    assert clashes(wizard) == {}


def test_mnemonic_finder() -> None:
    assert mnemonic("A&bout") == "b" and mnemonic("< &Back") == "b"
    assert mnemonic("关于(&B)") == "b" and mnemonic("Fish && chips") is None
