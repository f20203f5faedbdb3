"""Hostile inputs (issue 11): third-party catalogs, odd files, damaged state, a broken environment.

Every test drives the real CLI (``wizard.cli.main``) against servers on 127.0.0.1 and checks three
things: the exit code, the coded message on stderr (never a traceback), and that nothing outside
the data root changed — a canary folder beside the root is snapshotted before and compared after.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import sqlite3
import stat
import subprocess
import tomllib
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from test_diskspace import ballast, small_fs  # noqa: F401 - small_fs is a fixture

from wizard.cli import main
from wizard.demo import MirrorServer, World
from wizard.demo.session import tree_of
from wizard.demo.world import dumps_toml
from wizard.engine.errors import Code, SetupError
from wizard.engine.journal import journal_path
from wizard.engine.rootlock import RootLock

CHEAP = ["json-sft", "coco-train2017", "gqa"]  # http + hub components of the demo world


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------
def snapshot(top: Path, skip: Path) -> dict[str, str]:
    """Every entry under ``top`` except the ``skip`` subtree: type and content hash / link target."""
    found: dict[str, str] = {}
    for dirpath, dirs, files in os.walk(top):
        here = Path(dirpath)
        dirs[:] = [d for d in dirs if here / d != skip]
        for name in dirs + files:
            path = here / name
            rel = str(path.relative_to(top))
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = "link:" + os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[rel] = oct(stat.S_IFMT(st.st_mode))
    return found


class Sandbox:
    """A data root and, beside it, a canary folder whose contents must never change."""

    def __init__(self, tmp_path: Path) -> None:
        self.top = tmp_path
        self.root = tmp_path / "root"
        self.canary = tmp_path / "canary"
        self.canary.mkdir()
        (self.canary / "victim.txt").write_text("precious\n")
        (self.canary / "x.zip").write_bytes(b"not yours")
        self.before = snapshot(tmp_path, self.root)

    def refresh(self) -> None:
        """Take the reference snapshot again (after the test wrote its own inputs)."""
        self.before = snapshot(self.top, self.root)

    def assert_outside_unchanged(self) -> None:
        assert snapshot(self.top, self.root) == self.before


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def edited_catalog(world: World, base_url: str, path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    raw = tomllib.loads(world.catalog_text(base_url))
    edit(raw)
    path.write_text(dumps_toml(raw), encoding="utf-8")
    return path


def component(raw: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in raw["component"] if c["id"] == cid)


def run_args(catalog: Path, mirror: MirrorServer, root: Path, comps: list[str], *extra: str | Path) -> list[Any]:
    return ["run", "--catalog", catalog, "--hf-endpoint", mirror.base_url, "--root", root,
            "--components", ",".join(comps), "--yes", "--quiet", *extra]


# ------------------------------------------------------------------------------------------
# Catalogs written by someone else
# ------------------------------------------------------------------------------------------
def _set_source(cid: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        component(raw, cid)["source"][0][key] = value
    return edit


def _set_component(cid: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        component(raw, cid)[key] = value
    return edit


def _set_layout(cid: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        component(raw, cid).setdefault("layout", {})[key] = value
    return edit


HOSTILE = {
    "filename-parent": (_set_source("coco-train2017", "filename", "../../../canary/x.zip"), "'filename'",
                        "separator"),
    "filename-folder": (_set_source("coco-train2017", "filename", "sub/x.zip"), "'filename'", "separator"),
    "filename-absolute": (_set_source("coco-train2017", "filename", "/tmp/x.zip"), "'filename'", "separator"),
    "filename-backslash": (_set_source("coco-train2017", "filename", "..\\..\\x.zip"), "'filename'", "separator"),
    "filename-drive": (_set_source("coco-train2017", "filename", "C:x.zip"), "'filename'", "Windows"),
    "filename-reserved": (_set_source("coco-train2017", "filename", "CON.zip"), "'filename'", "reserved"),
    "filename-nul": (_set_source("coco-train2017", "filename", "x\x00.zip"), "'filename'", "control"),
    "filename-too-long": (_set_source("coco-train2017", "filename", "x" * 300 + ".zip"), "'filename'", "bytes"),
    "url-derived-name": (_set_source("coco-train2017", "url", "http://127.0.0.1:9/.."), "saved as", "'..'"),
    "url-scheme": (_set_source("coco-train2017", "url", "file:///etc/passwd"), "'url'", "http"),
    "hub-path": (_set_source("json-sft", "path", "../../x.json"), "'path'", "'..'"),
    "size-zero": (_set_source("coco-train2017", "size", 0), "'size'", "between 1 and"),
    "size-huge": (_set_source("coco-train2017", "size", 1 << 62), "'size'", "between 1 and"),  # "fits", said the plan
    "extracted-huge": (_set_component("coco-train2017", "approx_extracted", 1 << 62), "'approx_extracted'",
                       "between 0 and"),
    "target-parent": (_set_component("coco-train2017", "target", "../canary"), "'target'", "'..'"),
    "target-absolute": (_set_component("coco-train2017", "target", "/etc/coco"), "'target'", "absolute"),
    "target-drive": (_set_component("coco-train2017", "target", "C:/coco"), "'target'", "absolute"),
    "target-state": (_set_component("coco-train2017", "target", ".sharegpt4v-setup/downloads"), "'target'",
                     "state folder"),
    "target-state-case": (_set_component("coco-train2017", "target", ".ShareGPT4V-Setup"), "'target'",
                          "state folder"),
    "target-backslash": (_set_component("coco-train2017", "target", "coco\\train2017"), "'target'", "backslash"),
    "target-reserved": (_set_component("coco-train2017", "target", "coco/aux"), "'target'", "reserved"),
    "target-chars": (_set_component("coco-train2017", "target", "coco/a|b"), "'target'", "Windows"),
    "strip-parent": (_set_layout("coco-train2017", "strip", "../"), "'strip'", "'..'"),
    "hub-endpoint-scheme": (lambda raw: raw.setdefault("hub", {}).update(endpoint="ftp://example.org"),
                            "'endpoint'", "http"),
    "drive-url-scheme": (lambda raw: raw.setdefault("drive", {}).update(file_url="javascript:{id}"),
                         "'file_url'", "http"),
    "component-id": (_set_component("gqa", "id", "../gqa"), "id", "separator"),
    "sam-format-broken": (_set_source("sam-tars", "name_format", "sa_{oops}.tar"), "name_format", "does not format"),
    "sam-format-spec": (_set_source("sam-tars", "name_format", "sa_{index:q}.tar"), "name_format",
                        "does not format"),
    "sam-format-escape": (_set_source("sam-tars", "name_format", "../sa_{index}.tar"), "name_format", "refused"),
    "sam-format-constant": (_set_source("sam-tars", "name_format", "sa.tar"), "name_format", "same name"),
    "sam-range": (_set_source("sam-tars", "last", 100000), "'last'", "between 0 and 999"),
    "sam-negative": (_set_source("sam-tars", "first", -1), "'first'", "at least 0"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_catalog_value_is_refused_before_anything_is_written(
        case: str, box: Sandbox, world: World, mirror: MirrorServer, capsys: pytest.CaptureFixture[str]) -> None:
    edit, key, why = HOSTILE[case]
    cat = edited_catalog(world, mirror.base_url, box.canary.parent / "cat.toml", edit)
    box.refresh()
    code, _out, err = cli(capsys, *run_args(cat, mirror, box.root, ["coco-train2017"]))
    assert code == 2
    assert f"[{Code.CATALOG_INVALID}]" in err and key in err and why in err, err
    assert "hint:" in err
    assert not box.root.exists() and mirror.requests == []
    box.assert_outside_unchanged()


def test_a_name_format_that_does_not_format_names_its_line(box: Sandbox, world: World, mirror: MirrorServer,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    text = world.catalog_text(mirror.base_url).replace('name_format = "sa_{index:06d}.tar"',
                                                       'name_format = "sa_{index:06d.tar"')
    cat = box.top / "cat.toml"
    cat.write_text(text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if t.strip().startswith("name_format"))
    code, _out, err = cli(capsys, "plan", "--catalog", cat, "--root", box.root, "--components", "sam-tars")
    assert code == 2
    assert f"line {line}:" in err and "does not format" in err


def test_a_catalog_filename_with_dotdot_and_a_local_copy_deletes_nothing_outside(
        box: Sandbox, world: World, mirror: MirrorServer, capsys: pytest.CaptureFixture[str]) -> None:
    cat = edited_catalog(world, mirror.base_url, box.top / "cat.toml",
                         _set_source("coco-train2017", "filename", "../../../canary/x.zip"))
    mine = box.top / "train2017.zip"
    mine.write_bytes(b"PK\x05\x06" + bytes(18))
    box.refresh()
    code, _out, err = cli(capsys, *run_args(cat, mirror, box.root, ["coco-train2017"],
                                           "--local", f"coco-train2017={mine}", "--local-mode", "move"))
    assert code == 2 and f"[{Code.CATALOG_INVALID}]" in err
    box.assert_outside_unchanged()


# ------------------------------------------------------------------------------------------
# Links files and local copies that are not regular files
# ------------------------------------------------------------------------------------------
@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "canary" / "links.fifo"
    os.mkfifo(path)
    yield path


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "huge"])
def test_a_links_file_that_is_no_regular_file_is_a_coded_problem(
        kind: str, box: Sandbox, demo_catalog: Path, mirror: MirrorServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    if kind == "dev-zero":
        links = Path("/dev/zero")
    elif kind == "fifo":
        links = box.canary / "links.fifo"
        os.mkfifo(links)
    else:
        links = box.canary / "links.tsv"
        with open(links, "wb") as fh:  # a sparse 1 GB file: size-checked before it is read
            fh.truncate(1 << 30)
    box.refresh()
    code, _out, err = cli(capsys, *run_args(demo_catalog, mirror, box.root, ["sam-tars"], "--sam-links", links))
    assert code == 1, err  # the job fails with the links file's problem; other jobs would go on
    assert f"[{Code.SAM_LINKS_INVALID}]" in err
    assert ("not a regular file" in err) if kind != "huge" else ("bytes" in err)
    assert not any(r.path.endswith(".tar") for r in mirror.requests)
    box.assert_outside_unchanged()


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_a_local_copy_that_is_no_regular_file_is_a_coded_problem(
        kind: str, box: Sandbox, demo_catalog: Path, mirror: MirrorServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    if kind == "fifo":
        local = box.canary / "coco.fifo"
        os.mkfifo(local)
    else:
        local = Path("/dev/zero")
    box.refresh()
    code, _out, err = cli(capsys, *run_args(demo_catalog, mirror, box.root, ["coco-train2017"],
                                           "--local", f"coco-train2017={local}"))
    assert code == 1
    assert f"[{Code.LOCAL_INVALID}]" in err and "not a regular file or a folder" in err
    assert mirror.requests == []
    box.assert_outside_unchanged()


def test_local_for_an_unknown_component_is_refused(box: Sandbox, demo_catalog: Path, mirror: MirrorServer,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    box.refresh()
    code, _out, err = cli(capsys, *run_args(demo_catalog, mirror, box.root, ["coco-train2017"],
                                           "--local", f"coco-train2071={box.canary / 'x.zip'}"))
    assert code == 2
    assert f"[{Code.UNKNOWN_COMPONENT}]" in err and "coco-train2017" in err
    assert mirror.requests == []
    box.assert_outside_unchanged()


def test_a_root_under_an_unknown_users_home_is_a_coded_problem(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = cli(capsys, "plan", "--root", "~nosuchuser-sharegpt4v/x", "--preset", "sft")
    assert code == 2
    assert f"[{Code.ROOT_MISSING}]" in err and "~nosuchuser-sharegpt4v/x" in err and "hint:" in err


# ------------------------------------------------------------------------------------------
# A damaged journal heals itself
# ------------------------------------------------------------------------------------------
def damage_journal(root: Path, kind: str) -> None:
    path = journal_path(root)
    for side in ("-wal", "-shm"):  # a cleanly closed journal has none; be sure
        assert not path.with_name(path.name + side).exists()
    if kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "random":
        path.write_bytes(os.urandom(len(path.read_bytes())))
    elif kind == "empty":  # zero bytes: what a crash can leave of a file on some filesystems
        path.write_bytes(b"")
    elif kind in ("folder", "fifo", "link"):  # no file at all where the journal should be
        path.unlink()
        {"folder": path.mkdir, "fifo": lambda: os.mkfifo(path),
         "link": lambda: path.symlink_to(root.parent / "canary" / "victim.txt")}[kind]()
    else:
        db = sqlite3.connect(path)
        statement = {"unknown-code": "UPDATE jobs SET error_code='from-the-future' WHERE rowid=1",
                     "unknown-stage": "UPDATE jobs SET stage='teleporting' WHERE rowid=1",
                     "bad-info": "UPDATE jobs SET info='[1, 2' WHERE rowid=1",
                     "deep-info": f"UPDATE jobs SET info='{'[' * 100_000}{']' * 100_000}' WHERE rowid=1",
                     "newer-schema": "PRAGMA user_version=99"}[kind]
        db.execute(statement)
        db.commit()
        db.close()


def source_paths(catalog: Path) -> dict[str, str]:
    """Each component's URL path on the mirror (http sources)."""
    raw = tomllib.loads(catalog.read_text())
    return {c["id"]: urlsplit(c["source"][0]["url"]).path for c in raw["component"]
            if c["source"][0].get("url")}


@pytest.mark.parametrize("kind", ["truncated", "random", "empty", "folder", "fifo", "link", "unknown-code",
                                  "unknown-stage", "bad-info", "deep-info", "newer-schema"])
def test_a_damaged_journal_is_set_aside_and_rebuilt_and_nothing_is_fetched_again(
        kind: str, box: Sandbox, world: World, demo_catalog: Path, mirror: MirrorServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, *run_args(demo_catalog, mirror, box.root, CHEAP))[0] == 0
    tree = snapshot(box.root, box.root / ".sharegpt4v-setup")
    verify_code = cli(capsys, "verify", "--root", box.root)[0]
    damage_journal(box.root, kind)
    mirror.clear_requests()
    box.refresh()

    code, _out, err = cli(capsys, "status", "--root", box.root)
    assert code == 0 and "unreadable" in err and "rebuilds it" in err
    code, out, _err = cli(capsys, "plan", "--catalog", demo_catalog, "--root", box.root,
                          "--components", ",".join(CHEAP))
    assert code == 0
    assert all(f"{cid:<16} done" in out for cid in CHEAP), out
    assert cli(capsys, "verify", "--root", box.root)[0] == verify_code
    assert list(journal_path(box.root).parent.glob("journal.sqlite.broken-*")) == []  # read-only so far

    code, out, err = cli(capsys, *run_args(demo_catalog, mirror, box.root, CHEAP))
    assert code == 0
    assert "set aside as journal.sqlite.broken-" in err and "3 component(s) proven in place" in err
    kept = [p for p in journal_path(box.root).parent.glob("journal.sqlite.broken-*")
            if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1
    assert snapshot(box.root, box.root / ".sharegpt4v-setup") == tree
    assert mirror.requests == []  # every file was already in place: not one byte fetched again
    code, out, err = cli(capsys, "status", "--root", box.root)
    assert code == 0 and err == ""
    assert all(line.split()[1] == "done" for line in out.splitlines() if line.split()[0] in CHEAP)
    box.assert_outside_unchanged()


def test_after_a_damaged_journal_a_partial_download_resumes_and_finished_files_are_not_fetched(
        box: Sandbox, world: World, demo_catalog: Path, mirror: MirrorServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    from helpers import fast_settings

    from wizard.demo.server import Fault
    from wizard.engine.catalog import load_catalog
    from wizard.engine.plan import build_plan
    from wizard.engine.runner import Runner

    reference = box.top / "reference"  # the tree an undisturbed run leaves
    assert cli(capsys, *run_args(demo_catalog, mirror, reference, CHEAP))[0] == 0
    paths = source_paths(demo_catalog)
    gqa_size = (world.docroot / paths["gqa"].lstrip("/")).stat().st_size
    mirror.add_fault(paths["gqa"], Fault(drop_after=gqa_size // 2, times=None, methods=("GET",)))
    catalog = load_catalog(demo_catalog)
    settings = fast_settings(retries=0, hf_endpoint=mirror.base_url, chunk_size=1024)
    box.root.mkdir()
    result = Runner(build_plan(box.root, catalog, catalog.resolve(None, CHEAP), settings), catalog,
                    settings).run()
    assert sorted(result.done) == ["coco-train2017", "json-sft"] and list(result.failed) == ["gqa"]
    part = next((box.root / ".sharegpt4v-setup/downloads").glob("*.part"))
    have = part.stat().st_size
    assert 0 < have < gqa_size
    damage_journal(box.root, "random")
    mirror.clear_faults()
    mirror.clear_requests()

    code, _out, err = cli(capsys, *run_args(demo_catalog, mirror, box.root, CHEAP))
    assert code == 0, err
    assert "2 component(s) proven in place" in err
    assert tree_of(box.root) == tree_of(reference)
    assert snapshot(box.root, box.root / ".sharegpt4v-setup") == snapshot(reference, reference / ".sharegpt4v-setup")
    fetched = [r for r in mirror.requests if r.method == "GET"]
    assert [r.path for r in fetched] == [paths["gqa"]]  # nothing for the files already in place
    assert fetched[0].headers.get("Range") == f"bytes={have}-" and fetched[0].status == 206


def test_a_journal_that_is_a_symlink_is_never_followed(box: Sandbox, demo_catalog: Path, mirror: MirrorServer,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    state = box.root / ".sharegpt4v-setup"
    state.mkdir(parents=True)
    (state / "journal.sqlite").symlink_to(box.canary / "victim.txt")
    box.refresh()
    code, _out, err = cli(capsys, "status", "--root", box.root)
    assert code == 0 and "unreadable (it is a symbolic link (never followed))" in err  # not read through
    code, _out, err = cli(capsys, *run_args(demo_catalog, mirror, box.root, ["coco-train2017"]))
    assert code == 0, err
    assert not (state / "journal.sqlite").is_symlink()
    box.assert_outside_unchanged()


# ------------------------------------------------------------------------------------------
# The lock, .part files and the demo root
# ------------------------------------------------------------------------------------------
def test_deleting_the_lock_file_during_a_run_does_not_let_a_second_run_in(
        box: Sandbox, demo_catalog: Path, mirror: MirrorServer, capsys: pytest.CaptureFixture[str]) -> None:
    box.root.mkdir()
    with RootLock(box.root) as first:
        code, _out, err = cli(capsys, *run_args(demo_catalog, mirror, box.root, ["coco-train2017"]))
        assert code == 2 and f"(pid {os.getpid()} on {socket.gethostname()})" in err  # the root may be on a shared disk
        first.path.unlink()  # someone "cleans up" the lock file mid-run
        with pytest.raises(SetupError) as refused:
            RootLock(box.root).acquire()
        assert refused.value.problem.code == Code.ROOT_LOCKED
        code, _out, err = cli(capsys, *run_args(demo_catalog, mirror, box.root, ["coco-train2017"]))
        assert code == 2 and f"[{Code.ROOT_LOCKED}]" in err
        first.path.write_text("replaced")  # a new file at the name: still refused
        with pytest.raises(SetupError):
            RootLock(box.root).acquire()
    RootLock(box.root).acquire()  # released: the next run may start
    assert not any(r.method == "GET" for r in mirror.requests)


def test_a_filesystem_that_refuses_locks_is_not_called_another_run(
        box: Sandbox, demo_catalog: Path, mirror: MirrorServer, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """NFS without its lock service answers flock with ENOLCK: that is no run holding the root (the
    lock file still names the last run's pid)."""
    import errno

    from wizard.engine import rootlock

    code, _out, err = cli(capsys, *run_args(demo_catalog, mirror, box.root, ["coco-train2017"]))
    assert code == 0, err

    def no_locks(fd: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(rootlock, "_flock", no_locks)
    monkeypatch.setattr(rootlock, "_lock_fd", no_locks)
    code, _out, err = cli(capsys, *run_args(demo_catalog, mirror, box.root, ["gqa"]))
    assert code != 0
    assert "Another sharegpt4v-setup" not in err and f"[{Code.ROOT_LOCKED}]" not in err
    assert "refuses file locks" in err and "local_lock=all" in err


def test_a_lock_that_is_a_symlink_is_not_followed(box: Sandbox, demo_catalog: Path, mirror: MirrorServer,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    state = box.root / ".sharegpt4v-setup"
    state.mkdir(parents=True)
    (state / "lock").symlink_to(box.canary / "victim.txt")
    box.refresh()
    code, _out, err = cli(capsys, *run_args(demo_catalog, mirror, box.root, ["coco-train2017"]))
    assert code == 0, err
    assert (state / "lock").is_file() and not (state / "lock").is_symlink()
    box.assert_outside_unchanged()


@pytest.mark.parametrize("what", ["part", "sidecar", "fifo", "drive-part"])
def test_a_part_file_that_is_a_symlink_or_fifo_is_not_followed(
        what: str, box: Sandbox, world: World, demo_catalog: Path, mirror: MirrorServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    from wizard.engine.catalog import load_catalog

    cid = "sam-9k" if what == "drive-part" else "coco-train2017"
    name = load_catalog(demo_catalog).component(cid).sources[0].file_name
    downloads = box.root / ".sharegpt4v-setup" / "downloads"
    downloads.mkdir(parents=True)
    suffix = {"part": ".part", "sidecar": ".part.json", "fifo": ".part", "drive-part": "AbCdEfGh.part"}[what]
    planted = downloads / (name + suffix)  # gdown resumes any <name><8 chars>.part it finds
    if what == "fifo":
        os.mkfifo(planted)
    else:
        planted.symlink_to(box.canary / "victim.txt")
    box.refresh()
    reference = box.top / "reference"
    code, _out, err = cli(capsys, *run_args(demo_catalog, mirror, box.root, [cid]))
    assert code == 0, err
    box.assert_outside_unchanged()
    assert not planted.is_symlink()
    assert cli(capsys, *run_args(demo_catalog, mirror, reference, [cid]))[0] == 0
    target = load_catalog(demo_catalog).component(cid).target
    assert snapshot(box.root / target, box.root / "-") == snapshot(reference / target, reference / "-")


def test_the_demo_root_defaults_to_the_users_cache_folder(platformdirs_isolated: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from wizard.paths import default_demo_root

    assert default_demo_root().is_relative_to(platformdirs_isolated)
    dev = (Path(__file__).resolve().parent.parent / "dev.sh").read_text()
    assert "/tmp" not in dev and "default_demo_root" in dev
    code, out, _err = cli(capsys, "plan", "--demo", "--preset", "sft")
    assert code == 0 and f"Data root: {default_demo_root()}" in out
    with pytest.raises(SystemExit) as usage:  # without --demo a root must be given
        main(["plan", "--preset", "sft"])
    assert usage.value.code == 2 and "--root" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------
# A read-only root and a full disk: status, plan and verify still answer
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("journal", ["healthy", "damaged"])
@pytest.mark.parametrize("disk", ["read-only", "full"])
def test_status_plan_and_verify_work_on_a_read_only_root_or_a_full_disk(
        disk: str, journal: str, small_fs: Path, demo_catalog: Path, mirror: MirrorServer,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    root = small_fs / "root"
    assert cli(capsys, *run_args(demo_catalog, mirror, root, CHEAP, "--force", "--min-free", "0"))[0] == 0
    verify_code, verify_out, _ = cli(capsys, "verify", "--root", root)
    if journal == "damaged":
        damage_journal(root, "random")
    if disk == "read-only":
        done = subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr
    else:
        ballast(small_fs, 0)
    before = snapshot(small_fs, small_fs / "ballast")

    code, out, err = cli(capsys, "status", "--root", root)
    assert code == 0
    if journal == "damaged":
        assert "unreadable" in err and out == ""
    else:
        assert err == "" and all(f"{cid:<16} done" in out for cid in CHEAP), out
    code, out, err = cli(capsys, "plan", "--catalog", demo_catalog, "--root", root, "--components", ",".join(CHEAP))
    assert code == 0, err
    assert all(f"{cid:<16} done" in out for cid in CHEAP), out
    code, out, _err = cli(capsys, "verify", "--root", root)
    assert code == verify_code and out.splitlines()[:3] == verify_out.splitlines()[:3]
    if disk == "read-only":
        assert snapshot(small_fs, small_fs / "ballast") == before  # nothing written
    else:
        code, _out, err = cli(capsys, *run_args(demo_catalog, mirror, root, [*CHEAP, "textvqa"], "--force",
                                                "--min-free", "0"))
        # a run needs room for its journal: a coded problem, and a damaged journal stays where it
        # is (set aside only once there is room for the fresh one)
        assert code == 3 and f"[{Code.NO_SPACE}]" in err, err
        assert list(journal_path(root).parent.glob("*.broken-*")) == []


# ------------------------------------------------------------------------------------------
# A tree in the way, names too long, a source that is down: coded problems with hints
# ------------------------------------------------------------------------------------------
def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[MirrorServer]:
    (tmp_path / "srv").mkdir()
    with MirrorServer(tmp_path / "srv") as server:
        yield server


def serve_coco(world: World, server: MirrorServer, path: Path, data: bytes) -> Path:
    """A catalog whose coco-train2017 is ``data``, served by ``server``."""
    (server.docroot / "coco.zip").write_bytes(data)

    def edit(raw: dict[str, Any]) -> None:
        comp = component(raw, "coco-train2017")
        comp["source"] = [{"kind": "http", "label": "test", "url": server.url("/coco.zip"), "size": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()}]
        comp["file_count"] = 2
    return edited_catalog(world, server.base_url, path, edit)


JPEG = b"\xff\xd8\xff\xe0" + bytes(200) + b"\xff\xd9"


@pytest.mark.parametrize("case", ["target-is-a-file", "member-over-folder", "name-too-long"])
def test_a_tree_in_the_way_is_a_coded_problem(case: str, box: Sandbox, world: World, own_server: MirrorServer,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    members = {"train2017/000000000009.jpg": JPEG, "train2017/000000000025.jpg": JPEG}
    if case == "name-too-long":
        members["train2017/" + "n" * 300 + ".jpg"] = JPEG
    cat = serve_coco(world, own_server, box.top / "cat.toml", zip_of(members))
    box.root.mkdir()
    if case == "target-is-a-file":
        (box.root / "coco").write_text("a file where the folder belongs")
    elif case == "member-over-folder":
        (box.root / "coco/train2017/000000000025.jpg").mkdir(parents=True)
    box.refresh()
    code, _out, err = cli(capsys, "run", "--catalog", cat, "--root", box.root, "--components", "coco-train2017",
                          "--yes", "--quiet", "--full-archives")
    expected = {"target-is-a-file": Code.PATH_BLOCKED, "member-over-folder": Code.PATH_BLOCKED,
                "name-too-long": Code.NAME_TOO_LONG}[case]
    assert code == 1, err
    assert f"[{expected}]" in err and "hint:" in err and f"[{Code.INTERNAL}]" not in err, err
    box.assert_outside_unchanged()


def test_an_answer_that_is_not_valid_http_is_named_as_such(box: Sandbox, world: World, own_server: MirrorServer,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A server whose every answer carries two different Content-Lengths (requests: InvalidHeader)
    was reported as "Cannot reach <host>: InvalidHeader." — a class name, not what happened."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 20\r\n"
                             b"Connection: close\r\n\r\n0123456789")

    threading.Thread(target=serve, daemon=True).start()
    data = zip_of({"train2017/000000000009.jpg": JPEG})

    def edit(raw: dict[str, Any]) -> None:
        component(raw, "coco-train2017")["source"] = [{"kind": "http", "label": "test", "size": len(data),
                                                       "url": f"http://127.0.0.1:{port}/coco.zip"}]
    cat = edited_catalog(world, own_server.base_url, box.top / "cat.toml", edit)
    box.refresh()
    try:
        code, _out, err = cli(capsys, "run", "--catalog", cat, "--root", box.root, "--components", "coco-train2017",
                              "--yes", "--quiet")
    finally:
        listener.close()
    assert code == 1, err
    assert f"[{Code.NETWORK}]" in err and "The answer from 127.0.0.1" in err and "not valid HTTP" in err, err
    assert "multiple unmatching values" in err and "Cannot reach" not in err, err
    assert "hint:" in err and f"[{Code.INTERNAL}]" not in err, err
    box.assert_outside_unchanged()


def test_repair_with_the_source_down_is_a_coded_problem(box: Sandbox, demo_catalog: Path, mirror: MirrorServer,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, *run_args(demo_catalog, mirror, box.root, CHEAP))[0] == 0
    victim = next((box.root / "coco/train2017").iterdir())
    victim.unlink()
    # one JSON naming COCO images only: repair goes on past a component whose source is down, and
    # the other components the SFT JSON names (all on this server) would each retry it in turn
    for old in (box.root / "sharegpt4v").glob("*.json"):
        old.unlink()
    (box.root / "sharegpt4v/coco-only.json").write_text(json.dumps(
        [{"id": p.name, "image": f"coco/train2017/{p.name}"} for p in [victim]]))
    endpoint = mirror.base_url
    mirror.stop()  # the source is down
    box.refresh()
    code, out, err = cli(capsys, "repair", "--catalog", demo_catalog, "--hf-endpoint", endpoint,
                         "--root", box.root)
    assert code == 1
    said = out + err  # the component's problem is in the repair's summary
    assert f"coco-train2017: [{Code.NETWORK}]" in said and f"Cannot reach {urlsplit(endpoint).netloc}" in said
    assert "hint:" in said, said
    assert not victim.exists()
    box.assert_outside_unchanged()


def test_a_full_disk_while_preallocating_segments_parks_the_job(
        small_fs: Path, box: Sandbox, world: World, own_server: MirrorServer,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    big = 64 << 20  # twice the 32 MB filesystem; sparse on the server's side
    with open(own_server.docroot / "coco.zip", "wb") as fh:
        fh.truncate(big)
    digest = hashlib.sha256(bytes(big)).hexdigest()

    def edit(raw: dict[str, Any]) -> None:
        component(raw, "coco-train2017")["source"] = [
            {"kind": "http", "label": "test", "url": own_server.url("/coco.zip"), "size": big, "sha256": digest}]
    cat = edited_catalog(world, own_server.base_url, box.top / "cat.toml", edit)
    root = small_fs / "root"
    before = snapshot(box.top, root)
    code, _out, err = cli(capsys, "run", "--catalog", cat, "--root", root, "--components", "coco-train2017",
                          "--yes", "--quiet", "--force", "--min-free", "0", "--segments", "2")
    assert code == 4, err
    assert f"WAITING coco-train2017: [{Code.NO_SPACE}]" in err and "hint:" in err
    assert snapshot(box.top, root) == before


# ------------------------------------------------------------------------------------------
# An unexpected error: one line naming the log, the traceback in the log
# ------------------------------------------------------------------------------------------
def _boom(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("boom: an unforeseen bug")


def test_an_unexpected_error_shows_one_line_and_writes_the_traceback_to_a_log(
        box: Sandbox, demo_catalog: Path, monkeypatch: pytest.MonkeyPatch, platformdirs_isolated: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("wizard.engine.plan.build_plan", _boom)  # cli imports it per command
    code, out, err = cli(capsys, "plan", "--catalog", demo_catalog, "--root", box.top, "--preset", "sft")
    assert code == 1 and out == ""
    first = err.splitlines()[0]
    assert first.startswith(f"[{Code.INTERNAL}] Unexpected error (RuntimeError: boom: an unforeseen bug).")
    log = Path(first.split("The details are in ")[1].rstrip("."))
    assert log.is_relative_to(platformdirs_isolated)
    text = log.read_text()
    assert "Traceback" in text and "boom: an unforeseen bug" in text and "_boom" in text


def test_an_unexpected_error_goes_to_the_run_log_when_there_is_one(
        box: Sandbox, demo_catalog: Path, monkeypatch: pytest.MonkeyPatch, platformdirs_isolated: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    run_log = box.top / "run-1.log"
    handler = logging.FileHandler(run_log, encoding="utf-8")
    logging.getLogger("wizard").addHandler(handler)
    try:
        monkeypatch.setattr("wizard.engine.plan.build_plan", _boom)  # cli imports it per command
        code, _out, err = cli(capsys, "plan", "--catalog", demo_catalog, "--root", box.top, "--preset", "sft")
    finally:
        logging.getLogger("wizard").removeHandler(handler)
        handler.close()
    assert code == 1 and f"The details are in {run_log}." in err
    assert "Traceback" in run_log.read_text() and "boom" in run_log.read_text()
    assert not any(platformdirs_isolated.rglob("crash-*.log"))


def test_the_wizard_maps_an_escaping_exception_to_a_problem_box(
        qtbot: Any, monkeypatch: pytest.MonkeyPatch, platformdirs_isolated: Path) -> None:
    from PySide6.QtWidgets import QMessageBox

    from wizard.gui import app

    shown: list[str] = []  # (app imports QMessageBox when it shows one: patched on the class)
    monkeypatch.setattr(QMessageBox, "critical", lambda _parent, _title, text: shown.append(text))
    try:
        _boom()
    except RuntimeError as exc:
        app.show_unexpected(type(exc), exc, exc.__traceback__)
    assert len(shown) == 1 and shown[0].startswith(f"[{Code.INTERNAL}] Unexpected error (RuntimeError: boom")
    log = Path(shown[0].split("The details are in ")[1].split(".\n")[0])
    assert "Traceback" in log.read_text()
    monkeypatch.setattr(app, "build_state", lambda **_kw: _boom())
    monkeypatch.setattr(app, "default_prefs_path", lambda: platformdirs_isolated / "settings.json")
    assert app.main() == 1
    assert len(shown) == 2 and f"[{Code.INTERNAL}]" in shown[1]


def test_a_whole_preset_is_proven_from_disk_after_the_journal_is_lost(
        box: Sandbox, demo_catalog: Path, sam_links: Path, mirror: MirrorServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    """SFT: Hub, http, Drive files and folders, OCR-VQA with its dead links; nothing is fetched again."""
    args = ["run", "--catalog", demo_catalog, "--hf-endpoint", mirror.base_url, "--root", box.root,
            "--preset", "sft", "--sam-links", sam_links, "--yes", "--quiet"]
    assert cli(capsys, *args)[0] == 0
    tree = snapshot(box.root, box.root / ".sharegpt4v-setup")
    damage_journal(box.root, "truncated")
    mirror.clear_requests()
    code, _out, err = cli(capsys, *args)
    assert code == 0, err
    assert "Rebuilt from the files on disk" in err
    assert mirror.requests == []
    assert snapshot(box.root, box.root / ".sharegpt4v-setup") == tree


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "folder", "binary"])
def test_a_catalog_that_is_no_text_file_is_a_coded_problem(kind: str, box: Sandbox,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    cat = {"dev-zero": Path("/dev/zero"), "fifo": box.canary / "cat.fifo", "folder": box.canary,
           "binary": box.canary / "cat.toml"}[kind]
    if kind == "fifo":
        os.mkfifo(cat)
    elif kind == "binary":
        cat.write_bytes(b"\xff\xfe\x00garbage")
    box.refresh()
    code, _out, err = cli(capsys, "plan", "--catalog", cat, "--root", box.root, "--preset", "sft")
    assert code == 2
    expected = {"dev-zero": "is a device", "fifo": "is a FIFO", "folder": "is a folder", "binary": "not UTF-8"}
    assert f"[{Code.CATALOG_INVALID}]" in err and expected[kind] in err
    box.assert_outside_unchanged()


@pytest.mark.parametrize("bomb", ["x = " + "[" * 50_000 + "]" * 50_000, "x = " + "{a=" * 5_000 + "1" + "}" * 5_000])
def test_a_catalog_nested_too_deeply_is_a_coded_problem(bomb: str, box: Sandbox, world: World, mirror: MirrorServer,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    cat = box.top / "cat.toml"
    cat.write_text(bomb + "\n" + world.catalog_text(mirror.base_url), encoding="utf-8")
    box.refresh()
    code, _out, err = cli(capsys, "plan", "--catalog", cat, "--root", box.root, "--preset", "sft")
    assert code == 2
    assert f"[{Code.CATALOG_INVALID}]" in err and "nested too deeply" in err
    box.assert_outside_unchanged()


@pytest.mark.parametrize("command", ["run", "plan", "demo-run", "status"])
def test_a_state_folder_that_is_a_symlink_is_refused(command: str, box: Sandbox, demo_catalog: Path,
                                                     mirror: MirrorServer, capsys: pytest.CaptureFixture[str]) -> None:
    box.root.mkdir()
    (box.root / ".sharegpt4v-setup").symlink_to(box.canary)
    box.refresh()
    if command == "status":  # it said "no journal" (root-missing), or read a journal wherever the link led
        args: list[Any] = ["status", "--root", box.root]
    elif command == "demo-run":
        args = ["run", "--demo", "--root", box.root, "--components", "coco-train2017", "--yes"]
    elif command == "run":
        args = run_args(demo_catalog, mirror, box.root, ["coco-train2017"])
    else:
        args = ["plan", "--catalog", demo_catalog, "--root", box.root, "--components", "coco-train2017"]
    code, _out, err = cli(capsys, *args)
    assert code == 2
    assert f"[{Code.PATH_BLOCKED}]" in err and "is a symbolic link" in err
    box.assert_outside_unchanged()


@pytest.mark.parametrize("command", ["run", "verify"])
@pytest.mark.parametrize("folder", ["", "downloads", "reports", "logs", "index"])
def test_a_state_folder_or_subfolder_that_is_a_symlink_is_never_written_through(
        folder: str, command: str, box: Sandbox, demo_catalog: Path, mirror: MirrorServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, _err = cli(capsys, *run_args(demo_catalog, mirror, box.root, ["json-sft", "coco-train2017"],
                                             "--keep-archives"))
    assert code == 0
    for image in (box.root / "coco" / "train2017").iterdir():
        image.unlink()  # work for the next run (archive, members index, log) and a report for verify
    state = box.root / ".sharegpt4v-setup"
    link = state / folder if folder else state
    link.mkdir(exist_ok=True)
    os.rename(link, box.top / "moved")
    link.symlink_to(box.canary, target_is_directory=True)
    box.refresh()
    if command == "run":
        args: list[Any] = run_args(demo_catalog, mirror, box.root, ["json-sft", "coco-train2017"], "--keep-archives")
    else:
        args = ["verify", "--catalog", demo_catalog, "--root", box.root]
    code, _out, err = cli(capsys, *args)
    assert code == 2
    assert f"[{Code.PATH_BLOCKED}] {link} is a symbolic link" in err
    box.assert_outside_unchanged()


class ClosedPipe(io.StringIO):
    """An output whose reader went away (``| head -1``): every write fails with EPIPE."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def isatty(self) -> bool:
        return False


@pytest.mark.parametrize("closed", ["stdout", "stdout-and-stderr"])
def test_output_to_a_closed_pipe_neither_fails_the_jobs_nor_the_exit_code(
        closed: str, box: Sandbox, demo_catalog: Path, mirror: MirrorServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    box.refresh()
    monkeypatch.setattr("sys.stdout", ClosedPipe())
    if closed == "stdout-and-stderr":
        monkeypatch.setattr("sys.stderr", ClosedPipe())
    args = run_args(demo_catalog, mirror, box.root, CHEAP)
    args.remove("--quiet")  # a line per stage and per job: each one written to the closed pipe
    assert main([str(a) for a in args]) == 0
    assert main(["plan", "--catalog", str(demo_catalog), "--root", str(box.root), "--preset", "all"]) == 0
    monkeypatch.undo()
    assert "Traceback" not in capsys.readouterr().err  # stdout-only: the run's lines went to stderr
    code, out, err = cli(capsys, "status", "--root", box.root)
    assert code == 0 and err == ""
    assert sorted(line.split()[:2] for line in out.splitlines()) == sorted([cid, "done"] for cid in CHEAP)
    box.assert_outside_unchanged()


#: A JSON document nested deeper than Python's parser goes (RecursionError), a few hundred KB.
JSON_BOMB = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("where", ["last-verify", "counts-cache", "part-sidecar"])
def test_a_state_file_nested_too_deeply_is_treated_like_any_damaged_one(
        where: str, box: Sandbox, world: World, demo_catalog: Path, mirror: MirrorServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, *run_args(demo_catalog, mirror, box.root, CHEAP))[0] == 0
    plan = ["plan", "--catalog", demo_catalog, "--root", box.root, "--components", ",".join(CHEAP)]
    assert cli(capsys, *plan)[0] == 0  # the first plan with the JSON in place caches its counts
    verified = cli(capsys, "verify", "--root", box.root)[:2]
    state = box.root / ".sharegpt4v-setup"
    box.refresh()
    if where == "last-verify":
        (state / "reports").mkdir(exist_ok=True)
        (state / "reports" / "last-verify.json").write_text(JSON_BOMB)
        args: list[Any] = ["repair", "--catalog", demo_catalog, "--hf-endpoint", mirror.base_url, "--root", box.root]
    elif where == "counts-cache":
        [cache] = (state / "index").glob("*.counts.json")
        cache.write_text(JSON_BOMB)
        args = plan
    else:  # a download cut half-way whose resume record is the bomb
        for image in (box.root / "coco" / "train2017").iterdir():
            image.unlink()
        archive = (world.docroot / source_paths(demo_catalog)["coco-train2017"].lstrip("/")).read_bytes()
        (state / "downloads" / "train2017.zip.part").write_bytes(archive[: len(archive) // 2])
        (state / "downloads" / "train2017.zip.part.json").write_text(JSON_BOMB)
        args = run_args(demo_catalog, mirror, box.root, CHEAP)
    code, _out, err = cli(capsys, *args)
    assert code == 0, err
    assert f"[{Code.INTERNAL}]" not in err
    if where != "last-verify":  # (repair fetched what verify found missing: 0 said all is in place)
        assert cli(capsys, "verify", "--root", box.root)[:2] == verified  # the same images in place
    box.assert_outside_unchanged()


@pytest.mark.parametrize("linked", ["coco", "coco/train2017"])
def test_an_image_folder_linked_to_another_disk_is_filled_there_and_the_demo_check_follows_it(
        linked: str, box: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    elsewhere = box.top / "other-disk" / "coco"
    elsewhere.mkdir(parents=True)
    (box.root / linked).parent.mkdir(parents=True)
    if linked == "coco/train2017":
        elsewhere = elsewhere / "train2017"
        elsewhere.mkdir()
    (box.root / linked).symlink_to(elsewhere, target_is_directory=True)  # legit: spreading the data
    box.refresh()
    code, _out, err = cli(capsys, "run", "--demo", "--root", box.root, "--components", "json-sft,coco-train2017",
                          "--yes", "--quiet")
    assert code == 0, err
    assert "Demo check FAILED" not in err
    now = snapshot(box.top, box.root)
    assert {k: v for k, v in now.items() if k in box.before} == box.before
    added = set(now) - set(box.before)  # only the images, only where the user pointed
    assert added and all(k.startswith("other-disk/coco/train2017") for k in added)
    assert any(k.endswith(".jpg") for k in added)


@pytest.mark.parametrize(("given", "endpoint"), [("flag", "hf-mirror.com"), ("env", "hf-mirror.com"),
                                                  ("flag", "file:///etc"), ("env", "javascript:alert(1)")])
def test_a_hub_endpoint_that_is_no_http_url_is_a_coded_problem_before_any_request(
        given: str, endpoint: str, box: Sandbox, demo_catalog: Path, mirror: MirrorServer,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--catalog", demo_catalog, "--root", box.root, "--components", "json-sft", "--yes", "--quiet"]
    if given == "flag":
        args += ["--hf-endpoint", endpoint]
    else:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
    box.refresh()
    code, _out, err = cli(capsys, *args)
    assert code == 2
    named = "--hf-endpoint" if given == "flag" else "HF_ENDPOINT"
    assert f"[{Code.HUB_METADATA}] The Hub endpoint {named} '{endpoint}' is not usable" in err
    assert "https://hf-mirror.com" in err  # the hint shows the full form
    assert mirror.requests == []
    box.assert_outside_unchanged()


def test_a_resumed_run_never_restores_local_mode_move(box: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    """The journal says the last run moved --local files into the root: a resume (here with a
    journal edited to point that at any folder) must not take files out of a folder outside."""
    box.root.mkdir()
    assert cli(capsys, "run", "--demo", "--root", box.root, "--components", "coco-train2017", "--yes",
               "--quiet")[0] == 0
    db = sqlite3.connect(journal_path(box.root))
    try:
        rowid, raw = db.execute("SELECT rowid, args FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()
        last = json.loads(raw)
        last["options"].update(local={"coco-train2017": str(box.canary)}, local_mode="move")
        db.execute("UPDATE runs SET args = ? WHERE rowid = ?", (json.dumps(last), rowid))
        db.commit()
    finally:
        db.close()
    for image in (box.root / "coco" / "train2017").iterdir():
        image.unlink()  # work for the resumed run
    box.refresh()
    code, _out, err = cli(capsys, "run", "--demo", "--root", box.root, "--yes", "--quiet")  # resumes the last run
    box.assert_outside_unchanged()  # nothing taken from the folder the journal named
    assert code in (0, 1), err  # (the canary is no COCO copy: the demo check may say so)
    assert "not resumed: --local-mode move" in err and "--local-mode move --" not in err


# ------------------------------------------------------------------------------------------
# Other owners' bullets whose fix is in place: a body that never ends
# ------------------------------------------------------------------------------------------
def test_a_server_that_never_ends_its_body_cannot_fill_the_disk(
        box: Sandbox, world: World, capsys: pytest.CaptureFixture[str]) -> None:
    from faultserver import FaultRule, FaultServer

    from wizard.engine.net.bounds import MARGIN

    data = os.urandom(600 * 1024)
    with FaultServer({"/coco.zip": data}) as server:
        server.faults.append(("/coco.zip", FaultRule(endless=True, times=None)))

        def edit(raw: dict[str, Any]) -> None:
            component(raw, "coco-train2017")["source"] = [
                {"kind": "http", "label": "test", "url": server.url("/coco.zip"), "size": len(data),
                 "sha256": hashlib.sha256(data).hexdigest()}]
        cat = edited_catalog(world, server.url("/"), box.top / "cat.toml", edit)
        box.refresh()
        code, _out, err = cli(capsys, "run", "--catalog", cat, "--root", box.root, "--components",
                              "coco-train2017", "--yes", "--quiet")
    assert code == 1
    assert f"[{Code.BODY_TOO_LONG}]" in err and "hint:" in err
    kept = sum(p.stat().st_size for p in box.root.rglob("*") if p.is_file())
    assert kept <= 2 * (len(data) + MARGIN)  # at most the part and one quarantined copy, each bounded
    box.assert_outside_unchanged()


def test_a_local_folder_with_a_fifo_and_a_link_places_only_regular_files(
        box: Sandbox, demo_catalog: Path, mirror: MirrorServer, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    reference = box.top / "reference"
    assert cli(capsys, *run_args(demo_catalog, mirror, reference, ["coco-train2017"], "--full-archives"))[0] == 0
    mine = box.top / "my-train2017"
    shutil.copytree(reference / "coco/train2017", mine)
    os.mkfifo(mine / "000000999999.jpg")  # would hang a copy
    (mine / "000000888888.jpg").symlink_to(box.canary / "victim.txt")  # would leak a file into the tree
    mirror.clear_requests()
    box.refresh()
    code, _out, err = cli(capsys, *run_args(demo_catalog, mirror, box.root, ["coco-train2017"], "--full-archives",
                                           "--local", f"coco-train2017={mine}", "--local-mode", "copy"))
    assert code == 0, err
    assert tree_of(box.root / "coco") == tree_of(reference / "coco")
    assert mirror.requests == []
    box.assert_outside_unchanged()


# ------------------------------------------------------------------------------------------
# Other owners' bullets whose fix is in place: the Hub token goes only where the user said
# ------------------------------------------------------------------------------------------
def test_a_catalogs_own_hub_endpoint_gets_no_token_unless_the_user_names_it(
        box: Sandbox, demo_catalog: Path, mirror: MirrorServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    secret = "hf_" + "s3cr3t" * 6
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    raw = tomllib.loads(demo_catalog.read_text())
    assert raw["hub"]["endpoint"] == mirror.base_url  # the catalog names its own (loopback) Hub
    canary = snapshot(box.canary, box.root)
    code, _out, err = cli(capsys, "run", "--catalog", demo_catalog, "--root", box.root,
                          "--components", "json-sft", "--yes", "--quiet")
    assert code == 0, err
    hub_requests = [r for r in mirror.requests if r.path.startswith("/datasets/")]
    assert hub_requests and all("Authorization" not in r.headers for r in hub_requests)
    mirror.clear_requests()
    chosen = box.top / "chosen-root"
    code, _out, err = cli(capsys, "run", "--catalog", demo_catalog, "--root", chosen, "--hf-endpoint",
                          mirror.base_url, "--components", "json-sft", "--yes", "--quiet")
    assert code == 0, err
    assert any(r.headers.get("Authorization") == f"Bearer {secret}" for r in mirror.requests)
    for folder in (box.root, chosen):  # never in a log, the journal or a report
        assert not any(secret.encode() in p.read_bytes() for p in folder.rglob("*") if p.is_file())
    assert secret not in err
    assert snapshot(box.canary, box.root) == canary


# ------------------------------------------------------------------------------------------
# Other owners' bullets whose fix is in place: a zip bomb
# ------------------------------------------------------------------------------------------
def test_a_small_zip_that_expands_to_a_gibibyte_is_refused_before_it_fills_the_disk(
        box: Sandbox, world: World, own_server: MirrorServer, capsys: pytest.CaptureFixture[str]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("train2017/000000000009.jpg", JPEG)
        with zf.open("train2017/000000000025.jpg", "w", force_zip64=True) as member:
            block = bytes(8 << 20)
            for _ in range(128):  # 1 GiB of zeros: about 1 MB deflated
                member.write(block)
    bomb = buf.getvalue()
    assert len(bomb) < 2 << 20
    cat = serve_coco(world, own_server, box.top / "cat.toml", bomb)
    box.refresh()
    code, _out, err = cli(capsys, "run", "--catalog", cat, "--root", box.root, "--components", "coco-train2017",
                          "--yes", "--quiet", "--full-archives")
    assert code == 1, err
    assert f"[{Code.ARCHIVE_TOO_LARGE}]" in err and "hint:" in err
    written = sum(p.stat().st_size for p in box.root.rglob("*") if p.is_file())
    assert written < 4 * len(bomb)  # the archive (maybe kept once in quarantine), never the GiB
    box.assert_outside_unchanged()
