"""The wizard window: seven pages over one shared state, and a clean shutdown while work runs.

The window can open with only its welcome page (``complete=False``): :meth:`SetupWizard.finish_build`
adds the other six pages, and the application calls it right after the first frame is painted
(the welcome page keeps Next disabled until then), so the first window does not wait for six
pages, their modules and the engine code behind them. Tests and scripts get the complete wizard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEvent, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence, QPaintEvent, QShortcut
from PySide6.QtWidgets import QWidget, QWizard

from .geometry import fit_to
from .pageids import PageId
from .pages.welcome import WelcomePage
from .state import WizardState

if TYPE_CHECKING:
    from ..engine.runner import RunResult
    from .about import AboutDialog
    from .bridge import EngineBridge
    from .pages.components import ComponentsPage
    from .pages.finish import FinishPage
    from .pages.options import OptionsPage
    from .pages.progress import ProgressPage
    from .pages.root import RootPage
    from .pages.summary import SummaryPage


class SetupWizard(QWizard):
    """The ShareGPT4V setup wizard. Closing it while a run works asks, cancels and waits cleanly.

    ``complete=False`` builds only the window and the welcome page; :meth:`finish_build` adds
    the rest (by itself after the first paint, or when called).
    """

    built = Signal()  # finish_build() has added the other pages

    # Built by finish_build(); the welcome page is there from the start.
    root_page: RootPage
    components_page: ComponentsPage
    options_page: OptionsPage
    summary_page: SummaryPage
    progress_page: ProgressPage
    finish_page: FinishPage

    def __init__(self, state: WizardState, bridge: EngineBridge | None = None,
                 parent: QWidget | None = None, *, complete: bool = True) -> None:
        super().__init__(parent)
        self.state = state
        #: Made on first use (the bridge module brings the engine's event types: not needed for
        #: the first frame); given by tests that swap its executor.
        self._bridge: EngineBridge | None = None
        if bridge is not None:
            self._adopt(bridge)
        self._close_when_idle = False
        #: Not 0 when the wizard could not start (the catalog cannot be read): the exit code.
        self.exit_code = 0
        self._shut_down = False  # shutdown() cancelled the work: closing no longer asks
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        # The Help button slot (left of the row on every page) opens the About dialog.
        self.setOption(QWizard.WizardOption.HaveHelpButton, True)
        self.retranslate()
        self.helpRequested.connect(self.show_about)
        self.currentIdChanged.connect(self._on_current_id_changed)
        # Ctrl+Q, the desktop's Quit key, does what Quit does (asks while work runs).
        self.quit_shortcut = QShortcut(QKeySequence("Ctrl+Q"), self)
        self.quit_shortcut.activated.connect(self.reject)
        self.about_dialog: AboutDialog | None = None
        self._built = False  # finish_build() ran
        self._build_scheduled = False
        self.welcome_page = WelcomePage(state)
        self.setPage(int(PageId.WELCOME), self.welcome_page)
        self.setStartId(int(PageId.WELCOME))
        screen = self.screen()
        if screen is not None:
            fit_to(self, screen.availableGeometry())
        if complete:
            self.finish_build()

    @property
    def bridge(self) -> EngineBridge:
        """The one bridge to the engine (made when first asked for)."""
        if self._bridge is None:
            from .bridge import EngineBridge

            self._adopt(EngineBridge())
        assert self._bridge is not None
        return self._bridge

    def _adopt(self, bridge: EngineBridge) -> None:
        self._bridge = bridge
        if bridge.parent() is None:
            bridge.setParent(self)
        bridge.finished.connect(self._on_bridge_finished)
        bridge.crashed.connect(self._on_bridge_crashed)
        bridge.call_ended.connect(self._on_bridge_call_ended)

    @property
    def _busy(self) -> bool:
        """A run or a call is in progress (never makes the bridge to find out)."""
        return self._bridge is not None and self._bridge.busy

    @property
    def is_built(self) -> bool:
        """All seven pages are there (:meth:`finish_build` ran)."""
        return self._built

    @Slot()
    def finish_build(self) -> None:
        """Add the pages after the welcome page and let its Next button work; runs once.

        The page modules are imported here, not with this module: the first window needs none
        of them (nor the engine code they bring).
        """
        if self._built:
            return
        from ..engine.errors import SetupError

        try:
            self.state.catalog  # noqa: B018 - read now: every later page shows it
        except SetupError as exc:  # a damaged installation: say so and close, never a traceback
            self._cannot_start(exc)
            return
        from .pages.components import ComponentsPage
        from .pages.finish import FinishPage
        from .pages.options import OptionsPage
        from .pages.progress import ProgressPage
        from .pages.root import RootPage
        from .pages.summary import SummaryPage

        state = self.state
        self.root_page = RootPage(state)
        self.components_page = ComponentsPage(state, self.bridge)
        self.options_page = OptionsPage(state)
        self.summary_page = SummaryPage(state)
        self.progress_page = ProgressPage(state, self.bridge)
        self.finish_page = FinishPage(state, self.bridge)
        for page_id, page in (
            (PageId.ROOT, self.root_page), (PageId.COMPONENTS, self.components_page),
            (PageId.OPTIONS, self.options_page), (PageId.SUMMARY, self.summary_page),
            (PageId.PROGRESS, self.progress_page), (PageId.FINISH, self.finish_page),
        ):
            self.setPage(int(page_id), page)
        self._built = True
        self.welcome_page.set_ready()
        self.built.emit()

    def _cannot_start(self, exc: Exception) -> None:
        from PySide6.QtWidgets import QMessageBox

        from ..failures import problem_for

        self._built = True  # nothing more to build: the window closes
        problem, self.exit_code = problem_for(exc, None, "the wizard")
        QMessageBox.critical(self, self.tr("Cannot start"), problem.render())
        self.close()

    def paintEvent(self, event: QPaintEvent) -> None:
        """After the first frame: build the rest of the wizard (once the frame is on screen)."""
        super().paintEvent(event)
        if not self._built and not self._build_scheduled:
            self._build_scheduled = True
            QTimer.singleShot(0, self, self.finish_build)

    def retranslate(self) -> None:
        """The window's own texts (the pages retranslate themselves on the same event)."""
        title = self.tr("ShareGPT4V data setup")
        if self.state.is_demo:
            title = self.tr("{title} — offline demo").format(title=title)
        if self._close_when_idle:
            title = self.tr("Stopping… (the work so far is kept)")
        self.setWindowTitle(title)
        self.setButtonText(QWizard.WizardButton.CancelButton, self.tr("&Quit"))
        self.setButtonText(QWizard.WizardButton.HelpButton, self.tr("Ab&out"))
        self.button(QWizard.WizardButton.HelpButton).setAccessibleName(self.tr("About this application"))
        # Qt's own buttons: their default texts come from Qt's translation (qtbase_*.qm).
        for which, text in ((QWizard.WizardButton.BackButton, "< &Back"),
                            (QWizard.WizardButton.NextButton, "&Next >"),
                            (QWizard.WizardButton.CommitButton, "Commit"),
                            (QWizard.WizardButton.FinishButton, "&Finish")):
            self.setButtonText(which, QCoreApplication.translate("QWizard", text))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
            self._renew_about_dialog()
        super().changeEvent(event)

    def _renew_about_dialog(self) -> None:
        """The About dialog builds its texts once: after a language switch it is made again (and
        shown again if it was open)."""
        dialog = getattr(self, "about_dialog", None)
        if dialog is None:
            return
        shown = dialog.isVisible()
        self.about_dialog = None
        dialog.close()
        dialog.deleteLater()
        if shown:
            self.show_about()

    @Slot()
    def show_about(self) -> None:
        """Open the About dialog (version, licenses); it does not block the wizard's work."""
        if self.about_dialog is None:
            from .about import AboutDialog  # package metadata: read when asked, not at start-up

            self.about_dialog = AboutDialog(self.state.catalog, self)
        self.about_dialog.show()
        self.about_dialog.raise_()
        self.about_dialog.activateWindow()

    def confirm_stop(self) -> bool:
        """Ask whether to stop the running work and quit (tests replace this)."""
        from PySide6.QtWidgets import QMessageBox

        answer = QMessageBox.question(
            self, self.tr("Stop and quit?"),
            self.tr("Data is still being prepared. Stop now and quit? Everything downloaded so far is "
                    "kept; open the wizard on the same folder to resume."),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def reject(self) -> None:
        """Quit, Esc and the window's close button all come here (QDialog.closeEvent calls it)."""
        if not self._busy or self._shut_down:  # after shutdown() nothing is left to ask about
            super().reject()
            return
        if self._only_reading:  # nothing to lose: stop the read and quit without asking
            self.bridge.cancel()
            super().reject()
            return
        if self._close_when_idle or self.confirm_stop():
            if not self._busy:  # the work ended while the question was open: nothing to stop
                super().reject()
                return
            self._close_when_idle = True
            self.bridge.cancel()  # cancel also wakes paused jobs; the window closes when they stop
            self.setEnabled(False)
            self.retranslate()

    @property
    def _only_reading(self) -> bool:
        """The work only reads: the annotation JSONs on disk (the components page), the plan (the
        progress page, before its run starts) or the check of the images (the finish page)."""
        if not self._built or self.bridge.running:
            return False
        return self.components_page.reading_annotations or self.progress_page.planning \
            or self.finish_page.verify_panel.checking

    def shutdown(self, msecs: int = 30_000) -> bool:
        """Cancel any run or check and wait for the worker thread (used when the application exits).

        Afterwards closing the window no longer asks: the work has been stopped already (its
        "ended" signal may still be queued, so ``bridge.busy`` can read True for a moment).
        """
        self._shut_down = True
        if self._bridge is None:
            return True
        self._bridge.cancel()
        return self._bridge.wait(msecs)

    @Slot(int)
    def _on_current_id_changed(self, page_id: int) -> None:
        """QWizard gives a new page's first focusable child the focus even when the page hid it
        (the options page's parts that do not matter for the selection): keystrokes then went to
        a field no one sees. Give it to the page's first control in view instead."""
        page = self.currentPage()
        focused = self.focusWidget()
        if page is None or not page.isVisible() or focused is None or focused.isVisible() \
                or not page.isAncestorOf(focused):
            return
        from PySide6.QtCore import Qt  # not for the first window: its enums take tens of ms

        candidate = page.nextInFocusChain()
        while candidate is not None and candidate is not page and page.isAncestorOf(candidate):
            if candidate.isVisible() and candidate.isEnabled() and candidate.focusPolicy() & Qt.FocusPolicy.TabFocus:
                candidate.setFocus(Qt.FocusReason.TabFocusReason)
                return
            candidate = candidate.nextInFocusChain()
        next_button = self.button(QWizard.WizardButton.NextButton)
        next_button.setFocus(Qt.FocusReason.TabFocusReason)

    @Slot(object)
    def _on_bridge_finished(self, result: RunResult) -> None:
        if self._close_when_idle:
            if self.bridge.running:  # a queued retry started just before the cancel landed
                self.bridge.cancel()
                return
            super().reject()

    @Slot(object)
    def _on_bridge_crashed(self, problem: object) -> None:
        if self._close_when_idle:
            super().reject()

    @Slot()
    def _on_bridge_call_ended(self) -> None:
        if self._close_when_idle and not self.bridge.busy:
            super().reject()
