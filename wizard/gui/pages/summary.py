"""Page 5: the plan in words and numbers; its commit button starts the run."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWizard, QWizardPage

from ...engine.plan import Plan
from .. import formatting
from ..i18n import catalog_text
from ..problems import problem_text
from ..state import WizardState
from ..widgets import Retranslating, add_demo_banner


class SummaryPage(Retranslating, QWizardPage):
    """Shows per component the source, a community mark, the status and the download size."""

    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self._state = state
        self._plan: Plan | None = None
        self.setCommitPage(True)
        self.text = QTextBrowser()
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        add_demo_banner(layout, state.is_demo)
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("Ready to start"))
        self.setSubTitle(self.tr("Check the plan. The run can be paused, cancelled and resumed at any "
                                 "time; finished work is never downloaded twice."))
        self.setButtonText(QWizard.WizardButton.CommitButton, self.tr("&Start"))
        self.text.setAccessibleName(self.tr("Plan summary"))
        self.text.setHtml(self.plan_html(self._plan) if self._plan is not None else "")

    def initializePage(self) -> None:
        self._plan = self._state.plan()
        self.text.setHtml(self.plan_html(self._plan) if self._plan is not None else "")

    def plan_html(self, plan: Plan) -> str:
        esc = html.escape
        rows = []
        for item in plan.items:
            if item.source is None:
                source = esc(self.tr("no usable source"))
            else:
                source = esc(catalog_text(item.source, "label"))
                if item.source.community:
                    source += " <b>" + esc(self.tr("[community mirror]")) + "</b>"
            size = esc(self.tr("—") if item.status == "done" else formatting.size(item.download_bytes))
            rows.append(f"<tr><td>{esc(catalog_text(item.component, 'title'))}</td><td>{source}</td>"
                        f"<td>{esc(formatting.status_name(item.status))}</td>"
                        f"<td align='right'>{size}</td></tr>")
            for note in item.notes:
                rows.append(f"<tr><td></td><td colspan='3'><small>{esc(note)}</small></td></tr>")
            if item.problem is not None:
                message, hint = problem_text(item.problem)
                rows.append(f"<tr><td></td><td colspan='3' style='color:#b71c1c'>"
                            f"{esc(message)} {esc(hint)}</td></tr>")
        head = "".join(f"<th align='left'>{esc(h)}</th>" for h in (
            self.tr("Component"), self.tr("Source"), self.tr("Status"), self.tr("Download")))
        settings = self._state.settings
        facts = [
            self.tr("Data root: {root}").format(root=plan.root),
            self.tr("To download: {size}").format(size=formatting.size(plan.download_bytes)),
            self.tr("Disk needed at the peak: {size}; at the end: {final}").format(
                size=formatting.size(plan.peak_bytes), final=formatting.size(plan.final_bytes)),
            self.tr("Free now: {size}").format(size=formatting.size(plan.free_bytes)),
            self.tr("Jobs at once: {n}").format(n=settings.concurrency),
        ]
        if settings.keep_archives:
            facts.append(self.tr("Archives are kept after extraction."))
        if settings.full_archives:
            facts.append(self.tr("Whole archives are extracted."))
        if settings.allow_mirrors:
            facts.append(self.tr("Community mirrors may be used as a fallback."))
        if settings.local:
            facts.append(self.tr("Local copies: {list}").format(
                list=", ".join(f"{cid} = {path}" for cid, path in sorted(settings.local.items()))))
        warn = ""
        if not plan.fits:
            warn = ("<p style='color:#b71c1c'><b>" + esc(self.tr(
                "The plan does not fit the free space; you chose to start anyway. The run pauses "
                "the affected jobs when the disk is full.")) + "</b></p>")
        return (f"<table width='100%' cellspacing='0' cellpadding='3'><tr>{head}</tr>{''.join(rows)}</table>"
                f"{warn}<ul>{''.join(f'<li>{esc(f)}</li>' for f in facts)}</ul>")
