"""The path, URL and number rules a catalog must follow (units; end to end in test_hostile.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard.cli import main
from wizard.engine.catalog import check_relative, check_url, load_catalog, name_problem
from wizard.paths import default_catalog_path


@pytest.mark.parametrize("name", ["sa_000050.tar", "train2017.zip", "Luke_Evans.jpg", "café-münchen.jpg",
                                  "share-captioner_coco_lcs_sam_1246k_1107.json", "a.b.c", "CONSOLE.txt",
                                  "com10", "nul_x"])
def test_portable_names_pass(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(("name", "why"), [
    ("", "not a name"), (".", "not a name"), ("..", "not a name"),
    ("CON", "reserved"), ("con.zip", "reserved"), ("Nul.tar.gz", "reserved"), ("COM1", "reserved"),
    ("lpt9.txt", "reserved"), ("AUX ", "reserved"),
    ("a<b", "Windows"), ('a"b', "Windows"), ("a?b", "Windows"), ("a*b", "Windows"), ("a|b", "Windows"),
    ("C:x", "Windows"), ("a/b", "separator"), ("a\\b", "separator"), ("a\nb", "control"),
    ("a\x00b", "control"), ("x.", "dot or a space"), ("x ", "dot or a space"),
    ("é" * 128, "bytes long"),
])
def test_names_windows_or_any_filesystem_refuses_are_refused(name: str, why: str) -> None:
    problem = name_problem(name)
    assert problem is not None and why in problem


@pytest.mark.parametrize(("value", "why"), [
    ("../x", "'..'"), ("a/../../x", "'..'"), ("/abs", "absolute"), ("C:/x", "absolute"), ("c:x", "absolute"),
    ("a\\b", "backslash"), ("a//b", "not a name"), (".sharegpt4v-setup", "state folder"),
    (".SHAREGPT4V-SETUP/downloads", "state folder"), ("coco/con", "reserved"), ("", "empty"),
])
def test_paths_that_could_leave_the_root_are_refused(value: str, why: str) -> None:
    problem = check_relative(value)
    assert problem is not None and why in problem


def test_relative_paths_and_layout_prefixes_pass() -> None:
    assert check_relative("llava/llava_pretrain/images") is None
    assert check_relative("train2017/", folder_prefix=True) is None
    assert check_relative("data/web-celebrity/images/", folder_prefix=True) is None
    assert check_relative("train2017/") is not None  # a target has no trailing empty name


@pytest.mark.parametrize(("url", "ok"), [
    ("https://huggingface.co", True), ("http://images.cocodataset.org/zips/train2017.zip", True),
    ("http://127.0.0.1:8080/x", True), ("file:///etc/passwd", False), ("ftp://example.org/x", False),
    ("https://", False), ("https://host:99999/x", False), ("javascript:alert(1)", False),
    ("https://host/a b", False),
])
def test_only_http_and_https_urls_with_a_host_pass(url: str, ok: bool) -> None:
    assert (check_url(url) is None) == ok


def test_the_bundled_catalog_follows_every_rule() -> None:
    catalog = load_catalog()
    assert catalog.components and all(check_relative(c.target) is None for c in catalog.components)


def test_two_components_saving_their_downloads_under_one_name_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """GQA's and VG part 1's URLs both end in images.zip (and LLaVA-Pretrain's Hub file is images.zip):
    a catalog without their 'filename' would have two jobs write downloads/images.zip at once (seen:
    one failed as '[io-error] ... images.zip.part.json ... Check the disk (dmesg, fsck)')."""
    text = default_catalog_path().read_text(encoding="utf-8")
    assert 'filename = "gqa-images.zip"' in text and 'filename = "vg-images.zip"' in text
    mine = tmp_path / "mirror.toml"
    mine.write_text(text.replace('  filename = "gqa-images.zip"\n', ""), encoding="utf-8")
    root = tmp_path / "root"
    assert main(["plan", "--catalog", str(mine), "--root", str(root), "--components", "gqa,vg-part1"]) == 2
    err = capsys.readouterr().err
    assert "[catalog-invalid]" in err and "component 'gqa'" in err and "'images.zip'" in err
    assert "component 'llava-pretrain'" in err and "filename" in err
    mine.write_text(text.replace('filename = "vg-images2.zip"', 'filename = "GQA-images.zip"'), encoding="utf-8")
    assert main(["plan", "--catalog", str(mine), "--root", str(root), "--components", "vg-part2"]) == 2
    assert "'GQA-images.zip', as component 'gqa'" in capsys.readouterr().err  # one name on a case-blind disk
