"""The wizard under hostile input and small screens: what the user types, what the screen allows."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from wizard.engine.catalog import load_catalog
from wizard.gui.app import build_state, build_wizard


def test_root_page_names_a_too_long_folder_name(qtbot: QtBot, tmp_path: Path) -> None:
    """A name longer than the filesystem allows (a paste gone wrong) is a message under the field,
    on every keystroke and on Next, not an exception escaping the page."""
    wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"))
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.welcome_page.accept_box.setChecked(True)
    wizard.next()
    page = wizard.root_page
    for text in (str(tmp_path / ("a" * 300)), str(tmp_path / ("a" * 300) / "data")):
        page.path.set_text(text)
        assert not page.isComplete()
        assert page.status.property("statusKind") == "error" and "too long" in page.status.text()
    assert not page.validatePage()
    assert "too long" in page.status.text()
