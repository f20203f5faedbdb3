"""Page 2: the data root — a folder field with Browse, free space, and "Resume" when it holds earlier work."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QGroupBox, QLabel, QPushButton, QVBoxLayout, QWizardPage

from ...engine import demoroot
from ...engine.errors import Code, SetupError
from ...engine.journal import read_journal
from ...engine.plan import check_root, existing_ancestor
from ...engine.safefs import problem_for_os_error
from .. import formatting
from ..pageids import PageId
from ..problems import problem_paragraph
from ..state import WizardState
from ..widgets import PathField, Retranslating, add_demo_banner, set_status, status_label


class RootPage(Retranslating, QWizardPage):
    """Chooses the data root (training's ``--image_folder``); offers to resume earlier work there."""

    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self._state = state
        self._valid = False
        self._last_components: list[str] = []
        self.label = label = QLabel()
        self.path = PathField(directory=True, caption="", accessible_name="")
        label.setBuddy(self.path.edit)
        self.registerField("root*", self.path.edit)
        self.status = status_label("")
        self.space_note = space_note = QLabel()
        space_note.setWordWrap(True)

        self.journal_box = QGroupBox()
        self.journal_label = QLabel()
        self.journal_label.setWordWrap(True)
        self.resume_button = QPushButton()
        box_layout = QVBoxLayout(self.journal_box)
        box_layout.addWidget(self.journal_label)
        box_layout.addWidget(self.resume_button)
        self.journal_box.setVisible(False)

        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.path)
        layout.addWidget(self.status)
        layout.addWidget(space_note)
        layout.addWidget(self.journal_box)
        layout.addStretch(1)
        add_demo_banner(layout, state.is_demo)

        self.path.path_changed.connect(self._on_path_path_changed)
        self.resume_button.clicked.connect(self._on_resume_button_clicked)
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("Data root"))
        self.setSubTitle(self.tr("The folder that will hold the data. Training reads it with "
                                 "--image_folder. It may be empty or not exist yet."))
        self.label.setText(self.tr("&Data root:"))
        self.path.set_texts(caption=self.tr("Choose the data root"), accessible_name=self.tr("Data root"))
        self.status.setAccessibleName(self.tr("Data root check"))
        self.space_note.setText(self.tr("Full pretraining needs about 700 GB; the SFT mixture about 120 GB. "
                                        "The next page shows the exact budget for your selection."))
        self.journal_box.setTitle(self.tr("Earlier work in this folder"))
        self.journal_label.setAccessibleName(self.tr("Earlier work in this folder"))
        self.resume_button.setText(self.tr("Res&ume where it stopped"))
        self.resume_button.setAccessibleName(self.tr("Resume the last run"))
        if self.path.text():
            self._check(self.path.text())

    # -- QWizardPage -------------------------------------------------------------------------
    def initializePage(self) -> None:
        if not self.path.text():
            self.path.set_text(str(self._state.root) if self._state.root else self._state.prefs.last_root)
        self._check(self.path.text())

    def isComplete(self) -> bool:
        return self._valid

    def validatePage(self) -> bool:
        try:
            root = check_root(Path(self.path.text()), create=True)
            demoroot.check(root, self._state.settings.demo)
        except SetupError as exc:
            self._show_error(exc)
            return False
        except OSError as exc:  # the path cannot even be looked at (a name too long, no access)
            self._show_error(SetupError.of(problem_for_os_error(exc)))
            return False
        self._state.root = root
        if self._state.is_demo:  # the demo remembers its own root, never as the real one
            self._state.prefs.demo_root = str(root)
        else:
            self._state.prefs.last_root = str(root)
        self._state.save_prefs()
        return True

    def nextId(self) -> int:
        return int(PageId.PROGRESS if self._state.resume else PageId.COMPONENTS)

    # -- checks ------------------------------------------------------------------------------
    def _show_error(self, exc: SetupError) -> None:
        messages = {
            Code.ROOT_NOT_DIR: self.tr("This is a file, not a folder."),
            Code.ROOT_MISSING: self.tr("Neither this folder nor its parent exists; create the parent "
                                       "first or choose an existing folder."),
            Code.ROOT_NOT_WRITABLE: self.tr("You cannot write here; choose a folder you own."),
            Code.NAME_TOO_LONG: self.tr("A name in this path is too long for the filesystem (most allow "
                                        "255 bytes per name)."),
            Code.DEMO_ROOT: self.tr("This folder holds real data; give the demo a folder of its own.")
            if self._state.is_demo else self.tr("The offline demo filled this folder with placeholder images; "
                                                "choose another folder for the real data."),
        }
        set_status(self.status, messages.get(exc.problem.code) or problem_paragraph(exc.problem), "error")

    def _check(self, text: str) -> None:
        self._valid = False
        self.journal_box.setVisible(False)
        if not text:
            set_status(self.status, "")
        else:
            try:
                root = check_root(Path(text))
                demoroot.check(root, self._state.settings.demo)
                free = formatting.size(shutil.disk_usage(existing_ancestor(root)).free)
            except SetupError as exc:
                self._show_error(exc)
            except OSError as exc:  # the path cannot even be looked at (a name too long, no access)
                self._show_error(SetupError.of(problem_for_os_error(exc)))
            else:
                self._valid = True
                if root.is_dir():
                    set_status(self.status, self.tr("{free} free on this disk.").format(free=free), "ok")
                    self._show_journal(root)
                else:
                    set_status(self.status, self.tr("{free} free on this disk; the folder will be "
                                                    "created.").format(free=free), "ok")
        self.completeChanged.emit()

    def _show_journal(self, root: Path) -> None:
        view = read_journal(root)  # read-only: never sets a damaged journal aside without the lock
        records = view.records
        if not records:
            return
        counts = {"done": 0, "failed": 0, "partial": 0}
        for rec in records:
            key = rec.stage if rec.stage in ("done", "failed") else "partial"
            counts[key] += 1
        args = view.last_run_args or {}
        known = {c.id for c in self._state.catalog.components}
        self._last_components = [c for c in args.get("components", []) if c in known]
        self.journal_label.setText(self.tr(
            "This folder already holds work from an earlier run: {done} done, {partial} partly done, "
            "{failed} failed. Resume to continue exactly where it stopped (downloaded bytes are kept).")
            .format(**counts))
        self.resume_button.setEnabled(bool(self._last_components))
        self.journal_box.setVisible(True)

    @Slot(str)
    def _on_path_path_changed(self, text: str) -> None:
        self._state.resume = False
        self.setCommitPage(False)
        self._check(text)

    @Slot()
    def _on_resume_button_clicked(self) -> None:
        if not self._valid or not self._last_components:
            return
        self._state.selection = list(self._last_components)
        self._state.resume = True
        self.setCommitPage(True)  # no way back into the middle of a running job
        wizard = self.wizard()
        if wizard is not None:
            wizard.next()
