"""Verify a data root against the annotation JSONs themselves: is every referenced image there?

For each JSON the records are streamed (:mod:`.annotations`), each distinct ``image`` path is
grouped by its folder, and each referenced folder is listed once (``os.listdir``); names are
matched against a set, so there is no ``stat`` per record. A file whose size extraction recorded
(:mod:`.sizes`) is stat'ed — by a helper process (:mod:`.helper`), in the wizard by a thread, while
the JSONs are parsed — and must still have that size: a cut file is "unreadable" without
``--deep``. With ``deep=True`` every image found is also opened: it must be non-empty, start with
a JPEG/PNG/GIF/WebP signature and (JPEG, PNG, WebP) not be truncated. Missing and unreadable
paths are written, one per line, to ``<root>/.sharegpt4v-setup/reports/missing-<json stem>.txt``;
the report's totals count each file once however many JSONs reference it, and the last verify's
findings are kept for ``repair`` (:func:`last_findings`).
"""

from __future__ import annotations

import contextlib
import heapq
import json
import operator
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, astuple, dataclass
from itertools import repeat
from pathlib import Path

from ..paths import STATE_DIR_NAME
from . import helper
from .annotations import (
    OK,
    UNREADABLE,
    check_image,
    check_path,
    classify,
    find_jsons,
    iter_image_batches,
    normalize,
)
from .catalog import Catalog
from .control import Control
from .errors import Code, SetupError
from .fsinfo import folds_case
from .journal import check_state_folder
from .safefs import loads_json, open_private_file, open_state, read_state_text, write_text_atomic
from .sizes import check_all, check_ledger, ledger_name, ledger_order, recorded_sizes, size_problem

#: How many missing paths a report keeps in memory (the report file has them all).
MISSING_SAMPLE = 20
_DEEP_BATCH = 512
_SLOW_FILE_SECONDS = 200e-6  # per image; a warm local disk takes ~10 us
_UNSEEN: set[str] = set()  # sentinel: a folder prefix not met yet
_NAME = operator.attrgetter("name")
_LIST_AT_ONCE = 1 << 20  # a folder whose st_size is below this (~40,000 names on ext4) is listed in one list


@dataclass(frozen=True)
class FolderCounts:
    """Distinct image paths of one JSON in one image folder (``coco``, ``sam``, ...).

    The categories are disjoint: ``referenced == present + missing + unreadable +
    wrong_format``. ``unreadable`` and ``wrong_format`` are only filled by a deep check.
    """

    key: str
    referenced: int = 0
    present: int = 0
    missing: int = 0
    unreadable: int = 0
    wrong_format: int = 0

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "key"}

    def __add__(self, other: FolderCounts) -> FolderCounts:
        return FolderCounts(self.key, *(a + b for a, b in zip(astuple(self)[1:], astuple(other)[1:],
                                                               strict=True)))


@dataclass(frozen=True)
class Totals:
    """Counts summed over folders (of one JSON) or over JSONs (of a report)."""

    records: int = 0
    text_only: int = 0
    duplicates: int = 0  # image records whose path an earlier record of the same JSON named
    referenced: int = 0
    present: int = 0
    missing: int = 0
    unreadable: int = 0
    wrong_format: int = 0
    invalid: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class JsonResult:
    """What one annotation JSON needs and what the data root has of it."""

    json_path: Path
    totals: Totals
    folders: tuple[FolderCounts, ...]
    invalid: tuple[tuple[str, str], ...]  # (path, reason), sorted
    unreadable: tuple[tuple[str, str], ...]  # (path, reason), sorted; deep only
    wrong_format: tuple[tuple[str, str], ...]  # (path, e.g. "GIF content named .jpg"); deep only
    missing_sample: tuple[str, ...]  # the first MISSING_SAMPLE missing paths, sorted
    missing_report: Path | None  # the file listing every missing, then every unreadable path
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        t = self.totals
        return t.missing == 0 and t.unreadable == 0 and t.invalid == 0

    def to_json(self) -> dict[str, object]:
        pairs = (("invalid_paths", self.invalid, "reason"), ("unreadable_paths", self.unreadable,
                 "reason"), ("wrong_format_paths", self.wrong_format, "detail"))
        return {
            "json": str(self.json_path), "ok": self.ok, **self.totals.as_dict(),
            "folders": {f.key: f.as_dict() for f in self.folders},
            "missing_report": str(self.missing_report) if self.missing_report else None,
            "missing_sample": list(self.missing_sample),
            **{name: [{"path": p, key: r} for p, r in items] for name, items, key in pairs},
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class VerifyReport:
    """The result of :func:`verify`.

    ``to_json()`` keys: ``root``, ``deep``, ``ok``, ``totals`` (records, text_only,
    duplicates, referenced, present, missing, unreadable, wrong_format, invalid) and ``jsons``:
    one object per JSON with ``json`` (its path), ``ok``, the same counts, ``folders``
    (folder key -> referenced/present/missing/unreadable/wrong_format), ``missing_report``
    (path of the full list or null), ``missing_sample``, ``invalid_paths`` /
    ``unreadable_paths`` (``[{"path", "reason"}]``), ``wrong_format_paths``
    (``[{"path", "detail"}]``) and ``notes``. Counts are of distinct paths per JSON; totals
    count distinct files over all JSONs (records, text-only and duplicates add the JSONs up).
    ``ok`` is true only when nothing is missing, unreadable or invalid
    (a GIF or PNG named .jpg opens fine by content, so ``wrong_format`` is a warning).
    """

    root: Path
    deep: bool
    results: tuple[JsonResult, ...]
    #: Totals counting each file once over all JSONs (None: the sum of the JSONs' totals).
    distinct: Totals | None = None

    @property
    def totals(self) -> Totals:
        """Counts over all JSONs; image counts are of distinct files (records add up)."""
        if self.distinct is not None:
            return self.distinct
        return sum((r.totals for r in self.results), Totals())

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def to_json(self) -> dict[str, object]:
        return {"root": str(self.root), "deep": self.deep, "ok": self.ok,
                "totals": self.totals.as_dict(), "jsons": [r.to_json() for r in self.results]}

    def render_text(self) -> str:
        """A readable summary for the terminal: one table per JSON, then the verdict."""
        return _render(self)


# ------------------------------------------------------------------------------------------
# Verification
# ------------------------------------------------------------------------------------------
def verify(root: Path, json_files: list[Path] | None = None, *, deep: bool = False,
           progress: Callable[[int, int | None], None] | None = None,
           catalog: Catalog | None = None, control: Control | None = None) -> VerifyReport:
    """Check every image the JSONs reference under ``root``; see :class:`VerifyReport`.

    ``json_files`` defaults to :func:`find_jsons` (``catalog`` names the known JSONs; the
    bundled catalog when None). ``progress(done, total)`` counts JSON bytes parsed and, when
    deep, the same amount again for the image checks: ``done / total`` is the fraction done.
    Raises :class:`SetupError` when the root is missing, no JSON is found, or a JSON is
    unreadable, not a list of records, or corrupt.
    """
    if not root.exists():
        raise SetupError(Code.ROOT_MISSING, f"The data root {root} does not exist.",
                         "Check the path, or run the setup first to create it.")
    if not root.is_dir():
        raise SetupError(Code.ROOT_NOT_DIR, f"The data root {root} is not a folder.",
                         "Pass the folder that holds coco/, sam/, sharegpt4v/, ...")
    check_state_folder(root)  # the reports are written there: never through a link
    files = find_jsons(root, catalog) if json_files is None else list(json_files)
    for path in files:
        if not path.is_file():
            raise SetupError(Code.LAYOUT_INCOMPLETE, f"Annotation JSON {path} not found.",
                             "Check the file name, or download it first.")
    spans = [p.stat().st_size * (2 if deep else 1) for p in files]
    _forget_findings(root)  # a verify that stops half-way must not leave the previous findings
    results = []
    checker = _ImageChecker() if deep else None
    distinct = _Distinct() if len(files) > 1 else None
    scan = None if deep else _SizeScan(root)
    try:
        for i, path in enumerate(files):
            tick = _Ticker(progress, control, sum(spans[:i]), sum(spans))
            results.append(_verify_one(root, path, spans[i], checker, tick, distinct, scan))
            tick(spans[i])
    finally:
        if checker is not None:
            checker.close()
        if scan is not None:
            scan.stop()
    report = VerifyReport(root, deep, tuple(results),
                          distinct.totals(results) if distinct is not None else None)
    _save_findings(report)
    return report


FINDINGS_FILE = "last-verify.json"


@dataclass(frozen=True)
class Findings:
    """What the last complete verify of a root reported (see :func:`last_findings`)."""

    when: float  # time.time() when it finished
    deep: bool
    jsons: tuple[Path, ...]
    missing: tuple[str, ...]  # distinct paths relative to the root, sorted
    unreadable: tuple[tuple[str, str], ...]  # (path, reason), distinct, sorted; with sizes or --deep
    wrong_format: tuple[tuple[str, str], ...]  # (path, detail): warnings, open fine

    @property
    def paths(self) -> list[str]:
        """Every path to repair: missing and unreadable, distinct and sorted."""
        return sorted(set(self.missing) | {p for p, _ in self.unreadable})


def last_findings(root: Path) -> Findings | None:
    """The findings the last complete ``verify`` of ``root`` saved, or None (never verified, the
    last verify stopped half-way, or its files are gone or damaged). Reading costs the size of
    the missing lists. This is what ``repair`` should repair, all of it."""
    folder = root / STATE_DIR_NAME / "reports"
    try:
        data = loads_json(read_state_text(folder / FINDINGS_FILE))
        unreadable = tuple(sorted({(str(p), str(r)) for p, r in data["unreadable"]}))
        wrong = tuple(sorted({(str(p), str(r)) for p, r in data["wrong_format"]}))
        bad = {p for p, _ in unreadable}
        missing: set[str] = set()
        for name in data["reports"]:
            with open_state(folder / Path(name).name, errors="surrogateescape") as f:
                missing.update(line.rstrip("\n") for line in f)
        missing -= bad
        return Findings(float(data["time"]), bool(data["deep"]), tuple(Path(p) for p in data["jsons"]),
                        tuple(sorted(missing)), unreadable, wrong)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _forget_findings(root: Path) -> None:
    with contextlib.suppress(OSError):
        (root / STATE_DIR_NAME / "reports" / FINDINGS_FILE).unlink(missing_ok=True)


def _save_findings(report: VerifyReport) -> None:
    """Write ``reports/last-verify.json``: what was checked, where the full missing lists are,
    and the unreadable/wrong-format paths (read back by :func:`last_findings`)."""
    if any(r.missing_report is None for r in report.results):
        return  # a report file could not be written: no findings are better than partial ones
    target = report.root / STATE_DIR_NAME / "reports" / FINDINGS_FILE
    data = {
        "version": 1, "time": time.time(), "deep": report.deep,
        "jsons": [str(r.json_path) for r in report.results],
        "reports": [r.missing_report.name for r in report.results if r.missing_report is not None],
        "unreadable": sorted({item for r in report.results for item in r.unreadable}),
        "wrong_format": sorted({item for r in report.results for item in r.wrong_format}),
        "totals": report.totals.as_dict(),
    }
    with contextlib.suppress(OSError):
        write_text_atomic(target, json.dumps(data))  # ASCII: names kept exactly through \u escapes


class _SizeScan:
    """Stats every file the size ledgers list (:mod:`.sizes`) while the JSONs are parsed: in a
    helper process where one may run (:func:`.helper.allowed`), else in a thread (``stat`` waits
    without the GIL, but the thread's Python between stats contends with the parse for it).

    The helper checks the ledgers largest first and sends each folder's result as it has it; once
    the parse is done, :meth:`step` checks ledgers here from the other end (the smallest), so both
    cores work until the two meet, and then stops the helper."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._all: dict[str, dict[str, str]] | None = None  # the thread's answer
        self._helper = helper.Helper("sizes", str(root)) if helper.allowed() else None
        self._thread = None if self._helper else threading.Thread(target=self._run, name="verify-sizes",
                                                                  daemon=True)
        if self._thread is not None:
            self._thread.start()
        self._order: list[str] | None = None  # ledger file names, the helper's order
        self._position: dict[str, int] = {}
        self._results: dict[int, tuple[str, dict[str, str]] | None] = {}
        self._helper_next = 0  # the position the helper is checking now
        self._back = -1  # every position past this one has its result

    def _run(self) -> None:
        self._all = check_all(self.root)

    def ledger(self, folder: str) -> str:
        """The name :meth:`step` gives when ``folder``'s result comes in."""
        return ledger_name(folder)

    def problems(self, folder: str) -> dict[str, str] | None:
        """name -> why, for the files of ``folder`` whose size is not the recorded one; None while
        that is not known yet (:meth:`step` until it is)."""
        if self._thread is not None:
            return None if self._thread.is_alive() else (self._all or {}).get(folder, {})
        if self._order is None:
            return None
        position = self._position.get(self.ledger(folder))
        if position is None:
            return {}  # no ledger: no size facts
        if position not in self._results:
            return None
        found = self._results[position]
        return found[1] if found is not None and found[0] == folder else {}

    def step(self) -> list[str] | None:
        """Advance: take the helper's news, check one ledger here, or wait for the helper. Returns
        the ledger names whose results came in, or None when any folder's may have (the ledger
        order arrived, or the thread finished)."""
        if self._thread is not None:
            self._thread.join()
            return None
        assert self._helper is not None
        if self._order is None:
            arrived = self._take(wait=True)
            if self._order is None and self._helper.ended:  # the helper failed early: all here
                self._start(ledger_order(self.root))
            return None if self._order is not None else arrived
        while self._back >= 0 and self._back in self._results:
            self._back -= 1
        if self._back < 0:
            self._helper.stop()
            return None
        if self._back <= self._helper_next and not self._helper.ended:
            return self._take(wait=True)  # the helper is on it
        name = self._order[self._back]
        self._results[self._back] = check_ledger(self.root, name)
        self._back -= 1
        return [name, *self._take(wait=False)]

    def _start(self, order: list[str]) -> None:
        self._order = order
        self._position = {name: i for i, name in enumerate(order)}
        self._back = len(order) - 1

    def _take(self, wait: bool) -> list[str]:
        assert self._helper is not None
        arrived = []
        for value in self._helper.take(wait):
            if self._order is None:
                self._start([str(name) for name in value])
            else:
                position, found = value
                self._results[position] = found
                self._helper_next = position + 1
                arrived.append(self._order[position])
        return arrived

    def stop(self) -> None:
        if self._helper is not None:
            self._helper.stop()
        if self._thread is not None:
            self._thread.join()


class _Distinct:
    """Image paths seen over several JSONs, by category, as hashes (to count each file once)."""

    def __init__(self) -> None:
        self.referenced: set[int] = set()
        self.missing: set[int] = set()
        self.unreadable: set[int] = set()
        self.wrong: set[int] = set()
        self.invalid: set[int] = set()

    def totals(self, results: list[JsonResult]) -> Totals:
        summed = sum((r.totals for r in results), Totals())
        bad = len(self.missing | self.unreadable | self.wrong)
        return Totals(summed.records, summed.text_only, summed.duplicates, len(self.referenced),
                      len(self.referenced) - bad, len(self.missing), len(self.unreadable), len(self.wrong),
                      len(self.invalid))


class _Ticker:
    """Turns a JSON's own progress (0..span) into the run-wide ``progress(done, total)``;
    also the cancel/pause checkpoint (called per 64 KiB of JSON and per image folder)."""

    def __init__(self, progress: Callable[[int, int | None], None] | None,
                 control: Control | None, base: int, total: int) -> None:
        self.progress, self.control, self.base, self.total = progress, control, base, total

    def __call__(self, done: int) -> None:
        if self.control is not None:
            self.control.checkpoint()
        if self.progress is not None:
            self.progress(self.base + done, self.total)


class _ImageChecker:
    """Runs :func:`check_image` in this thread; switches to a thread pool once files prove
    slow to open (a cold disk or a network share), where parallel reads pay off. On a warm
    local disk, threads only add GIL contention (measured: 2x slower)."""

    def __init__(self) -> None:
        self.pool: ThreadPoolExecutor | None = None
        self.files = 0
        self.seconds = 0.0

    def run(self, paths: list[str]) -> list[tuple[int, str]]:
        if self.pool is not None:
            return list(self.pool.map(check_image, paths))
        start = time.perf_counter()
        out = [check_image(p) for p in paths]
        self.seconds += time.perf_counter() - start
        self.files += len(paths)
        if self.files >= 256 and self.seconds / self.files > _SLOW_FILE_SECONDS:
            self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="verify")
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _collect(path: Path, tick: Callable[[int], None]
             ) -> tuple[dict[str, set[str]], dict[str, str], int, int]:
    """Stream one JSON: (distinct names by normalized folder, invalid path -> reason,
    records, text-only records)."""
    by_dir: dict[str, set[str]] = {}
    by_raw: dict[str, set[str] | None] = {}  # folder prefix as written -> its set; None: invalid
    fast: dict[str, set[str]] = {}  # the valid, non-empty prefixes of by_raw
    invalid: dict[str, str] = {}
    records = text_only = 0

    def add(image: str) -> None:  # one value, every check
        raw, _, name = image.rpartition("/")
        names = by_raw.get(raw, _UNSEEN)
        if names is _UNSEEN:  # a folder seen for the first time: check it once
            bad = check_path(raw + "/x") if raw else None
            names = by_raw[raw] = None if bad else by_dir.setdefault(normalize(raw), set())
            if names is not None and raw:
                fast[raw] = names
        if (names is None or not raw or not name or name[0] == "." or "\\" in name or "\0" in name
                or "\r" in name or "\n" in name):
            reason = check_path(image)  # the rare cases get the full check
            if reason or names is None:
                invalid[image] = reason or "invalid path"
                return
        names.add(name)

    for batch in iter_image_batches(path, progress=tick):
        records += len(batch)
        text_only += batch.count(None)
        if "" in batch:
            add("")
        images = list(filter(None, batch))  # the image values ("" and None left out)
        text = "\n".join(images)
        if ("/." in text or "/\n" in text or text.endswith("/") or "\\" in text or "\0" in text or "\r" in text
                or text.count("\n") != len(images) - 1):
            for image in images:  # a name that is empty, starts with "." or holds \\, NUL or a line break
                add(image)
            continue
        get = fast.get  # every name of this batch passes add()'s name checks: only the folder's
        for image in images:
            raw, _, name = image.rpartition("/")
            names = get(raw)
            if names is None:
                add(image)
            else:
                names.add(name)
    return by_dir, invalid, records, text_only


def _verify_one(root: Path, path: Path, span: int, checker: _ImageChecker | None,
                tick: Callable[[int], None], seen: _Distinct | None = None,
                scan: _SizeScan | None = None) -> JsonResult:
    by_dir, invalid, records, text_only = _collect(path, tick)
    if seen is not None:
        seen.invalid.update(map(hash, invalid))
        for folder, names in by_dir.items():
            seen.referenced.update(map(hash, zip(repeat(folder), names)))  # hash((folder, name))
    distinct = sum(len(names) for names in by_dir.values())
    folders: dict[str, FolderCounts] = {}
    unreadable: list[tuple[str, str]] = []
    wrong: list[tuple[str, str]] = []
    notes: list[str] = []
    checked = 0

    def advance(files: int) -> None:  # deep: the second half of this JSON's progress span
        nonlocal checked
        checked += files
        tick(span // 2 + span // 2 * checked // max(distinct, 1))

    listing_notes: dict[str, str] = {}
    case_notes: list[str] = []

    def count(folder: str, sized: dict[str, str]) -> None:  # list the folder, count what it has
        names = by_dir[folder]
        referenced = len(names)
        prefix = folder + "/" if folder else ""
        bad_before, wrong_before = len(unreadable), len(wrong)
        full = os.path.join(root, folder)
        flagged = sized.keys() & names  # referenced files whose size changed (or that were gone)
        try:
            if checker is None and os.stat(full).st_size < _LIST_AT_ONCE:
                names.difference_update(os.listdir(full))  # what is left is missing
            elif checker is None:  # a large folder: its names streamed (memory), at ~2x the CPU
                with os.scandir(full) as entries:
                    names.difference_update(map(_NAME, entries))
            else:
                with os.scandir(full) as entries:
                    sizes = recorded_sizes(root, folder, names)
                    for status, rel, detail in _deep_check(checker, full, entries, names, prefix,
                                                           advance, sizes):
                        (unreadable if status == UNREADABLE else wrong).append((rel, detail))
            flagged -= names  # present ones only; a missing file is missing
            unreadable.extend((prefix + name, sized[name]) for name in sorted(flagged))
            if names and folds_case(full):
                case_notes.extend(_case_note(full, prefix, names))
        except (FileNotFoundError, NotADirectoryError):
            pass  # every name in it is missing
        except OSError as exc:
            listing_notes[folder] = f"Cannot list {prefix or './'}: {exc.strerror}; its images count as missing."
        n_bad, n_wrong = len(unreadable) - bad_before, len(wrong) - wrong_before
        key = classify(prefix + "x")
        folders[key] = folders.get(key, FolderCounts(key)) + FolderCounts(
            key, referenced, referenced - len(names) - n_bad - n_wrong, len(names), n_bad, n_wrong)

    waiting = sorted(by_dir)  # a folder is listed once its size check is known (the check runs meanwhile)
    while waiting:
        later: dict[str, list[str]] = {}  # ledger name -> the folders waiting for it
        for folder in waiting:
            sized = scan.problems(folder) if scan is not None else {}
            if sized is None:
                assert scan is not None
                later.setdefault(scan.ledger(folder), []).append(folder)
            else:
                count(folder, sized)
        while later:
            assert scan is not None
            arrived = scan.step()
            if arrived is None:
                break  # look at every waiting folder again
            for name in arrived:
                for folder in later.pop(name, []):
                    count(folder, scan.problems(folder) or {})
        waiting = sorted(folder for group in later.values() for folder in group)
    notes += [listing_notes[folder] for folder in sorted(listing_notes)] + sorted(case_notes)
    unreadable.sort()
    wrong.sort()
    if seen is not None:
        for folder, names in by_dir.items():
            seen.missing.update(map(hash, zip(repeat(folder), names)))
        for group, items in ((seen.unreadable, unreadable), (seen.wrong, wrong)):
            group.update(hash(tuple(rel.rsplit("/", 1)) if "/" in rel else ("", rel)) for rel, _ in items)
    counts = tuple(sorted(folders.values(), key=lambda f: f.key))
    sample = _missing_sample(by_dir)
    report_file = _write_missing(root, path, by_dir, unreadable, notes)
    totals = Totals(records, text_only, records - text_only - distinct - len(invalid), distinct,
                    sum(f.present for f in counts), sum(f.missing for f in counts),
                    len(unreadable), len(wrong), len(invalid))
    return JsonResult(path, totals, counts, tuple(sorted(invalid.items())), tuple(unreadable),
                      tuple(wrong), sample, report_file, tuple(notes))


def _case_note(full: str, prefix: str, missing: set[str]) -> list[str]:
    """A note for the missing names of the folder ``full`` (on a filesystem that folds case)
    that differ only in letter case from a file there: no run can keep both such files there."""
    present = {name.casefold() for name in os.listdir(full)}
    clash = sorted(name for name in missing if name.casefold() in present)
    if not clash:
        return []
    return [f"{len(clash):,} missing in {prefix or './'} differ only in letter case from a file there "
            f"(e.g. {prefix}{clash[0]}): this filesystem takes such names for one (exFAT, FAT, macOS), "
            "so they cannot be kept beside it here and repair cannot bring them back. Use a data root on a "
            "case-sensitive filesystem (ext4, XFS, Btrfs, a case-sensitive APFS volume)."]


def _deep_check(checker: _ImageChecker, folder: str, entries: Iterator[os.DirEntry[str]],
                names: set[str], prefix: str, advance: Callable[[int], None],
                sizes: dict[str, str] | None = None) -> list[tuple[int, str, str]]:
    """Open each referenced entry of ``folder``; remove the names found from ``names``;
    return (status, path, detail) of the images that are not OK (a size that differs from the
    recorded one, then the content check)."""
    bad: list[tuple[int, str, str]] = []
    batch: list[str] = []
    sizes = sizes or {}

    def flush() -> None:
        for name in [n for n in batch if n in sizes]:
            problem = size_problem(os.path.join(folder, name), sizes[name])
            if problem:
                bad.append((UNREADABLE, prefix + name, problem))
                batch.remove(name)
        results = checker.run([os.path.join(folder, name) for name in batch])
        bad.extend((status, prefix + name, detail)
                   for name, (status, detail) in zip(batch, results, strict=True) if status != OK)
        advance(len(batch))
        batch.clear()

    for entry in entries:
        name = entry.name
        if name in names:
            names.discard(name)
            batch.append(name)
            if len(batch) >= _DEEP_BATCH:
                flush()
    flush()
    return bad


def _missing_sample(by_dir: dict[str, set[str]]) -> tuple[str, ...]:
    sample: list[str] = []
    for folder in sorted(by_dir):
        if len(sample) >= MISSING_SAMPLE:
            break
        prefix = folder + "/" if folder else ""
        sample += [prefix + n for n in heapq.nsmallest(MISSING_SAMPLE - len(sample), by_dir[folder])]
    return tuple(sample)


def _write_missing(root: Path, json_path: Path, by_dir: dict[str, set[str]],
                   unreadable: list[tuple[str, str]], notes: list[str]) -> Path | None:
    """Write ``missing-<stem>.txt``: every missing path, then every unreadable one, sorted."""
    target = root / STATE_DIR_NAME / "reports" / f"missing-{json_path.stem}.txt"
    part = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_private_file(part, "w", encoding="utf-8", errors="backslashreplace",
                               newline="\n") as out:
            for folder in sorted(by_dir):
                prefix = folder + "/" if folder else ""
                out.writelines(f"{prefix}{name}\n" for name in sorted(by_dir[folder]))
            out.writelines(f"{rel}\n" for rel, _ in unreadable)
        os.replace(part, target)
    except OSError as exc:
        notes.append(f"Could not write {target}: {exc.strerror}")
        return None
    return target


# ------------------------------------------------------------------------------------------
# Text rendering
# ------------------------------------------------------------------------------------------
def _render(report: VerifyReport) -> str:
    cols = ("referenced", "present", "missing") + (("unreadable", "wrong_format") if report.deep
                                                   else ())

    def row(label: str, counts: FolderCounts | Totals) -> str:
        return f"  {label:<15}" + "".join(f"{getattr(counts, c):>14,}" for c in cols)

    def listing(title: str, items: list[str], count: int, limit: int = 5) -> list[str]:
        more = [f"    ... and {count - limit:,} more"] if count > limit else []
        return [f"  {title}:"] + [f"    {item}" for item in items[:limit]] + more

    lines: list[str] = []
    for r in report.results:
        t = r.totals
        name = r.json_path.relative_to(report.root) if r.json_path.is_relative_to(report.root) \
            else r.json_path
        lines.append(f"{name}: {t.records:,} records, {t.text_only:,} text-only, "
                     f"{t.duplicates:,} repeat an image")
        lines.append(f"  {'folder':<15}" + "".join(f"{c.replace('_', ' '):>14}" for c in cols))
        lines += [row(f.key, f) for f in r.folders] + [row("all", t)]
        if r.invalid:
            lines += listing(f"{t.invalid:,} invalid image paths (never looked up)",
                             [f"{p!r}: {why}" for p, why in r.invalid], t.invalid)
        if t.missing:
            lines += listing(f"{t.missing:,} missing", list(r.missing_sample), t.missing)
        if r.unreadable:
            lines += listing(f"{t.unreadable:,} unreadable",
                             [f"{p}: {why}" for p, why in r.unreadable], t.unreadable)
        if r.wrong_format:
            lines += listing(f"{t.wrong_format:,} with the wrong format (they open by content)",
                             [f"{p}: {what}" for p, what in r.wrong_format], t.wrong_format)
        if r.missing_report is not None and (t.missing or t.unreadable):
            lines.append(f"  full list: {r.missing_report}")
        lines += [f"  note: {note}" for note in r.notes]
        lines.append("")
    t = report.totals
    if report.ok:
        what = "present and readable" if report.deep else "present"
        lines.append(f"OK: all {t.referenced:,} images the {len(report.results)} JSON(s) reference "
                     f"are {what}." + ("" if report.deep else " (--deep also opens each image.)"))
    else:
        problems = [f"{n:,} {label}" for n, label in ((t.missing, "missing"),
                    (t.unreadable, "unreadable"), (t.invalid, "invalid paths")) if n]
        lines.append("NOT OK: " + ", ".join(problems) + ".")
    return "\n".join(lines)
