"""The journal: one SQLite (WAL) file per data root recording every job's stage and bytes.

It lives in ``<root>/.sharegpt4v-setup/journal.sqlite`` next to a lock file; a second process on
the same root is refused while the first holds the lock. Writes are serialised by a mutex so any
worker thread may record progress.

The journal is a cache of facts that can be re-derived from the tree and the archives, so it
heals itself: when it cannot be opened or read (truncated, random bytes, a row with an unknown
code or stage, a newer schema version), a writing open moves it aside with a timestamp, starts a
fresh one marked "rebuild pending" (see :mod:`wizard.engine.rebuild`) and says so in one line.
``status``, ``plan`` and ``verify`` read it read-only (:func:`read_journal`): they never write, so
they work on a read-only root or a full disk, and report an unreadable journal instead of failing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..paths import STATE_DIR_NAME
from .errors import Code, Problem, SetupError
from .events import Stage
from .rootlock import RootLock  # noqa: F401 - the lock lives beside the journal it guards
from .safefs import file_kind_nofollow, loads_json

log = logging.getLogger(__name__)

#: ``PRAGMA user_version`` of the journals this version writes (0: written before it was set).
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    bytes_done INTEGER NOT NULL DEFAULT 0,
    bytes_total INTEGER,
    error_code TEXT,
    error_message TEXT,
    error_hint TEXT,
    info TEXT NOT NULL DEFAULT '{}',
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    started REAL NOT NULL,
    finished REAL,
    args TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

#: Per-item records of multi-item jobs (OCR-VQA images), created on first use.
_ITEMS_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    job TEXT NOT NULL,
    key TEXT NOT NULL,
    url TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'todo',
    http_status INTEGER,
    detail TEXT,
    updated REAL,
    PRIMARY KEY (job, key)
);
"""
_STAGES = frozenset(s.value for s in Stage)
_CODES = frozenset(c.value for c in Code)
_ITEM_STATUSES = frozenset({"todo", "saved", "dead"})
#: ``meta`` key set while the facts of a set-aside journal are still to be re-derived from disk.
REBUILD_KEY = "rebuild_pending"


def state_dir(root: Path) -> Path:
    return root / STATE_DIR_NAME


#: The state folder's own subfolders: the app writes into them, so none may be a link.
STATE_FOLDERS = ("downloads", "quarantine", "reports", "logs", "index", "index/sizes")


def check_state_folder(root: Path) -> None:
    """Raise ``path-blocked`` when the state folder is a link or not a folder, or one of its own
    subfolders (:data:`STATE_FOLDERS`) is a link: the app's writes would land wherever it points."""
    state = state_dir(root)
    for path in (state, *(state / name for name in STATE_FOLDERS)):
        if path.is_symlink() or (path == state and path.exists() and not path.is_dir()):
            what = "a symbolic link" if path.is_symlink() else "not a folder"
            raise SetupError(Code.PATH_BLOCKED, f"{path} is {what}; the app keeps its state only in real "
                             "folders inside the data root (a link could point its writes anywhere).",
                             "Move it aside and run again.")


def journal_path(root: Path) -> Path:
    return state_dir(root) / "journal.sqlite"


@dataclass(frozen=True)
class JobRecord:
    id: str
    stage: str
    source: str
    bytes_done: int
    bytes_total: int | None
    problem: Problem | None
    info: dict[str, Any]
    updated: float


class JournalUnreadable(Exception):
    """The journal exists but cannot be used (damaged, newer schema, unknown values)."""


# ------------------------------------------------------------------------------------------
# Opening, checking and setting aside
# ------------------------------------------------------------------------------------------
def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection: ``mode=ro``; on a read-only filesystem where SQLite cannot create
    the WAL index, ``immutable=1`` (nothing can be writing there anyway)."""
    uri = path.absolute().as_uri()  # percent-encoded; file:///C:/… on Windows
    try:
        db = sqlite3.connect(uri + "?mode=ro", uri=True, check_same_thread=False, timeout=30)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        db = sqlite3.connect(uri + "?mode=ro&immutable=1", uri=True, check_same_thread=False)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db


#: Journals (path, size and mtime of the file and its WAL) that passed :func:`check_journal`.
_CHECKED: set[tuple[object, ...]] = set()


def _file_stamp(path: Path) -> tuple[object, ...]:
    stamp: list[object] = [str(path)]
    for name in (path, path.with_name(path.name + "-wal")):
        try:
            st = name.stat()
            stamp += [st.st_ino, st.st_size, st.st_mtime_ns]
        except OSError:
            stamp.append(None)
    return tuple(stamp)


def check_journal(db: sqlite3.Connection) -> None:
    """Raise :class:`JournalUnreadable` unless every row is one this version understands."""
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise JournalUnreadable(f"it was written by a newer version (schema {version}; this "
                                    f"version reads {SCHEMA_VERSION})")
        result = db.execute("PRAGMA quick_check").fetchone()
        if not result or result[0] != "ok":
            raise JournalUnreadable(f"SQLite reports damage ({result[0] if result else 'no answer'})")
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "jobs" not in tables:
            if tables - {"runs", "items", "meta"}:
                raise JournalUnreadable("it holds unknown tables")
            return
        for row in db.execute("SELECT * FROM jobs"):
            _record(row)
        if "runs" in tables:
            for (args,) in db.execute("SELECT args FROM runs"):
                if not isinstance(loads_json(args), dict):
                    raise JournalUnreadable("a run's arguments are not a JSON object")
        if "items" in tables:
            for (status,) in db.execute("SELECT DISTINCT status FROM items"):
                if status not in _ITEM_STATUSES:
                    raise JournalUnreadable(f"an item has the unknown status {status!r}")
    except JournalUnreadable:
        raise
    except (sqlite3.DatabaseError, ValueError, TypeError, KeyError) as exc:
        raise JournalUnreadable(f"{type(exc).__name__}: {exc}") from exc


def _odd_file(kind: str) -> str:
    """Why a journal that is no regular file cannot be used."""
    return "it is a symbolic link (never followed)" if kind == "link" else f"it is a {kind}, not a file"


def set_aside(path: Path, reason: str) -> Path:
    """Rename a journal that cannot be used (and its WAL files) to ``*.broken-<UTC time>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    kept = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while kept.exists() or kept.is_symlink():
        n += 1
        kept = path.with_name(f"{path.name}.broken-{stamp}-{n}")
    os.replace(path, kept)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            os.replace(side, kept.with_name(kept.name + suffix))
    log.info("journal %s set aside as %s (%s); rebuilding it from the files on disk", path, kept.name, reason)
    return kept


class Journal:
    """Thread-safe access to the journal database of one data root.

    ``readonly``: open with SQLite's ``mode=ro`` (never writes; raises :class:`JournalUnreadable`
    for a damaged journal and ``FileNotFoundError`` when there is none). Otherwise a journal that
    cannot be used is set aside and a fresh one started: :attr:`healed` says why, and
    :attr:`rebuild_pending` stays true until :mod:`~wizard.engine.rebuild` re-derived its facts.
    """

    def __init__(self, root: Path, *, create: bool = True, readonly: bool = False) -> None:
        self.root = root
        self.path = journal_path(root)
        self.readonly = readonly
        #: Why the previous journal was set aside at this open (None: it was fine).
        self.healed: str | None = None
        self.set_aside_as: Path | None = None
        self._mutex = threading.Lock()
        kind = file_kind_nofollow(self.path)
        if (readonly or not create) and kind != "file":
            if kind == "missing":
                raise FileNotFoundError(self.path)
            raise JournalUnreadable(_odd_file(kind))  # the writing open sets it aside
        if readonly:
            try:
                self._db = _connect_readonly(self.path)
            except sqlite3.DatabaseError as exc:
                raise JournalUnreadable(f"{type(exc).__name__}: {exc}") from exc
            stamp = _file_stamp(self.path)
            if stamp not in _CHECKED:  # a check reads every row: once per version of the file
                try:
                    check_journal(self._db)
                except JournalUnreadable:
                    self._db.close()
                    raise
                _CHECKED.clear()
                _CHECKED.add(stamp)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open_checked(existing=self.path.exists())
        except JournalUnreadable as exc:
            self.healed = str(exc)
            fresh = self._fresh(self.healed)  # first: a full disk keeps the damaged one in place
            self.set_aside_as = set_aside(self.path, self.healed)
            os.replace(fresh, self.path)
            self._db = self._open_checked()

    def _fresh(self, reason: str) -> Path:
        """An empty journal beside the damaged one, marked "rebuild pending" (closed, no WAL)."""
        fresh = self.path.with_name(self.path.name + ".new")
        for stale in (fresh, fresh.with_name(fresh.name + "-journal")):
            stale.unlink(missing_ok=True)
        db = sqlite3.connect(fresh)
        try:
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("INSERT INTO meta(key, value) VALUES(?, ?)", (REBUILD_KEY, reason))
            db.commit()
        except BaseException:
            db.close()
            fresh.unlink(missing_ok=True)
            raise
        db.close()
        return fresh

    def _open_checked(self, *, existing: bool = False) -> sqlite3.Connection:
        """``existing``: the file was there before this open, so a database without a single table
        is what a crash left of it (zero bytes), not a new journal."""
        kind = file_kind_nofollow(self.path)
        if kind not in ("file", "missing"):
            raise JournalUnreadable(_odd_file(kind))
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        except sqlite3.DatabaseError as exc:
            raise JournalUnreadable(f"{type(exc).__name__}: {exc}") from exc
        try:
            check_journal(db)
            if existing and db.execute("SELECT 1 FROM sqlite_master WHERE type='table'").fetchone() is None:
                raise JournalUnreadable("it is empty (no tables; a crash can leave a file with zero bytes)")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            if int(db.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.commit()
        except JournalUnreadable:
            db.close()
            raise
        except sqlite3.DatabaseError as exc:
            db.close()
            if isinstance(exc, sqlite3.OperationalError) and _is_environment(exc):
                raise  # a full disk or a read-only root: not the journal's fault
            raise JournalUnreadable(f"{type(exc).__name__}: {exc}") from exc
        return db

    @property
    def rebuild_pending(self) -> str | None:
        """Why facts still have to be re-derived from disk (a set-aside journal), or None."""
        with self._mutex:
            try:
                row = self._db.execute("SELECT value FROM meta WHERE key=?", (REBUILD_KEY,)).fetchone()
            except sqlite3.OperationalError:  # a journal from before the meta table (read-only open)
                return None
        return str(row[0]) if row else None

    def rebuild_finished(self) -> None:
        with self._mutex:
            self._db.execute("DELETE FROM meta WHERE key=?", (REBUILD_KEY,))
            self._db.commit()

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    def get(self, job: str) -> JobRecord | None:
        with self._mutex:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job,)).fetchone()
        return _record(row) if row else None

    def all(self) -> list[JobRecord]:
        with self._mutex:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY rowid").fetchall()
        return [_record(r) for r in rows]

    def set_stage(self, job: str, stage: str, *, source: str | None = None,
                  problem: Problem | None = None) -> None:
        now = time.time()
        with self._mutex:
            self._db.execute(
                "INSERT INTO jobs(id, stage, updated) VALUES(?,?,?) ON CONFLICT(id) DO UPDATE SET "
                "stage=excluded.stage, updated=excluded.updated",
                (job, stage, now),
            )
            if source is not None:
                self._db.execute("UPDATE jobs SET source=? WHERE id=?", (source, job))
            self._db.execute(
                "UPDATE jobs SET error_code=?, error_message=?, error_hint=? WHERE id=?",
                (problem.code if problem else None, problem.message if problem else None,
                 problem.hint if problem else None, job),
            )
            self._db.commit()

    def set_bytes(self, job: str, done: int, total: int | None) -> None:
        with self._mutex:
            self._db.execute("UPDATE jobs SET bytes_done=?, bytes_total=?, updated=? WHERE id=?",
                             (done, total, time.time(), job))
            self._db.commit()

    def update_info(self, job: str, **values: Any) -> None:
        """Merge keys into the job's JSON info (validators, counts, report paths)."""
        with self._mutex:
            row = self._db.execute("SELECT info FROM jobs WHERE id=?", (job,)).fetchone()
            info = loads_json(row[0]) if row else {}
            info.update(values)
            if row is None:
                self._db.execute("INSERT INTO jobs(id, stage, info, updated) VALUES(?,?,?,?)",
                                 (job, "queued", json.dumps(info), time.time()))
            else:
                self._db.execute("UPDATE jobs SET info=? WHERE id=?", (json.dumps(info), job))
            self._db.commit()

    def reset(self, job: str) -> None:
        with self._mutex:
            self._db.execute("DELETE FROM jobs WHERE id=?", (job,))
            self._db.commit()

    def record_run(self, args: dict[str, Any]) -> int:
        with self._mutex:
            cur = self._db.execute("INSERT INTO runs(started, args) VALUES(?, ?)",
                                   (time.time(), json.dumps(args)))
            self._db.commit()
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int) -> None:
        with self._mutex:
            self._db.execute("UPDATE runs SET finished=? WHERE rowid=?", (time.time(), run_id))
            self._db.commit()

    def last_run_args(self) -> dict[str, Any] | None:
        with self._mutex:
            row = self._db.execute("SELECT args FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()
        return loads_json(row[0]) if row else None

    # -- per-item records (OCR-VQA images: one row per image, so 200K images resume one by one)
    def _items_table(self) -> None:
        """Create the ``items`` table on first use (callers hold the mutex)."""
        if getattr(self, "_items_ready", False):
            return
        self._db.executescript(_ITEMS_SCHEMA)
        self._items_ready = True

    def items_add(self, job: str, rows: Sequence[tuple[str, str]]) -> None:
        """Record ``(key, url)`` items as to do; items already recorded keep their status."""
        with self._mutex:
            self._items_table()
            self._db.executemany(
                "INSERT INTO items(job, key, url, status) VALUES(?,?,?,'todo') "
                "ON CONFLICT(job, key) DO UPDATE SET url=excluded.url WHERE items.status='todo'",
                [(job, key, url) for key, url in rows])
            self._db.commit()

    def items_set(self, job: str, key: str, status: str, *, http_status: int | None = None,
                  detail: str | None = None) -> None:
        """Set one item's status ("todo" | "saved" | "dead"), its HTTP status and a detail."""
        self.items_set_many(job, [(key, status, http_status, detail)])

    def items_set_many(self, job: str, rows: Sequence[tuple[str, str, int | None, str | None]]) -> None:
        with self._mutex:
            self._items_table()
            self._db.executemany(
                "UPDATE items SET status=?, http_status=?, detail=?, updated=? WHERE job=? AND key=?",
                [(status, http, detail, time.time(), job, key) for key, status, http, detail in rows])
            self._db.commit()

    def items(self, job: str, status: str | None = None) -> list[tuple[str, str, str, int | None, str | None]]:
        """``(key, url, status, http_status, detail)`` rows of a job, optionally of one status."""
        with self._mutex:
            self._items_table()
            if status is None:
                cur = self._db.execute("SELECT key, url, status, http_status, detail FROM items "
                                       "WHERE job=? ORDER BY rowid", (job,))
            else:
                cur = self._db.execute("SELECT key, url, status, http_status, detail FROM items "
                                       "WHERE job=? AND status=? ORDER BY rowid", (job, status))
            return [tuple(r) for r in cur.fetchall()]

    def items_counts(self, job: str) -> dict[str, int]:
        with self._mutex:
            self._items_table()
            rows = self._db.execute("SELECT status, COUNT(*) FROM items WHERE job=? GROUP BY status",
                                    (job,)).fetchall()
        return {str(status): int(count) for status, count in rows}

    def items_batch(self, job: str, *, rows: int = 256, seconds: float = 0.2,
                    clock: Callable[[], float] = time.monotonic) -> ItemsBatch:
        """A buffer of item changes committed together (see :class:`ItemsBatch`)."""
        return ItemsBatch(self, job, rows=rows, seconds=seconds, clock=clock)

    def items_clear(self, job: str) -> None:
        with self._mutex:
            self._items_table()
            self._db.execute("DELETE FROM items WHERE job=?", (job,))
            self._db.commit()


class ItemsBatch:
    """Item status changes of one job, committed in one transaction per ``rows`` changes or once
    ``seconds`` have passed since the last commit (checked on each :meth:`add`), and on
    :meth:`flush`.

    Many threads may ``add``; the buffer's own lock is held only to append, and the thread whose
    change makes the batch due commits it after letting go of that lock, so the others keep
    working during the commit. The commit is the durability point: after a crash at most the
    changes of one batch are lost, and those items are simply still "todo".
    """

    def __init__(self, journal: Journal, job: str, *, rows: int = 256, seconds: float = 0.2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.journal = journal
        self.job = job
        self.rows = max(1, rows)
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str, int | None, str | None]] = []
        self._since = clock()
        self.commits = 0

    def add(self, key: str, status: str, http_status: int | None = None, detail: str | None = None) -> None:
        with self._lock:
            self._pending.append((key, status, http_status, detail))
            if len(self._pending) < self.rows and self._clock() - self._since < self.seconds:
                return
            batch = self._take()
        self._commit(batch)

    def flush(self) -> None:
        """Commit whatever is buffered now."""
        with self._lock:
            batch = self._take()
        self._commit(batch)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _take(self) -> list[tuple[str, str, int | None, str | None]]:
        batch, self._pending = self._pending, []
        self._since = self._clock()
        return batch

    def _commit(self, batch: list[tuple[str, str, int | None, str | None]]) -> None:
        if batch:
            self.journal.items_set_many(self.job, batch)
            with self._lock:
                self.commits += 1

    def __enter__(self) -> ItemsBatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


def _record(row: tuple[Any, ...]) -> JobRecord:
    """A job row as a record; raises ValueError/TypeError for values this version does not know."""
    (jid, stage, source, done, total, code, message, hint, info, updated) = row
    if not isinstance(jid, str) or stage not in _STAGES:
        raise ValueError(f"job {jid!r} has the unknown stage {stage!r}")
    if code is not None and code not in _CODES:
        raise ValueError(f"job {jid!r} has the unknown error code {code!r}")
    if not isinstance(done, int) or not (total is None or isinstance(total, int)):
        raise TypeError(f"job {jid!r} has byte counts that are not integers")
    details = loads_json(info or "{}")
    if not isinstance(details, dict):
        raise TypeError(f"job {jid!r} has info that is not a JSON object")
    problem = Problem(Code(code), message or "", hint or "") if code else None
    return JobRecord(jid, stage, source or "", done, total, problem, details, float(updated))


def problem_for_journal_error(exc: sqlite3.Error, root: Path | None = None) -> Problem:
    """The coded problem for a journal error that reached a front end or the engine child: a full
    disk is ``no-space`` (parked, like any full disk), anything else the journal's ``io-error``."""
    text = str(exc)
    if "full" in text.lower():
        return Problem(Code.NO_SPACE, f"The disk under {root or 'the data root'} is full (the journal "
                       "cannot be written).", "Free some space and run again.", parked=True)
    if "locked" in text.lower():  # another program held it for writing past SQLite's 30 s wait
        return Problem(Code.ROOT_LOCKED, f"The journal under {root or 'the data root'} is locked by another "
                       f"program ({text}).", "Close the program that has .sharegpt4v-setup/journal.sqlite "
                       "open (a SQLite browser, a backup tool) and run again; nothing was lost.")
    if "readonly" in text.lower():  # SQLite opened it read-only: not writable for this user
        return Problem(Code.ROOT_NOT_WRITABLE, f"The journal under {root or 'the data root'} cannot be "
                       f"written ({text}).", "Fix the permissions of its folder .sharegpt4v-setup (another "
                       "user, e.g. root, may have run the setup there), or choose a data root you own.")
    return Problem(Code.IO_ERROR, f"The journal under {root or 'the data root'} cannot be used: {text}.",
                   "Check the disk; the next run sets a damaged journal aside and rebuilds it.")


def _is_environment(exc: sqlite3.OperationalError) -> bool:
    """A failure of the disk or permissions rather than of the journal's content."""
    text = str(exc).lower()
    return any(w in text for w in ("full", "readonly", "read-only", "unable to open", "disk i/o", "locked"))


@dataclass
class JournalView:
    """What a read-only look at a root's journal found."""

    records: list[JobRecord] | None = None  # None: no journal, or an unreadable one
    last_run_args: dict[str, Any] | None = None
    #: The journal exists but cannot be used (why); the next run sets it aside and rebuilds.
    unreadable: str | None = None
    #: A set-aside journal whose facts are still to be re-derived from disk (why), or None.
    rebuild_pending: str | None = None

    @property
    def note(self) -> str | None:
        """One line for the user when the journal is not simply fine, else None."""
        if self.unreadable:
            return (f"The journal is unreadable ({self.unreadable}); the next run sets it aside and "
                    "rebuilds it from the files on disk.")
        if self.rebuild_pending:
            return f"The journal was rebuilt ({self.rebuild_pending}); finished work is re-derived from disk."
        return None


def read_journal(root: Path) -> JournalView:
    """Read a root's journal without writing anything (works on a read-only root or a full disk)."""
    try:
        journal = Journal(root, readonly=True)
    except FileNotFoundError:
        return JournalView()
    except JournalUnreadable as exc:
        return JournalView(unreadable=str(exc))
    except sqlite3.Error as exc:
        return JournalView(unreadable=f"{type(exc).__name__}: {exc}")
    try:
        return JournalView(journal.all(), journal.last_run_args(), rebuild_pending=journal.rebuild_pending)
    except (sqlite3.Error, ValueError, TypeError) as exc:
        return JournalView(unreadable=f"{type(exc).__name__}: {exc}")
    finally:
        journal.close()


def read_last_run(root: Path) -> list[str] | None:
    """The components the last run on ``root`` asked for, or None (no journal, no run)."""
    args = read_journal(root).last_run_args
    components = args.get("components") if args else None
    return [str(c) for c in components] if isinstance(components, list) else None


def read_status(root: Path) -> list[JobRecord] | None:
    """The journal's records for ``root``, or None when the root has no (readable) journal."""
    return read_journal(root).records
