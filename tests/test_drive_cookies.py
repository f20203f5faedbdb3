"""``--drive-cookies FILE``: gdown gets the user's cookies (a private copy; the file is never
changed) for users Google Drive's quota stops; a resumed run brings the option back."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard.cli import main
from wizard.demo import MirrorServer

COOKIES = "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t4102444800\tNID\tsigned-in-user\n"


def drive_gets(mirror: MirrorServer) -> list[dict[str, str]]:
    return [dict(r.headers) for r in mirror.requests if r.method == "GET" and r.path.startswith("/drive/")]


def test_drive_cookies_reach_gdown_and_the_users_file_is_untouched(
        demo_catalog: Path, mirror: MirrorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(COOKIES)
    before = cookies.stat()
    root = tmp_path / "root"
    assert main(["run", "--catalog", str(demo_catalog), "--root", str(root), "--components", "web-celebrity",
                 "--drive-cookies", str(cookies), "--yes", "--quiet"]) == 0
    gets = drive_gets(mirror)
    assert gets and all("NID=signed-in-user" in h.get("Cookie", "") for h in gets)
    assert cookies.read_text() == COOKIES and cookies.stat().st_mtime_ns == before.st_mtime_ns
    copy = root / ".sharegpt4v-setup/drive-cookies.web-celebrity.txt"  # one per job: gdown writes it back
    assert copy.is_file() and copy.stat().st_mode & 0o077 == 0  # private to the user

    capsys.readouterr()
    assert main(["plan", "--root", str(root)]) == 0
    assert f"--drive-cookies {cookies}" in capsys.readouterr().err  # resume brings it back


def test_without_the_option_no_cookie_file_is_made(demo_catalog: Path, mirror: MirrorServer, tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert main(["run", "--catalog", str(demo_catalog), "--root", str(root), "--components", "web-celebrity",
                 "--yes", "--quiet"]) == 0
    assert all("Cookie" not in h for h in drive_gets(mirror))
    assert not list((root / ".sharegpt4v-setup").glob("drive-cookies*"))


@pytest.mark.parametrize("content", [
    '[{"domain": ".google.com", "name": "NID", "value": "x"}]',  # a browser extension's JSON export
    "NID=signed-in-user; SID=abc\n",  # a Cookie header pasted into a file
])
def test_cookies_not_in_netscape_format_are_a_coded_problem(
        content: str, demo_catalog: Path, mirror: MirrorServer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(content)
    root = tmp_path / "root"
    code = main(["run", "--catalog", str(demo_catalog), "--root", str(root), "--components", "web-celebrity",
                 "--drive-cookies", str(cookies), "--yes", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "[local-invalid]" in err and "Netscape format" in err and "--drive-cookies" in err
    assert "Warning" not in err  # not gdown's Python warning, with its source line
    assert drive_gets(mirror) == []  # nothing asked of Drive without the cookies the user meant to give
    assert cookies.read_text() == content
