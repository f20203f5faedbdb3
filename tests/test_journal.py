"""The journal heals itself and reads without writing; the lock and the app's own files are never
followed through links (units; the end-to-end cases are in test_hostile.py)."""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path

import pytest

from wizard.engine.errors import Code, SetupError
from wizard.engine.journal import SCHEMA_VERSION, Journal, JournalUnreadable, journal_path, read_journal
from wizard.engine.rootlock import RootLock
from wizard.engine.safefs import open_private, open_private_file, read_regular, write_text_atomic
from wizard.failures import EXIT_FAILED, problem_for


def make_journal(root: Path) -> None:
    journal = Journal(root)
    journal.set_stage("coco-train2017", "done", source="test")
    journal.update_info("coco-train2017", items_done=["train2017.zip"])
    journal.record_run({"components": ["coco-train2017"]})
    journal.close()


def test_a_root_without_journal_reads_as_none_and_nothing_is_created(tmp_path: Path) -> None:
    view = read_journal(tmp_path)
    assert view.records is None and view.unreadable is None and view.note is None
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError):
        Journal(tmp_path, readonly=True)


def test_a_healthy_journal_reads_read_only(tmp_path: Path) -> None:
    make_journal(tmp_path)
    view = read_journal(tmp_path)
    assert [r.id for r in view.records or []] == ["coco-train2017"]
    assert view.last_run_args == {"components": ["coco-train2017"]}
    journal = Journal(tmp_path, readonly=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            journal.set_stage("gqa", "done")
    finally:
        journal.close()
    assert sqlite3.connect(journal_path(tmp_path)).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.parametrize(("statement", "words"), [
    ("UPDATE jobs SET error_code='nope'", "unknown error code 'nope'"),
    ("UPDATE jobs SET stage='flying'", "unknown stage 'flying'"),
    ("UPDATE jobs SET info='\"text\"'", "not a JSON object"),
    ("UPDATE jobs SET bytes_done='many'", "not integers"),
    ("UPDATE runs SET args='[]'", "not a JSON object"),
    (f"PRAGMA user_version={SCHEMA_VERSION + 1}", "newer version"),
])
def test_values_this_version_does_not_know_make_the_journal_unreadable(
        tmp_path: Path, statement: str, words: str) -> None:
    make_journal(tmp_path)
    db = sqlite3.connect(journal_path(tmp_path))
    db.execute(statement)
    db.commit()
    db.close()
    with pytest.raises(JournalUnreadable, match=words):
        Journal(tmp_path, readonly=True)
    assert words in (read_journal(tmp_path).unreadable or "")


def test_a_damaged_journal_is_set_aside_and_a_fresh_one_waits_for_its_rebuild(tmp_path: Path) -> None:
    make_journal(tmp_path)
    path = journal_path(tmp_path)
    damaged = os.urandom(path.stat().st_size)
    path.write_bytes(damaged)
    journal = Journal(tmp_path)
    try:
        assert journal.healed and journal.set_aside_as is not None
        assert journal.set_aside_as.read_bytes() == damaged  # kept, for a bug report
        assert journal.all() == [] and journal.rebuild_pending == journal.healed
        assert read_journal(tmp_path).rebuild_pending == journal.healed
        journal.rebuild_finished()
        assert journal.rebuild_pending is None
    finally:
        journal.close()
    again = Journal(tmp_path)
    assert again.healed is None
    again.close()


def test_the_lock_survives_its_file_being_replaced(tmp_path: Path) -> None:
    with RootLock(tmp_path) as held:
        assert held.path.read_text() == f"pid {os.getpid()} on {socket.gethostname()}"
        held.path.unlink()
        held.path.symlink_to(tmp_path / "elsewhere")
        with pytest.raises(SetupError) as refused:
            RootLock(tmp_path).acquire()
        assert refused.value.problem.code == Code.ROOT_LOCKED
    assert not (tmp_path / "elsewhere").exists()


def test_private_files_replace_links_and_fifos_and_keep_regular_files(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "x.part"
    link.symlink_to(victim)
    with open_private_file(link, "ab") as fh:
        fh.write(b"new")
    assert victim.read_text() == "keep" and link.read_bytes() == b"new" and not link.is_symlink()
    with open_private_file(link, "ab") as fh:  # a regular file is appended to
        fh.write(b"+")
    assert link.read_bytes() == b"new+"
    fifo = tmp_path / "f.tmp"
    os.mkfifo(fifo)
    os.close(open_private(fifo, truncate=True))
    assert fifo.is_file()
    meta = tmp_path / "x.part.json"
    (tmp_path / "x.part.json.tmp").symlink_to(victim)
    write_text_atomic(meta, "{}")
    assert meta.read_text() == "{}" and victim.read_text() == "keep"
    folder = tmp_path / "d.part"
    folder.mkdir()
    with pytest.raises(IsADirectoryError):
        open_private(folder)


def test_user_files_are_size_checked_and_must_be_regular(tmp_path: Path) -> None:
    small = tmp_path / "links.tsv"
    small.write_bytes(b"file_name\tcdn_link\n")
    assert read_regular(small, 100, "the links file") == b"file_name\tcdn_link\n"
    with pytest.raises(ValueError, match="at most 10"):
        read_regular(small, 10, "the links file")
    with pytest.raises(OSError, match="not a regular file"):
        read_regular(Path("/dev/zero"), 100, "the links file")


def test_a_journal_this_user_cannot_write_is_a_permission_problem_not_damage(tmp_path: Path) -> None:
    """SQLite opens a journal it may not write (another user's, e.g. after a run with sudo)
    read-only; the first write fails. That is a permission problem, not a damaged journal."""
    make_journal(tmp_path)
    db = sqlite3.connect(journal_path(tmp_path).absolute().as_uri() + "?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as caught:
        db.execute("INSERT INTO meta(key, value) VALUES('k', 'v')")
    db.close()
    problem, code = problem_for(caught.value, tmp_path)
    assert problem.code == Code.ROOT_NOT_WRITABLE and code == EXIT_FAILED
    assert "permissions" in problem.hint and "sets a damaged journal aside" not in problem.hint


def test_a_journal_another_program_holds_is_a_lock_problem_not_damage(tmp_path: Path) -> None:
    make_journal(tmp_path)
    holder = sqlite3.connect(journal_path(tmp_path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # e.g. a SQLite browser with a write pending
    db = sqlite3.connect(journal_path(tmp_path), timeout=0)
    try:
        with pytest.raises(sqlite3.OperationalError) as caught:
            db.execute("INSERT INTO meta(key, value) VALUES('k', 'v')")
    finally:
        db.close()
        holder.close()
    problem, code = problem_for(caught.value, tmp_path)
    assert problem.code == Code.ROOT_LOCKED and code == EXIT_FAILED
    assert "Close the program" in problem.hint and "damaged" not in problem.hint
