"""Page 1: what the wizard does, the usage terms of the data (from the catalog), and the acknowledgement."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QLabel, QTextBrowser, QVBoxLayout, QWizardPage

from ..i18n import current_language, font_notice, missing_font, usage_groups
from ..pageids import PageId
from ..state import WizardState
from ..widgets import Retranslating, add_demo_banner, set_status, status_label


def _escape(text: str) -> str:
    """Text for an HTML body (``html.escape`` without its module's import at start-up)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

class WelcomePage(Retranslating, QWizardPage):
    """Explains the job and shows every usage term; going on requires ticking the acknowledgement.

    Next also waits for the wizard's other pages (:meth:`set_ready`): the window opens with this
    page alone and builds the rest right after its first frame.
    """

    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self._state = state
        self._ready = False
        self.font_note = status_label("Missing font")
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.terms_title = QLabel()
        self.terms_title.setWordWrap(True)
        self.terms = QTextBrowser()
        self.terms.setOpenExternalLinks(True)
        self.accept_box = QCheckBox()
        self.registerField("termsAccepted*", self.accept_box)

        layout = QVBoxLayout(self)
        layout.addWidget(self.font_note)
        layout.addWidget(self.intro)
        layout.addWidget(self.terms_title)
        layout.addWidget(self.terms, 1)
        layout.addWidget(self.accept_box)
        add_demo_banner(layout, state.is_demo)
        self.retranslate()

    def set_ready(self) -> None:
        """The pages after this one exist: Next may work (once the terms are accepted). The
        per-source terms come from the catalog, which is read now, not for the first frame."""
        self._ready = True
        self.terms.setHtml(self._terms_html())
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self._ready and super().isComplete()

    def nextId(self) -> int:
        """Always the root page, also before it is built: the button row shows Next, not Finish."""
        return int(PageId.ROOT)

    def retranslate(self) -> None:
        self.setTitle(self.tr("Set up the ShareGPT4V training data"))
        self.setSubTitle(self.tr("This wizard downloads, checks, extracts and lays out the images and "
                                 "captions that ShareGPT4V training reads."))
        self.intro.setText(self.tr(
            "You choose a data root and what to prepare; the wizard fetches each part from its "
            "official source, verifies it, extracts it into the folder layout training expects and "
            "removes the archives. Everything is resumable: you can pause, quit or lose the network "
            "and continue later from where it stopped."))
        self.terms_title.setText(self.tr("<b>Usage terms.</b> The data comes from several sources, each "
                                         "with its own terms:"))
        self.terms.setAccessibleName(self.tr("Usage terms of the data"))
        self.terms.setHtml(self._terms_html())
        self.accept_box.setText(self.tr(
            "I h&ave read these terms and will use the data accordingly (research, non-commercial)."))
        self.accept_box.setAccessibleName(self.tr("Accept the usage terms"))
        self.show_font_note(missing_font(current_language()))

    def show_font_note(self, package: str | None) -> None:
        """Say, in English (the missing font cannot show anything else), which package to install."""
        set_status(self.font_note, font_notice(package), "warning")

    def _terms_html(self) -> str:
        """One entry per distinct usage text, with the components it applies to (once ready)."""
        items = []
        for usage, titles in (usage_groups(self._state.catalog) if self._ready else {}).items():
            applies = self.tr("Applies to: {names}").format(names=", ".join(titles))
            items.append(f"<li><b>{_escape(usage)}</b><br><small>{_escape(applies)}</small></li>")
        note = _escape(self.tr("The ShareGPT4V captions are released under CC BY-NC 4.0; the web "
                                   "images are only for academic usage; SA-1B needs Meta's license."))
        return f"<p>{note}</p><ul>{''.join(items)}</ul>"
