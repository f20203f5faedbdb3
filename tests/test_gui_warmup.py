"""The components page's read of the annotation JSONs already in the root: off this process (a
1.5 GB JSON's parse in a thread here held the interpreter lock the window needs for up to a
second), covering what later plans read (the SA-1B images the JSONs reference too), and never
read again by a plan on the GUI thread — not even when the caches cannot be written (a full disk)."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from gui_fixtures import WizardFactory, demo_session, make_wizard, to_components_page
from pytestqt.qtbot import QtBot

from wizard.demo.session import DemoSession
from wizard.engine import subset
from wizard.engine.journal import state_dir
from wizard.engine.plan import build_plan
from wizard.engine.settings import Settings

__all__ = ["demo_session", "make_wizard"]  # fixtures used by name


def _pretraining_json(session: DemoSession, root: Path) -> Path:
    """The demo's json-pt under ``root``, referencing COCO and SA-1B images."""
    component = next(c for c in session.catalog.components if c.id == "json-pt")
    path = subset.json_path(root, component)
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [{"id": str(i), "image": image, "conversations": []} for i, image in enumerate(
        ["coco/train2017/000000000009.jpg", "sam/images/sa_1.jpg", "sam/images/sa_2.jpg"])]
    path.write_text(json.dumps(records))
    return path


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every full read of a JSON's image paths in this process, from now on."""
    reads: list[Path] = []
    real = subset.image_paths

    def image_paths(path: Path) -> set[str]:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(subset, "image_paths", image_paths)
    return reads


def test_the_json_read_before_the_plan_happens_in_the_engine_child(
        qtbot: QtBot, make_wizard: WizardFactory, demo_session: DemoSession, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    _pretraining_json(demo_session, root)
    reads = _count_reads(monkeypatch)
    wizard = make_wizard()
    assert wizard.bridge.isolated
    to_components_page(qtbot, wizard, root)  # waits for the read
    page = wizard.components_page
    page.set_selection(page._preset_members("pt"))  # a plan with the SA-1B tars: their images too
    page.set_selection(["json-pt", "coco-train2017"])
    assert reads == [], "this process parsed a JSON"
    assert page._plan is not None and "1 images the selected annotations reference" in " ".join(
        n for i in page._plan.items for n in i.notes if i.component.id == "coco-train2017")


def test_a_plan_reads_a_json_once_even_when_its_caches_cannot_be_written(
        demo_session: DemoSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk: the counts and the SA-1B list cannot be cached beside the data; each plan (one
    per click in the wizard, on its GUI thread) parsed the 1.5 GB JSON again."""
    from wizard.engine import safefs
    from wizard.engine.sources import samlinks

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    root = tmp_path / "root"
    _pretraining_json(demo_session, root)
    for module in (subset, samlinks, safefs):
        monkeypatch.setattr(module, "write_text_atomic", full)
    reads = _count_reads(monkeypatch)
    catalog = demo_session.catalog
    settings = Settings(sam_links=demo_session.sam_links, demo=True, min_free_bytes=0)
    for _ in range(3):
        build_plan(root, catalog, catalog.resolve(None, ["json-pt", "coco-train2017", "sam-tars"]), settings)
    assert not list((state_dir(root) / "index").glob("*.json.*"))  # nothing could be cached
    assert len(reads) == 2  # once for the counts, once for the SA-1B images: not once per plan


def test_a_links_file_chosen_after_the_components_page_costs_no_read_on_the_gui_thread(
        qtbot: QtBot, make_wizard: WizardFactory, demo_session: DemoSession, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a links file yet, the plans on the components page never read the SA-1B images the
    JSONs reference; the summary page's plan, once the options page has the file, did — on the GUI
    thread (9-17 s frozen on the 1.5 GB JSON). The read before the first plan covers it."""
    from dataclasses import replace

    root = tmp_path / "root"
    _pretraining_json(demo_session, root)
    reads = _count_reads(monkeypatch)
    wizard = make_wizard()
    links = wizard.state.settings.sam_links
    assert links is not None
    wizard.state.settings = replace(wizard.state.settings, sam_links=None)  # not chosen yet
    to_components_page(qtbot, wizard, root)
    wizard.components_page.set_selection(wizard.components_page._preset_members("pt"))
    assert wizard.components_page.validatePage()  # Next: the selection is the state's
    wizard.state.settings = replace(wizard.state.settings, sam_links=links)  # the options page
    plan = wizard.state.plan()  # what the summary page shows
    assert plan is not None
    assert reads == [], "this process parsed a JSON"
    sam = next(i for i in plan.items if i.component.id == "sam-tars")
    assert any("2 SAM images" in note for note in sam.notes)


def test_a_json_that_cannot_be_read_is_not_read_again_by_every_plan(
        demo_session: DemoSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A truncated JSON (a copy cut short) is reported by the plan; each plan (one per click, on
    the wizard's GUI thread) read it again up to the cut — most of 1.5 GB."""
    root = tmp_path / "root"
    path = _pretraining_json(demo_session, root)
    path.write_bytes(path.read_bytes()[:-20])
    reads = _count_reads(monkeypatch)
    catalog = demo_session.catalog
    settings = Settings(sam_links=demo_session.sam_links, demo=True, min_free_bytes=0)
    for _ in range(3):
        build_plan(root, catalog, catalog.resolve(None, ["json-pt", "coco-train2017", "sam-tars"]), settings)
    assert len(reads) == 2  # once for the counts, once for the SA-1B images: not once per plan


def test_the_plan_before_a_run_is_worked_out_in_the_engine_child(
        qtbot: QtBot, make_wizard: WizardFactory, demo_session: DemoSession, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """"Resume where it stopped" on the root page goes straight to the run, without the components
    page's read: the progress page's plan then read the 1.5 GB JSON in a thread of this process."""
    from gui_fixtures import wait_idle

    root = tmp_path / "root"
    _pretraining_json(demo_session, root)
    reads = _count_reads(monkeypatch)
    wizard = make_wizard()
    wizard.state.root = root
    wizard.state.selection = ["json-pt", "coco-train2017"]
    with qtbot.waitSignal(wizard.bridge.started, timeout=20_000):
        wizard.progress_page.start_run(wizard.state.selection)
    wait_idle(qtbot, wizard)
    assert reads == [], "this process parsed a JSON"
    assert {s.stage.value for s in wizard.state.board.jobs.values()} == {"done"}
