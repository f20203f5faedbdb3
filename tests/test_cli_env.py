"""The command line as it is started on remote machines: stdin closed or not a terminal (cron,
``nohup … <&-``, a CI step), where a prompt must neither hang nor crash."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest


def _close_stdin() -> None:
    os.close(0)


@pytest.mark.parametrize("stdin", ["closed", "devnull"])
def test_run_without_yes_and_without_a_terminal_asks_for_yes(tmp_path: Path, stdin: str) -> None:
    root = tmp_path / "root"
    proc = subprocess.run([sys.executable, "-m", "wizard", "run", "--demo", "--root", str(root), "--components",
                           "gqa"], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL if stdin == "devnull" else None,
                          preexec_fn=_close_stdin if stdin == "closed" else None)
    assert proc.returncode == 2, proc.stderr
    assert "[cancelled] Not starting without confirmation." in proc.stderr
    assert "hint: Pass --yes to start without asking." in proc.stderr
    assert "internal" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (root / "gqa").exists()  # nothing was started


@pytest.mark.parametrize("closed", [(1,), (1, 2)], ids=["stdout", "stdout-and-stderr"])
def test_a_run_started_with_its_output_closed_does_the_work(tmp_path: Path, closed: tuple[int, ...]) -> None:
    """``run … >&- 2>&-`` (a daemonizing wrapper, a cron line): before, the first line printed
    crashed the command ([internal], nothing done)."""
    root = tmp_path / "root"

    def close_output() -> None:
        for fd in closed:
            os.close(fd)

    proc = subprocess.run([sys.executable, "-m", "wizard", "run", "--demo", "--root", str(root), "--components",
                           "gqa", "--yes"], stdout=None if 1 in closed else subprocess.PIPE,
                          stderr=None if 2 in closed else subprocess.PIPE, preexec_fn=close_output, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(list((root / "gqa" / "images").iterdir())) == 3
    status = subprocess.run([sys.executable, "-m", "wizard", "status", "--root", str(root), "--json"],
                            stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1), timeout=120)
    assert status.returncode == 0, status.stderr


def test_an_output_encoding_without_the_roots_characters_does_not_stop_the_run(tmp_path: Path) -> None:
    """PYTHONIOENCODING=ascii, or a Latin-1 or GBK locale on an older server, and a root whose name it
    cannot write: before, the first line naming the root crashed the run ([internal]
    UnicodeEncodeError) before any work."""
    root = tmp_path / "数据"
    proc = subprocess.run([sys.executable, "-m", "wizard", "run", "--demo", "--root", str(root), "--components",
                           "gqa", "--yes"], capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0, proc.stderr
    assert len(list((root / "gqa" / "images").iterdir())) == 3
    assert b"Train with --image_folder '" + str(tmp_path).encode() + b"/\\u6570\\u636e'" in proc.stdout


def test_hf_hub_offline_in_the_environment_is_named_with_what_to_do(tmp_path: Path) -> None:
    """HF_HUB_OFFLINE=1, often exported for training jobs: before, the hint said to check the network."""
    proc = subprocess.run([sys.executable, "-m", "wizard", "run", "--demo", "--root", str(tmp_path / "root"),
                           "--components", "json-sft", "--yes", "--quiet"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 1, proc.stderr
    assert "FAILED  json-sft: [hub-metadata]" in proc.stderr and "HF_HUB_OFFLINE is set" in proc.stderr
    assert "hint: Run this command with HF_HUB_OFFLINE unset" in proc.stderr
    assert "Check the network" not in proc.stderr


def test_the_training_argument_a_run_prints_pastes_as_one_argument(tmp_path: Path) -> None:
    """The last line of a run is pasted into the training command: a root with a space or a shell
    character ("My Data & more") must stay one argument (the wizard's finish page quotes it too)."""
    root = tmp_path / "My Data & more"
    proc = subprocess.run([sys.executable, "-m", "wizard", "run", "--demo", "--root", str(root), "--components",
                           "gqa", "--yes", "--quiet"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("Done: "))
    assert shlex.split(line.split("Train with ", 1)[1]) == ["--image_folder", str(root)]


def _catalog_too_large_to_fit(tmp_path: Path, size: int = 10 ** 15) -> Path:
    import tomllib

    from wizard.demo.world import dumps_toml
    from wizard.paths import default_catalog_path

    raw = tomllib.loads(default_catalog_path().read_text())
    comp = next(c for c in raw["component"] if c["id"] == "coco-train2017")
    comp["source"] = [{"kind": "http", "label": "test", "url": "http://127.0.0.1:9/train2017.zip",
                       "size": size, "sha256": "0" * 64}]  # no disk here holds 1 PB
    raw["component"], raw["preset"] = [comp], []
    cat = tmp_path / "one.toml"
    cat.write_text(dumps_toml(raw))
    return cat


@pytest.mark.parametrize("output", ["one-file", "apart", "json"])
def test_a_plan_that_does_not_fit_is_said_once_in_a_log_of_both_streams(tmp_path: Path, output: str) -> None:
    """``run … > log 2>&1``: the plan printed "[no-space] …" on stdout and the refusal printed it
    again on stderr, so the log (and a terminal) showed it twice."""
    cat = _catalog_too_large_to_fit(tmp_path)
    args = [sys.executable, "-m", "wizard", "run", "--catalog", str(cat), "--root", str(tmp_path / "root"),
            "--components", "coco-train2017", "--yes"] + (["--json"] if output == "json" else [])
    with open(tmp_path / "out", "w+b") as out, open(tmp_path / "err", "w+b") as err:
        proc = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT if output == "one-file" else err, timeout=120)
    said_out, said_err = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    assert proc.returncode == 3, said_out + said_err  # EXIT_SPACE
    if output == "apart":  # stdout to a log, stderr to the terminal: each says it
        assert said_out.count("[no-space]") == 1 and said_err.count("[no-space]") == 1
    elif output == "json":  # the plan went to stderr: there once; stdout holds only the result object
        assert said_err.count("[no-space]") == 1 and "[no-space]" not in said_out
    else:
        assert said_out.count("[no-space]") == 1 and "hint:" in said_out


@pytest.mark.parametrize("case", ["no-space", "catalog-invalid", "no-yes"])
def test_run_json_prints_its_result_object_also_when_the_run_does_not_start(tmp_path: Path, case: str) -> None:
    """``run --json`` promises one result object on stdout; a run refused before it started (the
    plan does not fit, a bad catalog, no --yes) printed nothing there, and ``json.loads`` of the
    output failed in the caller's script."""
    import json

    cat = _catalog_too_large_to_fit(tmp_path, 1000 if case == "no-yes" else 10 ** 15)
    if case == "catalog-invalid":
        cat.write_text("this is [not toml")
    args = [sys.executable, "-m", "wizard", "run", "--json", "--catalog", str(cat), "--root", str(tmp_path / "root"),
            "--components", "coco-train2017"] + ([] if case == "no-yes" else ["--yes"])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    found = json.loads(proc.stdout)
    code = {"no-space": "no-space", "catalog-invalid": "catalog-invalid", "no-yes": "cancelled"}[case]
    assert found["ok"] is False and found["exit"] == proc.returncode != 0
    assert found["problem"]["code"] == code and found["problem"]["hint"]
    assert found["done"] == [] and found["failed"] == {}
    assert f"[{code}]" in proc.stderr
