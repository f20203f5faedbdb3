"""Page 3: presets and a tree of components with sizes, host and terms; live disk budget."""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, Qt, Slot
from PySide6.QtWidgets import (
    QAbstractButton,
    QButtonGroup,
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QRadioButton,
    QTreeWidgetItem,
    QWizardPage,
)

from ...engine.catalog import Component
from ...engine.plan import Plan
from ...engine.sources import is_known, kind_of
from .. import formatting
from ..annotationcache import jsons_on_disk, warm_task
from ..bridge import Call, EngineBridge
from ..i18n import catalog_text
from ..problems import problem_paragraph
from ..state import WizardState, first_source
from ..widgets import (
    Retranslating,
    RoomTree,
    add_demo_banner,
    scrolled_layout,
    set_min_rows,
    set_status,
    status_label,
)

ID_ROLE = Qt.ItemDataRole.UserRole
COL_NAME, COL_DOWNLOAD, COL_DISK, COL_HOST, COL_TERMS = range(5)
#: Rows of the tree always in view (the page scrolls when the window is shorter).
TREE_ROWS_SHOWN = 4
#: The phrases source kinds show instead of a host name, marked for the translation tools.
HOST_PHRASES = (QT_TRANSLATE_NOOP("ComponentsPage", "Meta (signed links)"),
                QT_TRANSLATE_NOOP("ComponentsPage", "local copy"))


class ComponentsPage(Retranslating, QWizardPage):
    """What to prepare. Next is blocked when the plan cannot fit, unless the override is ticked."""

    def __init__(self, state: WizardState, bridge: EngineBridge | None = None) -> None:
        super().__init__()
        self._state = state
        self._bridge = bridge
        self._warm_call: Call | None = None  # reading the JSONs on disk before the first plan
        self._plan: Plan | None = None
        self._updating = False
        self._entered = False  # initializePage ran
        self.presets_box = presets_box = QGroupBox()
        presets_layout = QGridLayout(presets_box)
        self.preset_group = QButtonGroup(self)
        self.preset_buttons: dict[str, QRadioButton] = {}
        for preset in state.catalog.presets:
            button = QRadioButton()
            button.setProperty("presetId", preset.id)
            self.preset_group.addButton(button)
            presets_layout.addWidget(button, len(self.preset_buttons) // 2, len(self.preset_buttons) % 2)
            self.preset_buttons[preset.id] = button
        self.custom_button = QRadioButton()
        self.preset_group.addButton(self.custom_button)
        count = len(self.preset_buttons)
        presets_layout.addWidget(self.custom_button, count // 2, count % 2)

        self.tree = RoomTree()
        self.tree.setColumnCount(COL_TERMS + 1)
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._groups: dict[str, QTreeWidgetItem] = {}
        self._fill_tree()

        self.totals = QLabel()
        self.totals.setWordWrap(True)
        self.budget = status_label("")
        self.override = QCheckBox()
        self.override.setVisible(False)

        # A small screen at 150-200 % scrolls the page rather than squeezing the presets.
        _outer, layout = scrolled_layout(self)
        layout.addWidget(presets_box)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.totals)
        layout.addWidget(self.budget)
        layout.addWidget(self.override)
        add_demo_banner(layout, state.is_demo)
        set_min_rows(self.tree, TREE_ROWS_SHOWN)

        self.preset_group.buttonClicked.connect(self._on_preset_group_button_clicked)
        self.tree.itemChanged.connect(self._on_tree_item_changed)
        self.override.toggled.connect(self._on_override_toggled)
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("What to prepare"))
        self.setSubTitle(self.tr("Pick a preset for the training stage you want, or choose the parts "
                                 "yourself. Sizes marked ≈ are estimates."))
        self.presets_box.setTitle(self.tr("Preset"))
        for preset in self._state.catalog.presets:
            button = self.preset_buttons[preset.id]
            button.setText(self._preset_title(preset.id, catalog_text(preset, "title")))
            button.setAccessibleName(button.text().replace("&", ""))
        self.custom_button.setText(self.tr("C&ustom selection"))
        self.custom_button.setAccessibleName(self.tr("Custom selection"))
        self.tree.setAccessibleName(self.tr("Components"))
        self.tree.setHeaderLabels([self.tr("Component"), self.tr("Download"), self.tr("On disk"),
                                   self.tr("Host"), self.tr("Terms")])
        groups = {"annotations": self.tr("Annotations (caption JSONs)"), "images": self.tr("Images")}
        for group, parent in self._groups.items():
            parent.setText(COL_NAME, groups.get(group, group))
        self._updating = True  # item texts change, not check states
        try:
            for comp in self._state.catalog.components:
                self._item_texts(comp, self._items[comp.id])
        finally:
            self._updating = False
        self.totals.setAccessibleName(self.tr("Totals"))
        self.budget.setAccessibleName(self.tr("Disk budget"))
        self.override.setText(self.tr("Start &anyway (I will free space)"))
        self.override.setAccessibleName(self.tr("Start anyway although the plan does not fit"))
        self._update()

    def _preset_title(self, pid: str, fallback: str) -> str:
        titles = {
            "pt": self.tr("Full &pretraining (ShareGPT4V-PT, 1246K captions, all 51 SAM tars)"),
            "sft": self.tr("SF&T only, with the 9K SAM subset (mix665k)"),
            "cap100k": self.tr("ShareGPT4V-100K &captions"),
            "all": self.tr("&Everything"),
        }
        return titles.get(pid, fallback)

    def _fill_tree(self) -> None:
        parents = self._groups
        for comp in self._state.catalog.components:
            parent = parents.get(comp.group)
            if parent is None:
                parent = QTreeWidgetItem(self.tree, [comp.group])
                parent.setFlags(parent.flags() | Qt.ItemFlag.ItemIsAutoTristate
                                | Qt.ItemFlag.ItemIsUserCheckable)
                parent.setCheckState(COL_NAME, Qt.CheckState.Unchecked)
                parent.setExpanded(True)
                parents[comp.group] = parent
            parent.addChild(self._make_item(comp))
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        for col in (COL_DOWNLOAD, COL_DISK, COL_HOST, COL_TERMS):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)

    def _make_item(self, comp: Component) -> QTreeWidgetItem:
        item = QTreeWidgetItem()
        item.setData(COL_NAME, ID_ROLE, comp.id)
        for col in (COL_DOWNLOAD, COL_DISK):
            item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if self._state.available(comp):
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(COL_NAME, Qt.CheckState.Unchecked)
        else:  # no check state at all, so the group's tristate box leaves it alone
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
        self._items[comp.id] = item
        return item

    def _item_texts(self, comp: Component, item: QTreeWidgetItem) -> None:
        source = first_source(comp)
        item.setText(COL_NAME, catalog_text(comp, "title"))
        item.setText(COL_DOWNLOAD, formatting.size(source.planned_size, approx=source.size is None))
        item.setText(COL_DISK, formatting.size(comp.approx_extracted, approx=True))
        if self._entered:  # the host asks the source kind's module: imported when the page is shown
            item.setText(COL_HOST, self._host(comp))
        item.setText(COL_TERMS, self.tr("§ terms") if comp.usage else "")
        if self._state.available(comp):
            item.setToolTip(COL_NAME, self.tr("{id} → {target}").format(id=comp.id, target=comp.target))
        else:
            item.setToolTip(COL_NAME, self.tr("The offline demo does not serve this part yet."))
        if comp.usage:
            usage = catalog_text(comp, "usage")
            item.setToolTip(COL_TERMS, usage)
            item.setData(COL_TERMS, Qt.ItemDataRole.AccessibleTextRole, usage)

    def _host(self, comp: Component) -> str:
        source = first_source(comp)
        if is_known(source.kind):
            host = kind_of(source.kind).host_label(source, self._state.hub_endpoint(), self._state.catalog)
            host = self.tr(host)  # the phrases kinds use instead of a host are translated
        else:
            host = source.kind
        if not self._state.supported(comp):
            host = self.tr("{host} (not supported by this version yet)").format(host=host)
        return host

    # -- selection ---------------------------------------------------------------------------
    def selected(self) -> list[str]:
        return [cid for cid, item in self._items.items()
                if item.data(COL_NAME, Qt.ItemDataRole.CheckStateRole) is not None
                and item.checkState(COL_NAME) == Qt.CheckState.Checked]

    def set_selection(self, ids: list[str]) -> None:
        self._updating = True
        try:
            for cid, item in self._items.items():
                if item.data(COL_NAME, Qt.ItemDataRole.CheckStateRole) is not None:
                    checked = Qt.CheckState.Checked if cid in ids else Qt.CheckState.Unchecked
                    item.setCheckState(COL_NAME, checked)
        finally:
            self._updating = False
        self._sync_preset()
        self._update()

    def choose_preset(self, pid: str) -> None:
        button = self.preset_buttons[pid]
        button.setChecked(True)
        self._on_preset_group_button_clicked(button)

    def _preset_members(self, pid: str) -> list[str]:
        preset = self._state.catalog.preset(pid)
        return [c.id for c in self._state.catalog.resolve(None, list(preset.components))
                if self._state.available(c)]

    def _sync_preset(self) -> None:
        chosen = set(self.selected())
        for pid, button in self.preset_buttons.items():
            if chosen and set(self._preset_members(pid)) == chosen:
                button.setChecked(True)
                return
        self.custom_button.setChecked(True)

    # -- QWizardPage -------------------------------------------------------------------------
    def initializePage(self) -> None:
        self._entered = True
        for comp in self._state.catalog.components:
            self._items[comp.id].setText(COL_HOST, self._host(comp))
        root, bridge = self._state.root, self._bridge
        if root is not None and bridge is not None and not bridge.busy \
                and jsons_on_disk(root, self._state.catalog):
            catalog = self._state.catalog
            available = [c for c in catalog.components if self._state.available(c)]
            self._warm_call = bridge.call(warm_task(root, catalog, available, self._state.settings))
            self._warm_call.finished.connect(self._on_warm_call_ended)
            self._warm_call.failed.connect(self._on_warm_call_ended)
            self.tree.setEnabled(False)
        if self._state.selection:
            self.set_selection(self._state.selection)
        else:
            self._update()

    @property
    def reading_annotations(self) -> bool:
        """The annotation JSONs on disk are being read; the plan follows when they are."""
        return self._warm_call is not None

    @Slot(object)
    def _on_warm_call_ended(self, outcome: object) -> None:
        self._warm_call = None
        self.tree.setEnabled(True)
        self._update()

    def isComplete(self) -> bool:
        if self._plan is None or not self.selected() or self.reading_annotations:
            return False
        if self._plan.file_size_problem() is not None:  # no "start anyway": such a file cannot be written
            return False
        return self._plan.fits or self.override.isChecked()

    def validatePage(self) -> bool:
        self._state.selection = self.selected()
        self._state.settings.force = self._plan is not None and not self._plan.fits \
            and self.override.isChecked()
        return True

    # -- live totals -------------------------------------------------------------------------
    def _update(self) -> None:
        ids = self.selected()
        if self.reading_annotations:
            self._plan = None
            self.totals.setText(self.tr("Reading the annotation JSONs already in this folder…"))
            self.completeChanged.emit()
            return
        self._plan = self._state.plan(self._state.catalog.resolve(None, ids)) if ids else None
        plan = self._plan
        if plan is None:
            self.totals.setText(self.tr("Nothing selected yet."))
            set_status(self.budget, "")
            self.override.setVisible(False)
        else:
            in_place = sum(1 for i in plan.items if i.status == "done")
            text = self.tr("{n} selected: download {download}, disk at peak {peak}, at the end {final}; "
                           "{free} free.").format(n=len(ids), download=formatting.size(plan.download_bytes),
                                                  peak=formatting.size(plan.peak_bytes),
                                                  final=formatting.size(plan.final_bytes),
                                                  free=formatting.size(plan.free_bytes))
            if in_place:
                text += " " + self.tr("{k} already in place.").format(k=in_place)
            self.totals.setText(text)
            if (too_large := plan.file_size_problem()) is not None:
                set_status(self.budget, problem_paragraph(too_large), "error")
                self.override.setChecked(False)
                self.override.setVisible(False)
            elif plan.fits:
                set_status(self.budget, "")
                self.override.setChecked(False)
                self.override.setVisible(False)
            else:
                set_status(self.budget, self.tr(
                    "Not enough space on {root}: this selection needs up to {need} at its peak, but only "
                    "{free} is free. Free some space, choose fewer parts or another root.").format(
                    root=plan.root, need=formatting.size(plan.peak_bytes + plan.margin),
                    free=formatting.size(plan.free_bytes)), "error")
                self.override.setVisible(True)
        self.completeChanged.emit()

    @Slot(QAbstractButton)
    def _on_preset_group_button_clicked(self, button: QAbstractButton) -> None:
        pid = button.property("presetId")
        if pid:
            self.set_selection(self._preset_members(str(pid)))

    @Slot(QTreeWidgetItem, int)
    def _on_tree_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._updating or column != COL_NAME:
            return
        self._sync_preset()
        self._update()

    @Slot(bool)
    def _on_override_toggled(self, checked: bool) -> None:
        self.completeChanged.emit()
