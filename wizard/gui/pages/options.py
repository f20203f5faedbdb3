"""Page 4: sources and options — only those that apply to the selection are shown."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from PySide6.QtCore import QCoreApplication, QDateTime, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWizardPage,
)

from ...engine.catalog import Component
from ...engine.context import hub_endpoint
from ...engine.errors import SetupError
from ...engine.settings import MAX_JOBS
from ...engine.sources import SourceKind
from ..i18n import font_notice, missing_font, resolve_language, switch_language
from ..localcopies import LocalCopies
from ..prefs import LANGUAGES
from ..state import WizardState, source_kinds
from ..widgets import PathField, Retranslating, add_demo_banner, scrolled_layout, set_status, status_label

HF_MIRROR = "https://hf-mirror.com"
ENDPOINT_DEFAULT, ENDPOINT_MIRROR, ENDPOINT_CUSTOM = range(3)


def _links_names(components: list[Component]) -> list[str]:
    """The file names the selection needs rows for in the links file."""
    for kind, src in source_kinds(components):
        if kind.needs_links_file:
            return kind.item_names(src)
    return []


class OptionsPage(Retranslating, QWizardPage):
    """Builds the run's :class:`Settings` from the choices that matter for the selection."""

    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self._state = state
        self._sam_ok = False
        self._entered = False  # initializePage ran: the links file check is shown
        self._demo_url = state.demo.base_url if state.demo is not None else None

        # SA-1B links file
        self.sam_box = QGroupBox()
        self.sam_help = QLabel()
        self.sam_help.setWordWrap(True)
        self.sam_path = PathField(directory=False, caption="", accessible_name="")
        self.sam_status = status_label("")
        sam_layout = QVBoxLayout(self.sam_box)
        sam_layout.addWidget(self.sam_help)
        sam_layout.addWidget(self.sam_path)
        sam_layout.addWidget(self.sam_status)

        # Hugging Face Hub
        self.hub_box = QGroupBox()
        self.endpoint = QComboBox()
        self.endpoint.addItems(["", "", ""])  # ENDPOINT_DEFAULT, ENDPOINT_MIRROR, ENDPOINT_CUSTOM
        self.custom_endpoint = QLineEdit()
        self.custom_endpoint.setPlaceholderText("https://")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self._hub_form = QFormLayout(self.hub_box)
        self.endpoint_label, self.custom_label, self.token_label = QLabel(), QLabel(), QLabel()
        for label, field in ((self.endpoint_label, self.endpoint), (self.custom_label, self.custom_endpoint),
                             (self.token_label, self.token)):
            label.setBuddy(field)
            self._hub_form.addRow(label, field)

        # General
        self.general = general = QGroupBox()
        self.mirrors = QCheckBox()
        self.keep = QCheckBox()
        self.full = QCheckBox()
        self.concurrency = QSpinBox()
        self.concurrency.setRange(1, MAX_JOBS)
        self.concurrency.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.concurrency_label = QLabel()
        self.concurrency_label.setBuddy(self.concurrency)
        general_form = QFormLayout(general)
        general_form.addRow(self.mirrors)
        general_form.addRow(self.keep)
        general_form.addRow(self.full)
        general_form.addRow(self.concurrency_label, self.concurrency)
        self.cookies = PathField(directory=False, caption="", accessible_name="")
        self.cookies_label = QLabel()
        self.cookies_label.setBuddy(self.cookies.edit)
        general_form.addRow(self.cookies_label, self.cookies)

        self.local = LocalCopies()

        # Language: switches the open wizard at once
        self.language_box = language_box = QGroupBox()
        self.language = QComboBox()
        self.language.addItems(["", "English", "简体中文"])
        self.language_label = QLabel()
        self.language_label.setBuddy(self.language)
        self.language_note = status_label("")
        language_form = QFormLayout(language_box)
        language_form.addRow(self.language_label, self.language)
        language_form.addRow(self.language_note)

        layout, content_layout = scrolled_layout(self)
        for widget in (self.sam_box, self.hub_box, general, self.local, language_box):
            content_layout.addWidget(widget)
        content_layout.addStretch(1)
        add_demo_banner(layout, state.is_demo)
        self.retranslate()

        self._load_prefs()
        self.sam_path.path_changed.connect(self._on_sam_path_path_changed)
        self.endpoint.currentIndexChanged.connect(self._on_endpoint_current_index_changed)
        self.custom_endpoint.textChanged.connect(self._on_custom_endpoint_text_changed)
        self.language.currentIndexChanged.connect(self._on_language_current_index_changed)

    def _load_prefs(self) -> None:
        prefs, settings = self._state.prefs, self._state.settings
        self.mirrors.setChecked(settings.allow_mirrors)
        self.keep.setChecked(settings.keep_archives)
        self.full.setChecked(settings.full_archives)
        self.concurrency.setValue(settings.concurrency)
        self.language.setCurrentIndex(LANGUAGES.index(prefs.language))
        if self._state.demo is not None:
            while self.endpoint.count() > 1:
                self.endpoint.removeItem(self.endpoint.count() - 1)
            self.endpoint.setItemText(ENDPOINT_DEFAULT, self.tr("Offline demo mirror ({url})").format(
                url=self._demo_url))
            self.endpoint.setEnabled(False)
        elif settings.hf_endpoint:
            if settings.hf_endpoint.rstrip("/") == HF_MIRROR:
                self.endpoint.setCurrentIndex(ENDPOINT_MIRROR)
            else:
                self.endpoint.setCurrentIndex(ENDPOINT_CUSTOM)
                self.custom_endpoint.setText(settings.hf_endpoint)
        self._hub_form.setRowVisible(self.custom_endpoint, self.endpoint.currentIndex() == ENDPOINT_CUSTOM)
        if settings.sam_links is not None:
            self.sam_path.set_text(str(settings.sam_links))
        elif prefs.sam_links:
            self.sam_path.set_text(prefs.sam_links)

    def retranslate(self) -> None:
        self.setTitle(self.tr("Sources and options"))
        self.setSubTitle(self.tr("Only the options that matter for your selection are shown."))
        self.sam_box.setTitle(self.tr("SA-1B links file (for the SAM tars)"))
        self.sam_help.setText(self.tr("Accept the SA-1B license on Meta's download page, save the links "
                                      "file it offers (file_name, cdn_link) and choose it here. The links "
                                      "expire after a few days."))
        self.sam_path.set_texts(caption=self.tr("Choose the SA-1B links file"),
                                accessible_name=self.tr("SA-1B links file"),
                                file_filter=self.tr("Links files (*.txt *.tsv);;All files (*)"))
        self.sam_status.setAccessibleName(self.tr("Links file check"))
        self.hub_box.setTitle(self.tr("Hugging Face Hub"))
        self.endpoint.setAccessibleName(self.tr("Hub endpoint"))
        if self._demo_url is not None:
            self.endpoint.setItemText(ENDPOINT_DEFAULT, self.tr("Offline demo mirror ({url})").format(
                url=self._demo_url))
        else:
            self.endpoint.setItemText(ENDPOINT_DEFAULT, self._default_endpoint_text())
            self.endpoint.setItemText(ENDPOINT_MIRROR, self.tr("hf-mirror.com (mirror for mainland China)"))
            self.endpoint.setItemText(ENDPOINT_CUSTOM, self.tr("Custom URL"))
        self.custom_endpoint.setAccessibleName(self.tr("Custom Hub endpoint URL"))
        self.token.setPlaceholderText(self.tr("optional; only for gated or private files"))
        self.token.setAccessibleName(self.tr("Hugging Face token"))
        self.endpoint_label.setText(self.tr("Hub &endpoint:"))
        self.custom_label.setText(self.tr("C&ustom URL:"))
        self.token_label.setText(self.tr("&Token:"))
        self.general.setTitle(self.tr("Downloads"))
        self.mirrors.setText(self.tr("Allow community &mirrors as a fallback (third-party re-hosts, "
                                     "checked against size and checksum)"))
        self.mirrors.setAccessibleName(self.tr("Allow community mirrors"))
        self.keep.setText(self.tr("&Keep the archives after extraction (needs more space)"))
        self.keep.setAccessibleName(self.tr("Keep archives"))
        self.full.setText(self.tr("Extract &whole archives, not only the images the selected captions use"))
        self.full.setAccessibleName(self.tr("Extract whole archives"))
        self.full.setToolTip(self.tr("By default only the images that the selected annotation JSONs "
                                     "reference are extracted, which saves a lot of space."))
        self.concurrency.setAccessibleName(self.tr("Jobs at once"))
        self.concurrency_label.setText(self.tr("&Jobs at once:"))
        # The page has three file fields: this one's button needs its own mnemonic.
        self.cookies.set_texts(caption=self.tr("Choose a cookies.txt file"),
                               accessible_name=self.tr("Google Drive cookies file"),
                               file_filter=self.tr("Cookies files (*.txt);;All files (*)"),
                               browse_text=self.tr("Choose &file…"))
        self.cookies.setToolTip(self.tr("Optional: cookies.txt exported from a browser signed in to Google. "
                                        "It may get past Drive's 'too many users' quota; a copy is used."))
        self.cookies_label.setText(self.tr("Drive &cookies:"))
        self.language_box.setTitle(self.tr("Language"))
        self.language.setAccessibleName(self.tr("Language of the wizard"))
        self.language.setItemText(0, self.tr("System"))
        self.language_label.setText(self.tr("&Language:"))
        self.language_note.setAccessibleName(self.tr("Language note"))
        if self._entered and self.sam_box.isVisibleTo(self):
            self._check_sam(self.sam_path.text())

    # -- QWizardPage -------------------------------------------------------------------------
    def initializePage(self) -> None:
        self._entered = True
        comps = self._state.components()
        kinds = [kind for kind, _src in source_kinds(comps)]
        self.sam_box.setVisible(any(k.needs_links_file for k in kinds))
        self.hub_box.setVisible(any(k.uses_hub for k in kinds))
        self.mirrors.setVisible(any(s.community for c in comps for s in c.sources))
        self.keep.setVisible(any(c.archive != "none" for c in comps))
        self.full.setVisible(any(c.group == "annotations" for c in comps)
                             and any(c.group != "annotations" and c.archive != "none" for c in comps))
        self.local.set_components(comps)
        self._check_sam(self.sam_path.text())

    def isComplete(self) -> bool:
        if self.sam_box.isVisibleTo(self) and not self._sam_ok:
            return False
        return not (self.endpoint.currentIndex() == ENDPOINT_CUSTOM and self.endpoint.isEnabled()
                    and not self._custom_endpoint_ok())

    def validatePage(self) -> bool:
        state, base = self._state, self._state.base_settings
        sam = Path(self.sam_path.text()) if self.sam_box.isVisibleTo(self) and self._sam_ok else None
        state.settings = replace(
            base,
            hf_endpoint=self.endpoint_url() or base.hf_endpoint,
            hf_token=self.token.text().strip() or base.hf_token,
            allow_mirrors=self.mirrors.isChecked(),
            keep_archives=self.keep.isChecked(),
            full_archives=self.full.isChecked(),
            concurrency=self.concurrency.value(),
            sam_links=sam or base.sam_links,
            drive_cookies=Path(self.cookies.text()) if self.cookies.text().strip() else base.drive_cookies,
            local=self.local.entries(),
            force=state.settings.force,
        )
        prefs = state.prefs
        prefs.allow_mirrors, prefs.keep_archives = self.mirrors.isChecked(), self.keep.isChecked()
        prefs.full_archives = self.full.isChecked()
        prefs.concurrency = self.concurrency.value()
        if not state.is_demo:
            prefs.hub_endpoint = self.endpoint_url() or ""
            if sam is not None:
                prefs.sam_links = str(sam)
        state.save_prefs()
        return True

    # -- helpers -----------------------------------------------------------------------------
    def _default_endpoint_text(self) -> str:
        """The first endpoint choice: HF_ENDPOINT's host when that is set, else the catalog's."""
        catalog = self._state.catalog.hub_endpoint
        used = hub_endpoint(replace(self._state.settings, hf_endpoint=None), catalog)
        host = urlsplit(used).netloc
        if used != catalog.rstrip("/"):
            return self.tr("From HF_ENDPOINT ({host})").format(host=host)
        return self.tr("Default ({host})").format(host=host)

    def endpoint_url(self) -> str | None:
        if not self.endpoint.isEnabled():
            return None
        index = self.endpoint.currentIndex()
        if index == ENDPOINT_MIRROR:
            return HF_MIRROR
        if index == ENDPOINT_CUSTOM and self._custom_endpoint_ok():
            return self.custom_endpoint.text().strip().rstrip("/")
        return None

    def _custom_endpoint_ok(self) -> bool:
        parts = urlsplit(self.custom_endpoint.text().strip())
        return parts.scheme in ("http", "https") and bool(parts.netloc)

    def _check_sam(self, text: str) -> None:
        self._sam_ok = False
        if not text:
            set_status(self.sam_status, self.tr("Choose the links file to continue, or go back and "
                                                "leave out the SAM tars."), "warning")
        else:
            kind = self._links_kind()
            if kind is None:  # no source of this catalog takes a links file: the box is hidden
                self.completeChanged.emit()
                return
            try:
                check = kind.read_links_file(Path(text), _links_names(self._state.components()) or None)
            except SetupError as exc:  # LinksFileError: names the line (0: the file as a whole)
                line = int(getattr(exc, "line", 0))
                why = str(getattr(exc, "reason", exc.problem.message))
                reason = self.tr("Line {line}: {reason}").format(line=line, reason=why) if line else why
                set_status(self.sam_status, self.tr("This file cannot be used. {reason}").format(
                    reason=reason), "error")
            else:
                names = _links_names(self._state.components())
                self._show_links(check.names, check.earliest_expiry(names or None), check.missing(names))
        self.completeChanged.emit()

    def _links_kind(self) -> SourceKind | None:
        """The kind that takes a links file (SA-1B), asked of the catalog's sources."""
        found = [k for k, _src in source_kinds(list(self._state.catalog.components)) if k.needs_links_file]
        return found[0] if found else None

    def _show_links(self, names: tuple[str, ...], expiry: datetime | None, missing: list[str]) -> None:
        if expiry is None:
            when = self.tr("no expiry found in the links")
        else:
            shown = QDateTime.fromSecsSinceEpoch(int(expiry.timestamp())).toString("yyyy-MM-dd HH:mm")
            if expiry <= datetime.now(UTC):
                set_status(self.sam_status, self.tr("These links expired on {date}. Get a fresh links "
                                                    "file from Meta's SA-1B page.").format(date=shown),
                           "error")
                return
            days = (expiry - datetime.now(UTC)).days
            when = self.tr("the earliest link expires on {date} ({days} days left)").format(
                date=shown, days=days)
        self._sam_ok = True
        text = self.tr("{n} links; {when}.").format(n=len(names), when=when)
        if missing:
            text += " " + self.tr("Missing from the file: {names} ({k} of {total}); those tars will "
                                  "fail.").format(names=", ".join(missing[:3]) + ("…" if len(missing) > 3
                                                                                 else ""),
                                                  k=len(missing), total=len(missing) + len(names))
        set_status(self.sam_status, text, "warning" if missing else "ok")

    @Slot(str)
    def _on_sam_path_path_changed(self, text: str) -> None:
        self._check_sam(text)

    @Slot(int)
    def _on_endpoint_current_index_changed(self, index: int) -> None:
        self._hub_form.setRowVisible(self.custom_endpoint, index == ENDPOINT_CUSTOM)
        self.completeChanged.emit()

    @Slot(str)
    def _on_custom_endpoint_text_changed(self, text: str) -> None:
        self.completeChanged.emit()

    @Slot(int)
    def _on_language_current_index_changed(self, index: int) -> None:
        self._state.prefs.language = LANGUAGES[index]
        self._state.save_prefs()
        language = resolve_language(LANGUAGES[index])
        app = QCoreApplication.instance()
        if app is not None:
            switch_language(app, language)  # every open window retranslates itself
        package = missing_font(language)
        set_status(self.language_note, font_notice(package), "warning")
