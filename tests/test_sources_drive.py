"""Google Drive sources (gdown) against the loopback mirror: files, folders, quota, HTML pages,
checksums, the community fallback, and a kill -9 mid-download that resumes from the partial."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import gdown
import pytest
from helpers import Recorder, fast_settings, make_ctx, settled_requests, sha256

from wizard.cli import main
from wizard.demo import MirrorServer, World
from wizard.demo.server import Fault
from wizard.demo.session import tree_of
from wizard.demo.world import dumps_toml
from wizard.engine.catalog import Catalog, load_catalog
from wizard.engine.context import Settings
from wizard.engine.errors import Code, SetupError
from wizard.engine.events import Progress
from wizard.engine.journal import read_status
from wizard.engine.plan import build_plan
from wizard.engine.runner import Runner, RunResult
from wizard.engine.sources import drive

CELEB_ID = "1-SB71C3j1mVg0kDDXwj2IWGEoBoRUD-J"
WEBDATA_FOLDER = "1tCUQ-sq6vdshZVkF0ZeF3K4eztkXJgax"
QUOTA_PAGE = textwrap.dedent("""\
    <!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>
    <p class="uc-error-caption">Sorry, you can't view or download this file at this time.</p>
    <p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently. Please
    try accessing the file again later. If the file you are trying to access is particularly large or
    is shared with many people, it may take up to 24 hours to be able to view or download the file.</p>
    </body></html>""").encode()


def run(catalog: Catalog | Path, root: Path, comps: list[str], **overrides: Any) -> tuple[RunResult, Recorder]:
    cat = catalog if isinstance(catalog, Catalog) else load_catalog(catalog)
    settings = fast_settings(**overrides)
    root.mkdir(parents=True, exist_ok=True)
    rec = Recorder()
    result = Runner(build_plan(root, cat, cat.resolve(None, comps), settings), cat, settings, rec).run()
    return result, rec


def edited_catalog(demo_catalog: Path, tmp_path: Path, cid: str, **source_changes: Any) -> Path:
    """The demo catalog with the first source of ``cid`` changed."""
    raw = tomllib.loads(demo_catalog.read_text())
    comp = next(c for c in raw["component"] if c["id"] == cid)
    comp["source"][0].update(source_changes)
    for key, value in list(comp["source"][0].items()):
        if value is None:
            del comp["source"][0][key]
    path = tmp_path / "edited.toml"
    path.write_text(dumps_toml(raw))
    return path


def drive_gets(mirror: MirrorServer) -> list[Any]:
    return [r for r in mirror.requests if r.method == "GET" and r.path.startswith("/drive/")]


def test_drive_file_by_id_through_gdown(world: World, demo_catalog: Path, mirror: MirrorServer,
                                        tmp_path: Path) -> None:
    root = tmp_path / "root"
    result, _ = run(demo_catalog, root, ["web-celebrity", "sam-9k"])
    assert result.ok and sorted(result.done) == ["sam-9k", "web-celebrity"]
    assert tree_of(root) == world.expected_tree(["web-celebrity", "sam-9k"])
    paths = {r.path for r in settled_requests(mirror, 2)}
    assert f"/drive/{CELEB_ID}" in paths
    assert all("Mozilla" in r.headers.get("User-Agent", "") for r in drive_gets(mirror))  # gdown's request
    assert list((root / ".sharegpt4v-setup/downloads").iterdir()) == []


def test_drive_file_found_through_its_folder_when_the_id_is_gone(world: World, demo_catalog: Path,
                                                                  mirror: MirrorServer, tmp_path: Path) -> None:
    cat = edited_catalog(demo_catalog, tmp_path, "web-celebrity", id="no-such-file-id-000000000000")
    root = tmp_path / "root"
    result, rec = run(cat, root, ["web-celebrity"])
    assert result.ok, result.failed
    assert tree_of(root) == world.expected_tree(["web-celebrity"])
    paths = [r.path for r in settled_requests(mirror, 3)]
    assert f"/drive/folders/{WEBDATA_FOLDER}/" in paths
    assert f"/drive/folders/{WEBDATA_FOLDER}/web-celebrity.zip" in paths
    assert any("looking the file up in its Drive folder" in t for t in rec.logs())


def test_drive_quota_parks_the_job_others_finish_and_a_rerun_finishes(
        world: World, demo_catalog: Path, mirror: MirrorServer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    mirror.add_fault(f"/drive/{CELEB_ID}", Fault(status=200, body=QUOTA_PAGE, content_type="text/html",
                                                 times=None))
    root = tmp_path / "root"
    comps = "web-celebrity,wikiart,gqa"
    args = ["run", "--catalog", str(demo_catalog), "--root", str(root), "--components", comps, "--yes"]
    assert main(args) == 4  # waiting
    err = capsys.readouterr().err
    assert "WAITING web-celebrity: [drive-quota] Google Drive quota exceeded for web-celebrity.zip" in err
    assert "resets in about 24 h" in err and "--allow-mirrors" in err and "Jserw/WebData" in err
    records = {r.id: r for r in read_status(root) or []}
    assert records["web-celebrity"].stage == "waiting" and records["wikiart"].stage == "done"
    assert records["gqa"].stage == "done"
    assert not (root / "web-celebrity").exists()  # the HTML page was never placed or extracted
    assert not list((root / ".sharegpt4v-setup/downloads").glob("web-celebrity.zip*"))
    kept = list((root / ".sharegpt4v-setup/quarantine").iterdir())
    assert len(kept) == 1 and kept[0].name.endswith(".html") and b"Too many users" in kept[0].read_bytes()
    mirror.clear_faults()
    assert main(args) == 0
    assert tree_of(root) == world.expected_tree(comps.split(","))


def test_an_html_page_instead_of_the_file_is_drive_html(demo_catalog: Path, mirror: MirrorServer,
                                                        tmp_path: Path) -> None:
    page = b"<!DOCTYPE html>\n<html><body>Sign in to continue to Google Drive</body></html>"
    mirror.add_fault(f"/drive/{CELEB_ID}", Fault(status=200, body=page, content_type="text/html", times=None))
    root = tmp_path / "root"
    result, _ = run(demo_catalog, root, ["web-celebrity"])
    problem = result.failed["web-celebrity"]
    assert problem.code == Code.DRIVE_HTML and not problem.parked
    assert "web page instead of web-celebrity.zip" in problem.message and "browser" in problem.hint
    assert not (root / "web-celebrity").exists()
    assert not list((root / ".sharegpt4v-setup/downloads").glob("web-celebrity.zip*"))


def _gdown_style_error(reason: str) -> Exception:
    """A FileURLRetrievalError exactly as gdown 6.5 builds it from Drive's error page."""
    from gdown.exceptions import FileURLRetrievalError

    confirmation = sys.modules["gdown.download"].get_url_from_gdrive_confirmation
    try:
        confirmation(f'<p class="uc-error-subcaption">{reason}</p>')
    except FileURLRetrievalError as inner:
        message = ("Failed to retrieve file url:\n\n{}\n\nYou may still be able to access the file from the "
                   "browser:\n\n\t{}\n\nbut Gdown can't. Please check connections and permissions.").format(
            textwrap.indent("\n".join(textwrap.wrap(str(inner))), prefix="\t"),
            f"https://drive.google.com/uc?id={CELEB_ID}")
        return FileURLRetrievalError(message)
    raise AssertionError("gdown did not raise")


def test_gdown_quota_error_maps_to_drive_quota(demo_catalog: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    quota = _gdown_style_error("Too many users have viewed or downloaded this file recently. Please try "
                               "accessing the file again later. If the file you are trying to access is "
                               "particularly large or is shared with many people, it may take up to 24 hours.")
    catalog = load_catalog(demo_catalog)
    comp = catalog.component("web-celebrity")
    err = drive.drive_error(str(quota), "web-celebrity.zip", component=comp)
    assert err.problem.code == Code.DRIVE_QUOTA and err.problem.parked
    assert "24 h" in err.problem.hint and comp.sources[1].label in err.problem.hint

    def fake_download(**kwargs: Any) -> str:
        raise quota

    monkeypatch.setattr(gdown, "download", fake_download)
    ctx, _ = make_ctx(tmp_path / "root")
    with pytest.raises(SetupError) as caught:
        drive.download_file(ctx, f"https://drive.google.com/uc?id={CELEB_ID}", ctx.downloads / "x.zip",
                            component=comp)
    assert caught.value.problem.code == Code.DRIVE_QUOTA and caught.value.problem.parked

    private = _gdown_style_error("Sorry, the file you have requested does not exist.")
    err = drive.drive_error(str(private), "web-celebrity.zip", component=comp)
    assert err.problem.code == Code.DRIVE_PERMISSION and not err.problem.parked
    assert "the file you have requested does not exist" in err.problem.message


def test_community_fallback_only_with_allow_mirrors_and_pinned(world: World, demo_catalog: Path,
                                                               mirror: MirrorServer, tmp_path: Path) -> None:
    mirror.add_fault(f"/drive/{CELEB_ID}", Fault(status=200, body=QUOTA_PAGE, content_type="text/html",
                                                 times=None))
    result, _ = run(demo_catalog, tmp_path / "off", ["web-celebrity"], hf_endpoint=mirror.base_url)
    assert result.waiting["web-celebrity"].code == Code.DRIVE_QUOTA
    assert not any("/datasets/" in r.path for r in mirror.requests)

    root = tmp_path / "on"
    result, rec = run(demo_catalog, root, ["web-celebrity"], hf_endpoint=mirror.base_url, allow_mirrors=True)
    assert result.ok, result.waiting or result.failed
    assert tree_of(root) == world.expected_tree(["web-celebrity"])
    assert any("community mirror: Hugging Face Hub re-host Jserw/WebData" in t for t in rec.logs())
    assert any(r.path.startswith("/datasets/Jserw/WebData/resolve/") for r in settled_requests(mirror, 3))
    assert "[community mirror]" in (read_status(root) or [])[0].source

    # A mirror whose bytes no longer match the pin is refused, nothing placed.
    raw = tomllib.loads(demo_catalog.read_text())
    comp = next(c for c in raw["component"] if c["id"] == "web-celebrity")
    comp["source"][1]["sha256"] = "0" * 64
    bad = tmp_path / "bad.toml"
    bad.write_text(dumps_toml(raw))
    root = tmp_path / "bad"
    result, _ = run(bad, root, ["web-celebrity"], hf_endpoint=mirror.base_url, allow_mirrors=True)
    assert result.failed["web-celebrity"].code == Code.CHECKSUM_MISMATCH
    assert not (root / "web-celebrity").exists()


def test_checksum_mismatch_is_quarantined(demo_catalog: Path, mirror: MirrorServer, tmp_path: Path) -> None:
    cat = edited_catalog(demo_catalog, tmp_path, "sam-9k", sha256="f" * 64)
    root = tmp_path / "root"
    result, _ = run(cat, root, ["sam-9k"])
    problem = result.failed["sam-9k"]
    assert problem.code == Code.CHECKSUM_MISMATCH and "expected ffffffffffff" in problem.message
    kept = list((root / ".sharegpt4v-setup/quarantine").iterdir())
    assert len(kept) == 1 and kept[0].name.startswith("sam_images_share-sft.zip")
    assert not (root / "sam").exists()


@pytest.mark.parametrize("case", ["complete-partial", "range-ignored"])
def test_partials_gdown_cannot_resume_are_handled(world: World, demo_catalog: Path, mirror: MirrorServer,
                                                  tmp_path: Path, case: str) -> None:
    data = (world.docroot / "drive" / CELEB_ID).read_bytes()
    root = tmp_path / "root"
    part = root / ".sharegpt4v-setup/downloads/web-celebrity.zipAbCd1234.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data if case == "complete-partial" else data[:4000])
    if case == "range-ignored":
        mirror.add_fault(f"/drive/{CELEB_ID}", Fault(ignore_range=True, times=2))
    result, rec = run(demo_catalog, root, ["web-celebrity"])
    assert result.ok, result.failed
    assert tree_of(root) == world.expected_tree(["web-celebrity"])
    statuses = [r.status for r in settled_requests(mirror, 2) if r.headers.get("Range")]
    assert statuses[0] == (416 if case == "complete-partial" else 200)
    restarted = any("starting again from byte 0" in t for t in rec.logs())
    assert restarted is (case == "range-ignored")


def test_a_sign_in_page_answering_the_resume_does_not_cost_the_partial(
        world: World, demo_catalog: Path, mirror: MirrorServer, tmp_path: Path) -> None:
    data = (world.docroot / "drive" / CELEB_ID).read_bytes()
    root = tmp_path / "root"
    part = root / ".sharegpt4v-setup/downloads/web-celebrity.zipAbCd1234.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:4000])  # an earlier run's bytes
    portal = b"<!DOCTYPE html><html><head><title>Guest Wi-Fi</title></head><body>Accept the terms</body></html>"
    mirror.add_fault(f"/drive/{CELEB_ID}", Fault(status=200, body=portal, content_type="text/html", times=None))
    result, _ = run(demo_catalog, root, ["web-celebrity"])
    assert not result.ok
    mirror.clear_faults()  # signed in to the network
    mirror.clear_requests()
    result, _ = run(demo_catalog, root, ["web-celebrity"])
    assert result.ok, result.failed
    assert tree_of(root) == world.expected_tree(["web-celebrity"])
    ranged = [(r.headers.get("Range"), r.status) for r in drive_gets(mirror) if r.headers.get("Range")]
    assert ranged == [("bytes=4000-", 206)]  # resumed, not started over
    assert not list(part.parent.glob("web-celebrity.zip*"))  # nothing set aside is left behind


def test_cancel_during_a_drive_download_keeps_the_partial(tmp_path: Path) -> None:
    data = _webdata_zip("web-celebrity", 12, 200_000)
    _docroot, srv = _big_drive_world(tmp_path, data)
    with srv:
        srv.add_fault(f"/drive/{CELEB_ID}", Fault(rate=1_000_000, times=1))
        catalog = load_catalog(_write_catalog(tmp_path, srv.base_url, data))
        settings = Settings(retries=2, backoff=0.01)
        root = tmp_path / "root"
        root.mkdir()
        runner = Runner(build_plan(root, catalog, catalog.resolve(None, ["web-celebrity"]), settings),
                        catalog, settings)

        def emit(event: Any) -> None:
            if isinstance(event, Progress) and event.done >= 512 * 1024:
                runner.control.cancel()

        runner.emit = emit
        result = runner.run()
    assert result.cancelled
    parts = drive.partials(root / ".sharegpt4v-setup/downloads/web-celebrity.zip")
    assert len(parts) == 1 and 0 < parts[0].stat().st_size < len(data)


# -- kill -9 ----------------------------------------------------------------------------------
def _webdata_zip(name: str, members: int, size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for n in range(members):
            zf.writestr(f"data/{name}/images/img_{n:04d}.jpg", b"\xff\xd8\xff\xe0" + os.urandom(size) + b"\xff\xd9")
    return buf.getvalue()


def _big_drive_world(tmp_path: Path, data: bytes) -> tuple[Path, MirrorServer]:
    docroot = tmp_path / "doc"
    (docroot / "drive").mkdir(parents=True)
    (docroot / "drive" / CELEB_ID).write_bytes(data)
    return docroot, MirrorServer(docroot)


def _write_catalog(tmp_path: Path, base: str, data: bytes) -> Path:
    from wizard.paths import default_catalog_path

    raw = tomllib.loads(default_catalog_path().read_text())
    comp = next(c for c in raw["component"] if c["id"] == "web-celebrity")
    comp["source"] = [{"kind": "drive", "label": "Google Drive (test)", "id": CELEB_ID,
                       "filename": "web-celebrity.zip", "size": len(data), "sha256": sha256(data)}]
    raw["component"] = [comp]
    raw["preset"] = []
    raw["drive"] = {"file_url": base + "/drive/{id}", "folder_url": base + "/drive/folders/{id}"}
    path = tmp_path / "drive.toml"
    path.write_text(dumps_toml(raw))
    return path


@pytest.mark.slow
def test_kill_9_mid_drive_download_then_rerun_resumes_from_the_partial(tmp_path: Path) -> None:
    data = _webdata_zip("web-celebrity", 30, 100_000)
    _docroot, srv = _big_drive_world(tmp_path, data)
    root = tmp_path / "root"
    dest = root / ".sharegpt4v-setup/downloads/web-celebrity.zip"
    with srv:
        srv.add_fault(f"/drive/{CELEB_ID}", Fault(rate=600_000, times=1))
        cat = _write_catalog(tmp_path, srv.base_url, data)
        proc = subprocess.Popen([sys.executable, "-m", "wizard", "run", "--catalog", str(cat), "--root", str(root),
                                 "--components", "web-celebrity", "--yes", "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 60
        while drive.partial_size(dest) < 512 * 1024:
            assert proc.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        kept = drive.partial_size(dest)
        assert 0 < kept < len(data)
        srv.clear_requests()
        assert main(["run", "--catalog", str(cat), "--root", str(root), "--components", "web-celebrity",
                     "--yes", "--quiet"]) == 0
        gets = [r for r in settled_requests(srv, 2) if r.method == "GET"]
    ranged = [r for r in gets if r.headers.get("Range")]
    assert [r.headers["Range"] for r in ranged] == [f"bytes={kept}-"]
    assert ranged[0].status == 206 and ranged[0].sent == len(data) - kept and ranged[0].headers.get("If-Range")
    assert len(list((root / "web-celebrity/images").iterdir())) == 30
    assert drive.partials(dest) == [] and not dest.exists()
