"""Loading the translations: the app's own ``.qm`` plus Qt's for the standard buttons.

Simplified Chinese is used when the language setting says so, or when it says "system" and
the system locale is Simplified Chinese. Changing the setting applies at the next start.

After changing user-visible strings, refresh the catalog and compile it::

    pyside6-lupdate $(find wizard/gui -name '*.py') -no-obsolete \
        -ts resources/translations/sharegpt4v_setup_zh_CN.ts
    # translate the new entries (Qt Linguist or an editor), then
    pyside6-lrelease resources/translations/sharegpt4v_setup_zh_CN.ts
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from ..paths import resources_dir

CATALOG_NAME = "sharegpt4v_setup"
# Languages with a shipped translation (English is the source language).
TRANSLATED = ("zh_CN",)


def translations_dir() -> Path:
    return resources_dir() / "translations"


def resolve_language(setting: str, system: QLocale | None = None) -> str:
    """The language to show: "en" or one of :data:`TRANSLATED`."""
    if setting in TRANSLATED or setting == "en":
        return setting
    locale = system or QLocale.system()
    if locale.language() == QLocale.Language.Chinese and \
            locale.script() != QLocale.Script.TraditionalHanScript and \
            locale.territory() not in (QLocale.Country.Taiwan, QLocale.Country.HongKong,
                                       QLocale.Country.Macao):
        return "zh_CN"
    return "en"


def install_translators(app: QCoreApplication, language: str) -> list[QTranslator]:
    """Install the translators for ``language`` ("en" installs none); keep the returned list alive."""
    if language not in TRANSLATED:
        return []
    installed: list[QTranslator] = []
    candidates = [
        (f"{CATALOG_NAME}_{language}", translations_dir()),
        (f"qtbase_{language}", Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath))),
    ]
    for name, folder in candidates:
        translator = QTranslator(app)
        if translator.load(name, str(folder)):
            app.installTranslator(translator)
            installed.append(translator)
    return installed


def remove_translators(app: QCoreApplication, translators: list[QTranslator]) -> None:
    for translator in translators:
        app.removeTranslator(translator)
