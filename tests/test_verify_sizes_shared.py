"""verify's size check shared between its helper process and its own: the helper checks the ledgers
largest first and sends each folder's result, verify's process takes ledgers from the other end once
its parse is done. Whoever checks which ledger, and whether the helper dies half-way, the report is
the one the size check done in one place gives."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import pytest

from wizard.engine import helper as helper_mod
from wizard.engine import sizes as sizes_mod
from wizard.engine import verify as verify_mod
from wizard.engine.sizes import SizeLedger
from wizard.engine.verify import verify

PT = "share-captioner_coco_lcs_sam_1246k_1107.json"


def many_folders(tmp_path: Path, folders: int = 12) -> Path:
    """Folders of 1 to ``folders`` files, all recorded; in each, one file cut short, one grown and
    one deleted, and one referenced file never extracted. Two folders have no ledger at all."""
    root = tmp_path / "root"
    ledger = SizeLedger(root)
    images: list[str] = []
    for f in range(folders):
        folder = root / f"llava/llava_pretrain/images/{f:05d}"
        folder.mkdir(parents=True)
        for i in range(f + 4):
            (folder / f"{i}.jpg").write_bytes(b"x" * 10)
            if f < folders - 2:
                ledger.record(str(folder / f"{i}.jpg"), 10)
            images.append(f"llava/llava_pretrain/images/{f:05d}/{i}.jpg")
        images.append(f"llava/llava_pretrain/images/{f:05d}/never.jpg")
        os.truncate(folder / "0.jpg", 3)
        (folder / "1.jpg").write_bytes(b"x" * 11)
        (folder / "2.jpg").unlink()
    ledger.flush()
    (root / "sharegpt4v").mkdir()
    records = [{"id": str(i), "image": image, "conversations": []} for i, image in enumerate(images)]
    (root / "sharegpt4v" / PT).write_text(json.dumps(records), encoding="utf-8")
    return root


def reference(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The report with the size check done in one place (a thread, as in the wizard)."""
    with monkeypatch.context() as patch:
        patch.setattr(helper_mod, "allowed", lambda: False)
        return verify(root).to_json()


class FakeHelper:
    """Stands in for the ``sizes`` helper process: sends the ledger order, then one result per
    :meth:`take` with ``wait`` (so the test decides how far it gets), and "dies" after ``lives``."""

    instances: ClassVar[list[FakeHelper]] = []

    def __init__(self, role: str, root: str, lives: int = 10 ** 6, order: bool = True) -> None:
        assert role == "sizes"
        self.root = Path(root)
        self.order = sizes_mod.ledger_order(self.root)
        self.queue: list[Any] = [self.order] if order else []
        self.position = 0
        self.lives = lives
        self.ended = False
        self.checked: list[int] = []
        self.stopped = False
        FakeHelper.instances.append(self)

    def take(self, wait: bool = False) -> list[Any]:
        if wait and not self.queue and not self.ended:
            if self.position < len(self.order) and self.lives > 0:
                self.checked.append(self.position)
                self.queue.append((self.position, sizes_mod.check_ledger(self.root, self.order[self.position])))
                self.position += 1
                self.lives -= 1
            else:
                self.ended = True
        out, self.queue = self.queue, []
        return out

    def stop(self) -> None:
        self.stopped = True
        self.ended = True


@pytest.fixture()
def local_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ledger names verify's own process checked."""
    checked: list[str] = []
    real = verify_mod.check_ledger

    def spy(root: Path, name: str) -> Any:
        checked.append(name)
        return real(root, name)

    monkeypatch.setattr(verify_mod, "check_ledger", spy)
    FakeHelper.instances = []
    return checked


@pytest.mark.parametrize("lives, order", [(10 ** 6, True), (3, True), (0, True), (0, False)])
def test_the_shared_check_gives_the_one_place_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     local_checks: list[str], lives: int, order: bool) -> None:
    """The helper checks one ledger each time verify waits for it; with ``lives`` it dies after
    that many, with ``order=False`` before it even sent the order: verify checks the rest."""
    root = many_folders(tmp_path)
    expected = reference(root, monkeypatch)
    assert expected["totals"]["unreadable"] == 2 * 10 and expected["totals"]["missing"] == 12 * 2
    monkeypatch.setattr(helper_mod, "allowed", lambda: True)
    monkeypatch.setattr(helper_mod, "Helper", lambda role, root: FakeHelper(role, root, lives, order))
    assert verify(root).to_json() == expected
    (fake,) = FakeHelper.instances
    ledgers = sizes_mod.ledger_order(root)
    assert len(ledgers) == 10
    assert sorted(local_checks + [ledgers[i] for i in fake.checked]) == sorted(ledgers)  # each once
    assert fake.checked == list(range(min(lives, len(fake.checked))))  # the helper from the front
    assert local_checks == ledgers[::-1][:len(local_checks)]  # verify's process from the back
    assert len(local_checks) >= (len(ledgers) - lives if lives < len(ledgers) else 1)
    assert fake.stopped


def test_the_real_helper_shares_and_agrees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           local_checks: list[str]) -> None:
    """With the real helper process (who checks what depends on timing: only the report is fixed)."""
    root = many_folders(tmp_path, folders=30)
    expected = reference(root, monkeypatch)
    monkeypatch.setattr(helper_mod, "allowed", lambda: True)
    assert verify(root).to_json() == expected
    assert len(set(local_checks)) == len(local_checks)


def test_ledger_order_is_largest_first(tmp_path: Path) -> None:
    root = many_folders(tmp_path, folders=5)
    folder = sizes_mod._ledger(root, "").parent
    sizes = [os.stat(folder / name).st_size for name in sizes_mod.ledger_order(root)]
    assert sizes == sorted(sizes, reverse=True) and len(sizes) == 3
    assert sizes_mod.ledger_order(tmp_path / "nothing-here") == []


@pytest.mark.parametrize("block", [1 << 20, 5])
def test_the_last_line_of_a_name_decides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    """A file extracted twice has two lines: the later one is checked, in one block or across blocks."""
    monkeypatch.setattr(sizes_mod, "_BLOCK", block)
    root = tmp_path / "root"
    folder = root / "coco/train2017"
    folder.mkdir(parents=True)
    ledger = SizeLedger(root)
    for name, sizes in (("a.jpg", (99, 1)), ("b.jpg", (1, 99)), ("c.jpg", (1, 1))):
        (folder / name).write_bytes(b"x")
        for size in sizes:
            ledger.record(str(folder / name), size)
            ledger.flush()  # one line each, in this order
    assert sizes_mod.check_all(root) == {"coco/train2017": {"b.jpg": "1 bytes, 99 when extracted (cut short)"}}
    assert sizes_mod.recorded_sizes(root, "coco/train2017", {"a.jpg", "b.jpg"}) == {"a.jpg": "1", "b.jpg": "99"}
