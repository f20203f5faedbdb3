"""Google Drive as it really answers, end to end through the CLI with the bundled catalog's Drive
URLs (``https://drive.google.com/...``): gdown's own Drive logic runs, not its plain-GET path.

A loopback server plays drive.google.com and drive.usercontent.google.com (the test sends those
hosts' requests there): a folder is listed by its ``embeddedfolderview`` page, a small file's
``uc?id=`` answers 303 to ``drive.usercontent.google.com/download``, a large file's answers the
"can't scan this file for viruses" page whose one-line ``download-form`` carries ``confirm`` and
``uuid``, and the file itself comes with ``Content-Disposition`` and byte ranges. A file over its
quota answers Drive's quota page. OCR-VQA's ``dataset.json`` only has a folder id in the catalog,
so this is the path every real OCR-VQA run takes.
"""

from __future__ import annotations

import hashlib
import html
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from wizard.cli import main
from wizard.demo import MirrorServer, World
from wizard.demo.world import dumps_toml
from wizard.engine.catalog import load_catalog

DRIVE_HOSTS = ("drive.google.com", "drive.usercontent.google.com", "docs.google.com")
#: Files at least this large get the virus-scan page first (Drive: about 100 MB; the world's are tiny).
VIRUS_SCAN_FROM = 4096
QUOTA_PAGE = (b'<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>\n'
              b'<div class="uc-main"><div id="uc-text"><p class="uc-error-caption">Sorry, you can&#39;t view or '
              b'download this file at this time.</p>\n<p class="uc-error-subcaption">Too many users have viewed or '
              b'downloaded this file recently. Please try accessing the file again later. If the file you are trying '
              b'to access is particularly large or is shared with many people, it may take up to 24 hours to be able '
              b'to view or download the file. If you still can&#39;t access a file after 24 hours, contact your '
              b'domain administrator.</p></div></div></body></html>\n')


class FakeDrive:
    """drive.google.com and drive.usercontent.google.com over the world's ``drive/`` folder."""

    def __init__(self, docroot: Path) -> None:
        self.files: dict[str, Path] = {}
        self.folders: dict[str, list[tuple[str, str]]] = {}
        for path in sorted((docroot / "drive").iterdir()):
            if path.is_file():
                self.files[path.name] = path
        by_content = {hashlib.sha256(p.read_bytes()).hexdigest(): fid for fid, p in self.files.items()}
        for folder in sorted((docroot / "drive/folders").iterdir()):
            listing = []
            for path in sorted(folder.iterdir()):
                fid = by_content.get(hashlib.sha256(path.read_bytes()).hexdigest())
                if fid is None:  # a file with no id of its own in the catalog (OCR-VQA's two)
                    fid = "1" + hashlib.sha1(f"{folder.name}/{path.name}".encode()).hexdigest()[:32]
                    self.files[fid] = path
                listing.append((fid, path.name))
            self.folders[folder.name] = listing
        self.quota: set[str] = set()
        #: (host, path) -> answers to give before the real one: (status, headers, body)
        self.faults: dict[tuple[str, str], list[tuple[int, dict[str, str], bytes]]] = {}
        self.cut: set[str] = set()  # files whose next full answer stops half-way (then the id leaves the set)
        self.seen: list[tuple[str, str, str | None]] = []  # (host, path?query, Range)
        self.cookies: list[str] = []  # each request's Cookie header
        drive = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                drive.answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def reissue(self, fid: str) -> str:
        """The file gets a new id (re-uploaded): the old one answers 404, the folder lists the new one."""
        new = "1" + hashlib.sha1(f"again:{fid}".encode()).hexdigest()[:32]
        self.files[new] = self.files.pop(fid)
        for listing in self.folders.values():
            listing[:] = [(new if i == fid else i, n) for i, n in listing]
        return new

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    # -- answers ------------------------------------------------------------------------------
    def answer(self, h: BaseHTTPRequestHandler) -> None:
        host = h.headers.get("X-Test-Host", "")
        split = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        self.seen.append((host, h.path, h.headers.get("Range")))
        self.cookies.append(h.headers.get("Cookie", ""))
        fid = query.get("id", "")
        queued = self.faults.get((host, split.path))
        if queued:
            status, headers, body = queued.pop(0)
            return self._send(h, status, body, headers)
        if host == "drive.google.com" and split.path == "/embeddedfolderview" and fid in self.folders:
            rows = "".join(f'<div class="flip-entry"><a href="https://drive.google.com/file/d/{i}/view?usp=drive_web" '
                           f'target="_blank"><div class="flip-entry-title">{html.escape(n)}</div></a></div>\n'
                           for i, n in self.folders[fid])
            page = f"<!DOCTYPE html><html><head><title>folder {fid}</title></head><body>\n{rows}</body></html>\n"
            return self._send(h, 200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})
        if fid not in self.files:
            return self._send(h, 404, b"<html><body>Not Found</body></html>", {"Content-Type": "text/html"})
        if fid in self.quota:
            return self._send(h, 200, QUOTA_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        path = self.files[fid]
        big = path.stat().st_size >= VIRUS_SCAN_FROM
        if host == "drive.google.com" and split.path == "/uc":
            if big:
                return self._virus_scan_page(h, fid, path)
            target = f"https://drive.usercontent.google.com/download?id={fid}&export=download"
            return self._send(h, 303, b"", {"Location": target})
        if host == "drive.usercontent.google.com" and split.path == "/download":
            if big and query.get("confirm") != "t":
                return self._virus_scan_page(h, fid, path)
            return self._file(h, path, cut=fid in self.cut and not h.headers.get("Range"))
        return self._send(h, 404, b"", {})

    def _virus_scan_page(self, h: BaseHTTPRequestHandler, fid: str, path: Path) -> None:
        form = ('<form id="download-form" action="https://drive.usercontent.google.com/download" method="get">'
                '<input type="submit" id="uc-download-link" class="goog-inline-block jfk-button jfk-button-action" '
                f'value="Download anyway"/><input type="hidden" name="id" value="{fid}">'
                '<input type="hidden" name="export" value="download"><input type="hidden" name="confirm" value="t">'
                '<input type="hidden" name="uuid" value="8a1f2c3d-0000-4e5f-9a6b-7c8d9e0f1a2b"></form>')
        page = ("<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>\n"
                '<div class="uc-main"><div id="uc-text"><p class="uc-warning-caption">Google Drive can&#39;t scan '
                "this file for viruses.</p><p class=\"uc-warning-subcaption\"><span class=\"uc-name-size\">"
                f"<a href=\"/open?id={fid}\">{html.escape(path.name)}</a> ({path.stat().st_size // 1024}K)</span> is "
                "too large for Google to scan for viruses. Would you still like to download this file?</p>\n"
                f"{form}\n</div></div></body></html>\n")
        self._send(h, 200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})

    def _file(self, h: BaseHTTPRequestHandler, path: Path, *, cut: bool = False) -> None:
        data = path.read_bytes()
        etag = f'"{hashlib.sha1(data).hexdigest()}"'
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes", "ETag": etag,
                   "Content-Disposition": f"attachment; filename=\"{path.name}\"; filename*=UTF-8''{quote(path.name)}",
                   "Last-Modified": "Mon, 20 Nov 2023 08:00:00 GMT"}
        wanted = h.headers.get("Range", "")
        if wanted.startswith("bytes=") and h.headers.get("If-Range") in (None, etag):
            first = int(wanted[6:].split("-")[0])
            headers["Content-Range"] = f"bytes {first}-{len(data) - 1}/{len(data)}"
            return self._send(h, 206, data[first:], headers)
        if cut:
            self.cut.discard(path.name if path.name in self.cut else next(iter(self.cut)))
            h.send_response(200)
            for key, value in headers.items():
                h.send_header(key, value)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data[:len(data) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        self._send(h, 200, data, headers)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


@pytest.fixture
def drive(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDrive]:
    fake = FakeDrive(world.docroot)
    send = requests.adapters.HTTPAdapter.send

    def to_fake(adapter: Any, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(str(request.url))
        if parts.hostname in DRIVE_HOSTS:  # the test's DNS: Google's hosts are the fake
            request.url = f"{fake.url}{parts.path}" + (f"?{parts.query}" if parts.query else "")
            request.headers["X-Test-Host"] = str(parts.hostname)
        return send(adapter, request, *args, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", to_fake)
    monkeypatch.setattr("wizard.engine.net.policy.backoff", lambda *args, **kwargs: 0.0)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    import gdown  # noqa: F401 (loads gdown.download, which fixed its default cookies file at import)

    monkeypatch.setattr(sys.modules["gdown.download"], "DEFAULT_COOKIES_FILE",
                        str(tmp_path / "home/.cache/gdown/cookies.txt"))
    yield fake
    fake.close()


def _catalog(world: World, mirror: MirrorServer, path: Path) -> Path:
    """The world's catalog with the bundled catalog's real Drive URL templates."""
    data = world.catalog_data(mirror.base_url)
    data["drive"] = {"file_url": "https://drive.google.com/uc?id={id}",
                     "folder_url": "https://drive.google.com/drive/folders/{id}"}
    path.write_text(dumps_toml(data), encoding="utf-8")
    assert load_catalog(path).drive_file_url.startswith("https://drive.google.com/")
    return path


def _said(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_drive_files_folders_and_the_virus_scan_page_as_drive_serves_them(
        world: World, mirror: MirrorServer, drive: FakeDrive, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    catalog = _catalog(world, mirror, tmp_path / "cat.toml")
    root = tmp_path / "root"
    wanted = "json-cap100k,sam-9k,web-celebrity,wikiart"
    assert main(["run", "--catalog", str(catalog), "--root", str(root), "--components", wanted, "--yes",
                 "--full-archives"]) == 0, _said(capsys)
    expected = world.expected_tree(["sam-9k", "web-celebrity", "wikiart"])
    got = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
           and not p.relative_to(root).as_posix().startswith((".sharegpt4v-setup", "sharegpt4v/"))}
    assert got == expected
    confirmed = [p for host, p, _ in drive.seen if host == "drive.usercontent.google.com" and "confirm=t" in p]
    assert confirmed, "the large file came through the virus-scan page's form"


def test_ocr_vqa_finds_dataset_json_in_its_drive_folder(
        world: World, mirror: MirrorServer, drive: FakeDrive, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    catalog = _catalog(world, mirror, tmp_path / "cat.toml")
    root = tmp_path / "root"
    code = main(["run", "--catalog", str(catalog), "--root", str(root), "--components", "json-sft,ocr-vqa", "--yes"])
    out = _said(capsys)
    assert code == 0, out
    listed = [p for host, p, _ in drive.seen if p.startswith("/embeddedfolderview")]
    assert listed and all("1_GYPY5UkUy7HIcR0zq3ZCFgeZN7BAfm_" in p for p in listed)
    assert main(["verify", "--root", str(root)]) in (0, 1)
    report = _said(capsys)
    assert "ocr_vqa" in report
    saved = {p.name for p in (root / "ocr_vqa/images").iterdir()}
    assert saved and all(n.endswith(".jpg") for n in saved)


def test_a_drive_file_over_its_quota_waits_and_the_rest_finishes(
        world: World, mirror: MirrorServer, drive: FakeDrive, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    catalog = _catalog(world, mirror, tmp_path / "cat.toml")
    sam9k = load_catalog(catalog).component("sam-9k").sources[0].id
    assert sam9k is not None
    drive.quota.add(sam9k)
    root = tmp_path / "root"
    code = main(["run", "--catalog", str(catalog), "--root", str(root), "--components", "sam-9k,web-celebrity",
                 "--yes"])
    out = _said(capsys)
    assert code == 4, out
    assert "[drive-quota]" in out and "sam-9k" in out
    assert (root / "web-celebrity/images").is_dir()
    drive.quota.clear()
    assert main(["run", "--root", str(root), "--yes"]) == 0, _said(capsys)
    assert any(p.suffix == ".jpg" for p in (root / "sam/images").iterdir())


def test_a_download_cut_after_the_virus_scan_page_resumes_with_a_range(
        world: World, mirror: MirrorServer, drive: FakeDrive, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import gdown  # noqa: F401 (loads gdown.download)

    # the miniature's files are a few KB, Drive's GB: a cut must come after a whole chunk
    monkeypatch.setattr(sys.modules["gdown.download"], "CHUNK_SIZE", 1024)
    catalog = _catalog(world, mirror, tmp_path / "cat.toml")
    sam9k = load_catalog(catalog).component("sam-9k").sources[0].id
    assert sam9k is not None
    drive.cut.add(sam9k)
    root = tmp_path / "root"
    assert main(["run", "--catalog", str(catalog), "--root", str(root), "--components", "sam-9k", "--yes"]) == 0, \
        _said(capsys)
    size = drive.files[sam9k].stat().st_size
    ranged = [r for host, p, r in drive.seen if host == "drive.usercontent.google.com" and r]
    assert len(ranged) == 1 and 0 < int(ranged[0][6:-1]) <= size // 2  # what came is kept, not fetched again
    assert sorted(p.relative_to(root).as_posix() for p in (root / "sam/images").iterdir()) == \
        sorted(world.expected_tree(["sam-9k"]))


COOKIES = ("# Netscape HTTP Cookie File\n"
           ".google.com\tTRUE\t/\tTRUE\t4102444800\tSID\tsigned-in-user\n")


def test_drive_writes_nothing_outside_the_root_and_no_two_jobs_share_a_cookie_file(
        world: World, mirror: MirrorServer, drive: FakeDrive, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """gdown writes the session's cookies back after each Drive answer, emptying the file first:
    two jobs sharing one file read each other's half-written copy and lose the user's sign-in;
    its default file (~/.cache/gdown/cookies.txt) is outside the data root."""
    import gdown

    given: list[tuple[str, str | None, bool]] = []  # (what, cookies file, use_cookies)
    for name in ("download", "download_folder"):
        real = getattr(gdown, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            given.append((kwargs.get("output") or kwargs.get("id") or _name, kwargs.get("cookies_file"),
                          kwargs.get("use_cookies", True)))
            return _real(*args, **kwargs)

        monkeypatch.setattr(gdown, name, spy)
    home = Path.home()
    catalog = _catalog(world, mirror, tmp_path / "cat.toml")
    root = tmp_path / "root"
    wanted = "json-sft,ocr-vqa,sam-9k,web-celebrity,wikiart"
    assert main(["run", "--catalog", str(catalog), "--root", str(root), "--components", wanted, "--yes"]) == 0, \
        _said(capsys)
    assert not (home / ".cache").exists()  # nothing of gdown's under the user's home
    assert given and all(not used for _, _, used in given)  # no cookies anywhere: gdown opens no file

    # With the user's cookies: every Drive job has its own private copy, and every request carries them.
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(COOKIES)
    given.clear()
    drive.cookies.clear()
    root2 = tmp_path / "root2"
    assert main(["run", "--catalog", str(catalog), "--root", str(root2), "--components", wanted, "--yes",
                 "--drive-cookies", str(cookies)]) == 0, _said(capsys)
    files = {what: path for what, path, _ in given}
    assert len(given) >= 4 and all(used for _, _, used in given)
    by_job = {Path(str(p)).name for p in files.values()}
    assert len(by_job) == 4  # sam-9k, web-celebrity, wikiart and ocr-vqa's folder listing and file
    assert all(Path(str(p)).parent == root2 / ".sharegpt4v-setup" for p in files.values())
    assert drive.cookies and all("SID=signed-in-user" in c for c in drive.cookies)
    assert cookies.read_text() == COOKIES
    assert not (home / ".cache").exists()


def test_cookies_the_user_left_for_gdown_are_read_never_written(
        world: World, mirror: MirrorServer, drive: FakeDrive, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """gdown's FAQ tells users to put a browser's cookies at ~/.cache/gdown/cookies.txt."""
    theirs = Path.home() / ".cache/gdown/cookies.txt"
    theirs.parent.mkdir(parents=True)
    theirs.write_text(COOKIES)
    before = theirs.stat().st_mtime_ns
    catalog = _catalog(world, mirror, tmp_path / "cat.toml")
    root = tmp_path / "root"
    assert main(["run", "--catalog", str(catalog), "--root", str(root), "--components", "web-celebrity",
                 "--yes"]) == 0, _said(capsys)
    assert theirs.read_text() == COOKIES and theirs.stat().st_mtime_ns == before
    assert (root / ".sharegpt4v-setup/drive-cookies.web-celebrity.txt").is_file()


SORRY = (b"<html><head><title>Sorry...</title></head><body><div>We're sorry... but your computer or network may be "
         b"sending automated queries. To protect our users, we can't process your request right now.</div>"
         b"</body></html>")


def test_a_busy_drive_answering_the_folder_listing_is_retried(
        world: World, mirror: MirrorServer, drive: FakeDrive, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """OCR-VQA's dataset.json is found through its folder: a 500 or 429 there is Drive being busy,
    retried like every other request, not the end of the job."""
    html_page = {"Content-Type": "text/html; charset=UTF-8"}
    drive.faults[("drive.google.com", "/embeddedfolderview")] = [(500, html_page, SORRY), (429, html_page, SORRY)]
    catalog = _catalog(world, mirror, tmp_path / "cat.toml")
    root = tmp_path / "root"
    code = main(["run", "--catalog", str(catalog), "--root", str(root), "--components", "json-sft,ocr-vqa", "--yes"])
    out = _said(capsys)
    assert code == 0, out
    assert "Drive answered 500" in out and "Drive answered 429" in out
    assert len([p for _, p, _ in drive.seen if p.startswith("/embeddedfolderview")]) == 3
    assert (root / "ocr_vqa/images").is_dir()


def test_a_folder_drive_no_longer_shares_is_a_permission_problem_not_the_network(
        world: World, mirror: MirrorServer, drive: FakeDrive, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    drive.faults[("drive.google.com", "/embeddedfolderview")] = [
        (404, {"Content-Type": "text/html; charset=UTF-8"}, b"<html><body>Not Found</body></html>")]
    catalog = _catalog(world, mirror, tmp_path / "cat.toml")
    code = main(["run", "--catalog", str(catalog), "--root", str(tmp_path / "root"), "--components",
                 "json-sft,ocr-vqa", "--yes"])
    out = _said(capsys)
    assert code == 1
    failed = next(line for line in out.splitlines() if line.startswith("FAILED  ocr-vqa"))
    assert "[drive-permission]" in failed and "1_GYPY5UkUy7HIcR0zq3ZCFgeZN7BAfm_" in failed
    hint = out[out.index(failed):].splitlines()[1]
    assert "Anyone with the link" in hint and "--local" in hint


def test_a_file_id_that_no_longer_works_is_found_in_its_folder(
        world: World, mirror: MirrorServer, drive: FakeDrive, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """DATA: the four WebData file ids come from one unvetted script; the folder id is the official link."""
    catalog = _catalog(world, mirror, tmp_path / "cat.toml")
    old = load_catalog(catalog).component("wikiart").sources[0].id
    assert old is not None
    new = drive.reissue(old)
    root = tmp_path / "root"
    code = main(["run", "--catalog", str(catalog), "--root", str(root), "--components", "wikiart", "--yes",
                 "--full-archives"])
    out = _said(capsys)
    assert code == 0, out
    assert f"the file id {old} did not work" in out
    assert any(f"id={new}" in p for host, p, _ in drive.seen if host == "drive.usercontent.google.com")
    assert {p.relative_to(root).as_posix() for p in (root / "wikiart/images").iterdir()} == \
        world.expected_tree(["wikiart"])
