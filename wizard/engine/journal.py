"""The journal: one SQLite (WAL) file per data root recording every job's stage and bytes.

It lives in ``<root>/.sharegpt4v-setup/journal.sqlite`` next to a lock file; a second process on
the same root is refused while the first holds the lock. ``status`` reads the journal without
taking the lock. Writes are serialised by a mutex so any worker thread may record progress.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..paths import STATE_DIR_NAME
from .errors import Code, Problem, SetupError

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


def state_dir(root: Path) -> Path:
    return root / STATE_DIR_NAME


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


class RootLock:
    """An exclusive advisory lock on a data root, held for the life of a run."""

    def __init__(self, root: Path) -> None:
        self.path = state_dir(root) / "lock"
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            _lock_file(fh)
        except OSError as exc:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise SetupError(
                Code.ROOT_LOCKED,
                f"Another sharegpt4v-setup ({holder}) is already working on {self.path.parent.parent}.",
                "Wait for it to finish or stop it; two runs on one root would corrupt each other.",
            ) from exc
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            _unlock_file(self._fh)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> RootLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows builds only
    import msvcrt

    def _lock_file(fh: IO[str]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock_file(fh: IO[str]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock_file(fh: IO[str]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock_file(fh: IO[str]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class Journal:
    """Thread-safe access to the journal database of one data root."""

    def __init__(self, root: Path, *, create: bool = True) -> None:
        self.root = root
        self.path = state_dir(root) / "journal.sqlite"
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise FileNotFoundError(self.path)
        self._mutex = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
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
            info = json.loads(row[0]) if row else {}
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
        return json.loads(row[0]) if row else None

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
    (jid, stage, source, done, total, code, message, hint, info, updated) = row
    problem = Problem(Code(code), message or "", hint or "") if code else None
    return JobRecord(jid, stage, source, done, total, problem, json.loads(info or "{}"), updated)


def read_last_run(root: Path) -> list[str] | None:
    """The components the last run on ``root`` asked for, or None (no journal, no run)."""
    try:
        journal = Journal(root, create=False)
    except FileNotFoundError:
        return None
    try:
        args = journal.last_run_args()
    finally:
        journal.close()
    components = args.get("components") if args else None
    return [str(c) for c in components] if isinstance(components, list) else None


def read_status(root: Path) -> list[JobRecord] | None:
    """The journal's records for ``root``, or None when the root has no journal."""
    try:
        journal = Journal(root, create=False)
    except FileNotFoundError:
        return None
    try:
        return journal.all()
    finally:
        journal.close()
