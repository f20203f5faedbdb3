"""Loading the translations: the app's own ``.qm`` plus Qt's for the standard buttons.

Simplified Chinese is used when the language setting says so, or when it says "system" and
the system locale is Simplified Chinese. Changing the setting on the options page switches the
open wizard at once (:func:`switch_language`; every window gets a LanguageChange event and
retranslates itself). Texts from the catalog (titles, usage terms, source labels) are
translated by the catalog itself (``title_zh_CN`` keys), read through :func:`catalog_text`.

After changing user-visible strings, refresh the catalog and compile it::

    pyside6-lupdate $(find wizard/gui -name '*.py') -no-obsolete \
        -ts resources/translations/sharegpt4v_setup_zh_CN.ts
    # translate the new entries (Qt Linguist or an editor), then
    pyside6-lrelease resources/translations/sharegpt4v_setup_zh_CN.ts

Both tools ship with PySide6-Essentials (in the venv's bin/); a test checks that the shipped
``.qm`` is exactly what lrelease makes of the ``.ts`` and that nothing is left unfinished.
Strings must be literal ``self.tr("…")`` or ``QCoreApplication.translate("Context", "…")``
calls: lupdate does not see through aliases.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator
from PySide6.QtGui import QFontDatabase

from ..paths import resources_dir

if TYPE_CHECKING:
    from ..engine.catalog import Catalog, Component, Preset, Source

CATALOG_NAME = "sharegpt4v_setup"
# Languages with a shipped translation (English is the source language).
TRANSLATED = ("zh_CN",)
#: Languages whose script the usual Latin fonts lack: the writing system Qt needs, the package.
_SCRIPTS = {"zh_CN": (QFontDatabase.WritingSystem.SimplifiedChinese, "fonts-noto-cjk")}

_state: dict[str, object] = {"language": "en", "translators": []}


def current_language() -> str:
    """The language the translators installed by this module speak ("en" when none)."""
    return str(_state["language"])


def catalog_text(item: Component | Preset | Source, key: str) -> str:
    """A catalog text ("title", "usage", "label") in the current language."""
    from ..engine.catalog import localized  # not imported for the first window

    return localized(item, key, current_language())


def font_notice(package: str | None) -> str:
    """The notice about a missing font, in English: the missing font could not show anything else."""
    if package is None:
        return ""
    return (f"This language needs a font this system does not have, so its text shows as boxes. Install "
            f"one and restart the wizard, e.g. on Debian/Ubuntu: sudo apt install {package}")


def usage_groups(catalog: Catalog) -> dict[str, list[str]]:
    """Each distinct usage notice with the titles it applies to, in the current language."""
    groups: dict[str, tuple[str, list[str]]] = {}  # English usage -> (shown usage, titles)
    for component in catalog.components:
        if component.usage:
            entry = groups.setdefault(component.usage, (catalog_text(component, "usage"), []))
            entry[1].append(catalog_text(component, "title"))
    return dict(groups.values())


def missing_font(language: str, families: list[str] | None = None) -> str | None:
    """The Debian package to install when no font on this system can show ``language``."""
    script = _SCRIPTS.get(language)
    if script is None:
        return None
    writing_system, package = script
    available = QFontDatabase.families(writing_system) if families is None else families
    return None if available else package


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
    _state["language"] = language
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
    if translators:
        _state["language"] = "en"


def switch_language(app: QCoreApplication, language: str) -> None:
    """Speak ``language`` from now on: the open windows retranslate on the LanguageChange event."""
    old = _state["translators"]
    assert isinstance(old, list)
    remove_translators(app, old)
    _state["language"] = "en"
    _state["translators"] = install_translators(app, language)
