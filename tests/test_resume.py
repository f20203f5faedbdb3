"""``run --root R`` with no selection is the same run as last time: the recorded catalog, Hub
endpoint, links file, local copies and options come back (said as "resuming with: ..."), a flag
given now wins, and a recorded file that has gone is an error naming it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from wizard.cli import main
from wizard.demo import MirrorServer, World
from wizard.demo.server import Fault
from wizard.demo.world import dumps_toml


def cli(*args: str | Path) -> int:
    return main([str(a) for a in args])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mirror_only_catalog(world: World, mirror: MirrorServer, tmp_path: Path) -> Path:
    """The world's catalog, but its own [hub] endpoint is a closed port: Hub files arrive only
    when the endpoint the user named (--hf-endpoint) is used."""
    data = world.catalog_data(mirror.base_url)
    data["hub"] = {"endpoint": f"http://127.0.0.1:{_closed_port()}"}
    path = tmp_path / "custom-catalog.toml"
    path.write_text(dumps_toml(data), encoding="utf-8")
    return path


def test_resume_restores_a_custom_catalog_and_endpoint(mirror_only_catalog: Path, mirror: MirrorServer,
                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    mirror.add_fault("/datasets/Lin-Chen/ShareGPT4V/", Fault(status=404, times=None))
    assert cli("run", "--root", root, "--catalog", mirror_only_catalog, "--hf-endpoint", mirror.base_url,
               "--components", "json-cap100k,gqa", "--keep-archives", "--concurrency", "1", "--yes") == 1
    mirror.clear_faults()
    capsys.readouterr()
    assert cli("run", "--root", root, "--yes") == 0  # no catalog, no endpoint: the recorded ones
    err = capsys.readouterr().err
    assert (f"resuming with: --catalog {mirror_only_catalog} --hf-endpoint {mirror.base_url} "
            "--keep-archives --concurrency 1") in err
    assert (root / "sharegpt4v/sharegpt4v_instruct_gpt4-vision_cap100k.json").is_file()
    assert (root / ".sharegpt4v-setup/downloads/gqa-images.zip").is_file()  # --keep-archives came back


def test_a_flag_given_now_wins_over_the_recorded_one(mirror_only_catalog: Path, mirror: MirrorServer,
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    assert cli("run", "--root", root, "--catalog", mirror_only_catalog, "--hf-endpoint", mirror.base_url,
               "--components", "gqa", "--yes") == 0
    capsys.readouterr()
    other = f"http://127.0.0.1:{_closed_port()}"
    assert cli("plan", "--root", root, "--hf-endpoint", other, "--concurrency", "2") == 0
    err = capsys.readouterr().err
    assert f"resuming with: --catalog {mirror_only_catalog}" in err
    assert "--hf-endpoint" not in err and "--concurrency" not in err


def test_a_recorded_file_that_is_gone_is_an_error_naming_it(mirror_only_catalog: Path, mirror: MirrorServer,
                                                            world: World, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    links = world.sam_links_file(mirror.base_url, tmp_path / "links.tsv")
    local = tmp_path / "gqa.zip"
    local.write_bytes((world.docroot / world.components["gqa"].served[0].path).read_bytes())  # type: ignore[union-attr]
    assert cli("run", "--root", root, "--catalog", mirror_only_catalog, "--sam-links", links,
               "--local", f"gqa={local}", "--components", "gqa", "--yes") == 0
    capsys.readouterr()
    links.unlink()
    assert cli("plan", "--root", root) == 2
    err = capsys.readouterr().err
    assert f"used --sam-links {links}, which no longer exists" in err and "sam-links-missing" in err
    assert cli("plan", "--root", root, "--sam-links", mirror_only_catalog) == 0  # given now: not checked
    assert f"--local gqa={local}" in capsys.readouterr().err
    mirror_only_catalog.rename(tmp_path / "moved.toml")
    assert cli("plan", "--root", root) == 2
    assert f"used --catalog {mirror_only_catalog}, which no longer exists" in capsys.readouterr().err


@pytest.mark.parametrize("flag, value", [("--concurrency", "0"), ("--concurrency", "17"), ("--per-host", "-1"),
                                         ("--per-host", "many"), ("--concurrency", "1000000")])
def test_a_job_count_out_of_range_is_a_usage_error_naming_it(tmp_path: Path, flag: str, value: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Not a "catalog-invalid" problem (the catalog is fine): argparse's usage error, exit 2, nothing written."""
    root = tmp_path / "root"
    with pytest.raises(SystemExit) as exit_:
        main(["plan", "--demo", "--root", str(root), "--components", "gqa", flag, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"{flag} wants a whole number from 1 to 16, not {value!r}" in err and "catalog-invalid" not in err
    assert not root.exists()


@pytest.mark.parametrize("command", ["run", "plan", "repair", "verify", "status"])
def test_an_empty_root_is_a_usage_error_not_the_current_folder(
        command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # where an empty --root (an unset "$DATA") would otherwise put everything
    extra = {"run": ["--demo", "--preset", "sft", "--yes"], "plan": ["--preset", "sft"],
             "repair": ["--demo"]}.get(command, [])  # (--demo: never the internet)
    args = [command, "--root", "", *extra]
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code == 2
    assert "--root is empty" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_selection_error_leaves_no_new_root_behind(demo_catalog: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``run`` created the data root before it checked the selection: a typo in --components
    left an empty folder (and its parents) behind."""
    root = tmp_path / "new" / "root"
    assert main(["run", "--catalog", str(demo_catalog), "--root", str(root), "--components", "cocoo",
                 "--yes"]) == 2
    assert "cocoo" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
