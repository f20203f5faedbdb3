"""The Chinese UI: catalog texts and engine problems translated, a missing font said once, and
switching the language retranslates the open wizard."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QWizard
from pytestqt.qtbot import QtBot

from wizard.engine.catalog import load_catalog, localized, parse_catalog
from wizard.engine.errors import Code, Problem, SetupError
from wizard.gui import i18n
from wizard.gui.app import build_state, build_wizard
from wizard.gui.i18n import install_translators, missing_font, remove_translators, switch_language
from wizard.gui.pages.components import COL_NAME
from wizard.gui.problems import problem_paragraph


def app() -> QApplication:
    instance = QApplication.instance()
    assert isinstance(instance, QApplication)
    return instance


def test_catalog_texts_are_translated_and_checked() -> None:
    catalog = load_catalog()
    coco = catalog.component("coco-train2017")
    assert localized(coco, "title", "zh_CN") == "COCO train2017 图像"
    assert localized(coco, "title", "en") == coco.title == "COCO train2017"
    assert "使用条款" in localized(coco, "usage", "zh_CN")
    assert "官方" in localized(coco.sources[0], "label", "zh_CN")
    assert all(localized(c, "title", "zh_CN") != c.title for c in catalog.components)
    assert all(localized(p, "title", "zh_CN") != p.title for p in catalog.presets)
    data = {"schema": 1, "component": [{"id": "x", "target": "x", "title_zh_CN": "标题",
                                        "source": [{"kind": "http", "url": "https://h/x.zip"}]}]}
    with pytest.raises(SetupError) as err:
        parse_catalog(data)
    assert err.value.problem.code == Code.CATALOG_INVALID and "title_zh_CN" in err.value.problem.message


def test_engine_problems_are_shown_in_chinese(qtbot: QtBot) -> None:
    problem = Problem(Code.DRIVE_QUOTA, "Google Drive quota exceeded for wikiart.zip",
                      "retry after 24 h or enable the Hub mirror", parked=True)
    assert problem_paragraph(problem) == ("Google Drive quota exceeded for wikiart.zip\n"
                                          "What to do: retry after 24 h or enable the Hub mirror")
    translators = install_translators(app(), "zh_CN")
    try:
        text = problem_paragraph(problem)
    finally:
        remove_translators(app(), translators)
    assert text.startswith("Google Drive 上此文件的下载配额已用完。（Google Drive quota exceeded for wikiart.zip）")
    assert "处理方法：请在约 24 小时后重试" in text


def test_missing_cjk_font_is_named_once_with_its_package(qtbot: QtBot, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert missing_font("zh_CN", families=[]) == "fonts-noto-cjk"
    assert missing_font("zh_CN", families=["Noto Sans CJK SC"]) is None
    assert missing_font("en", families=[]) is None
    monkeypatch.setattr(i18n.QFontDatabase, "families", staticmethod(lambda *args: []))
    translators = install_translators(app(), "zh_CN")
    try:
        wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"))
        qtbot.addWidget(wizard)
        wizard.show()
        QApplication.processEvents()
        notes = [w.text() for w in wizard.findChildren(type(wizard.welcome_page.font_note))
                 if "fonts-noto-cjk" in w.text() and w.isVisibleTo(wizard)]
    finally:
        remove_translators(app(), translators)
    assert len(notes) == 1 and "sudo apt install fonts-noto-cjk" in notes[0]


def test_switching_the_language_retranslates_the_open_wizard(qtbot: QtBot, tmp_path: Path) -> None:
    wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"))
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.welcome_page.accept_box.setChecked(True)
    wizard.next()
    wizard.root_page.path.set_text(str(tmp_path / "root"))
    wizard.next()
    wizard.components_page.choose_preset("sft")
    wizard.next()
    options = wizard.options_page
    coco = wizard.components_page._items["coco-train2017"]
    assert coco.text(COL_NAME) == "COCO train2017"
    try:
        options.language.setCurrentIndex(2)  # 简体中文: LanguageChange events are posted, then delivered
        qtbot.waitUntil(lambda: wizard.welcome_page.title() == "设置 ShareGPT4V 训练数据")
        assert options.title() != "Sources and options"
        assert coco.text(COL_NAME) == "COCO train2017 图像"
        assert "上一步" in wizard.button(QWizard.WizardButton.BackButton).text()
        assert wizard.buttonText(QWizard.WizardButton.CancelButton) == "退出(&Q)"
        assert "简体中文" not in options.language.itemText(0)
        assert i18n.current_language() == "zh_CN"
    finally:
        options.language.setCurrentIndex(1)  # English
    qtbot.waitUntil(lambda: wizard.welcome_page.title() == "Set up the ShareGPT4V training data")
    assert coco.text(COL_NAME) == "COCO train2017"
    assert wizard.button(QWizard.WizardButton.BackButton).text() == "< &Back"
    assert i18n.current_language() == "en"
    switch_language(app(), "en")


def test_shipped_qm_is_compiled_from_the_complete_ts(tmp_path: Path) -> None:
    import subprocess
    import sys

    from wizard.gui.i18n import translations_dir

    ts = translations_dir() / "sharegpt4v_setup_zh_CN.ts"
    assert 'type="unfinished"' not in ts.read_text(encoding="utf-8")
    lrelease = Path(sys.executable).parent / "pyside6-lrelease"  # ships with PySide6-Essentials
    out = tmp_path / "fresh.qm"
    subprocess.run([str(lrelease), str(ts), "-qm", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == (translations_dir() / "sharegpt4v_setup_zh_CN.qm").read_bytes()


def test_switching_the_language_retranslates_the_demo_banner(qtbot: QtBot, tmp_path: Path) -> None:
    """Every page of the demo shows the "offline demo" notice; after a switch to Chinese on the
    options page it stayed in English while the rest of the page changed."""
    from PySide6.QtWidgets import QLabel

    from wizard.demo.session import DemoSession

    session = DemoSession(world_dir=tmp_path / "world")
    session.start()
    try:
        wizard = build_wizard(build_state(session=session, prefs_path=tmp_path / "prefs.json"))
        qtbot.addWidget(wizard)
        banners = [label for label in wizard.findChildren(QLabel) if label.objectName() == "demoBanner"]
        assert len(banners) >= 6 and all(b.text().startswith("Offline demo") for b in banners)
        try:
            switch_language(app(), "zh_CN")
            qtbot.waitUntil(lambda: wizard.welcome_page.title() == "设置 ShareGPT4V 训练数据")
            assert all(b.text().startswith("离线演示") for b in banners), [b.text()[:20] for b in banners]
        finally:
            switch_language(app(), "en")
        qtbot.waitUntil(lambda: all(b.text().startswith("Offline demo") for b in banners))
    finally:
        session.stop()


def test_switching_the_language_retranslates_the_check_results(qtbot: QtBot, tmp_path: Path) -> None:
    """The finish page's table of the check (its column headers) followed no language switch."""
    wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"))
    qtbot.addWidget(wizard)
    view = wizard.finish_page.verify_panel.view
    assert view.tree.headerItem().text(1) == "Referenced"
    try:
        switch_language(app(), "zh_CN")
        qtbot.waitUntil(lambda: wizard.welcome_page.title() == "设置 ShareGPT4V 训练数据")
        assert view.tree.headerItem().text(1) == "引用"
        assert view.unrecoverable.headerItem().text(0) != "Image"
    finally:
        switch_language(app(), "en")
    qtbot.waitUntil(lambda: view.tree.headerItem().text(1) == "Referenced")


def test_switching_the_language_retranslates_the_about_dialog(qtbot: QtBot, tmp_path: Path) -> None:
    """The About dialog is made once; opened before a switch, it came back in the old language."""
    wizard = build_wizard(build_state(catalog=load_catalog(), prefs_path=tmp_path / "prefs.json"))
    qtbot.addWidget(wizard)
    wizard.show_about()
    assert wizard.about_dialog is not None
    english = wizard.about_dialog.windowTitle()
    try:
        switch_language(app(), "zh_CN")
        qtbot.waitUntil(lambda: wizard.welcome_page.title() == "设置 ShareGPT4V 训练数据")
        wizard.show_about()
        assert wizard.about_dialog is not None and wizard.about_dialog.isVisible()
        assert wizard.about_dialog.windowTitle() != english
    finally:
        switch_language(app(), "en")
    qtbot.waitUntil(lambda: wizard.welcome_page.title() == "Set up the ShareGPT4V training data")
    assert wizard.about_dialog is not None and wizard.about_dialog.windowTitle() == english
    wizard.about_dialog.close()
