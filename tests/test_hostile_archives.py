"""Hostile archives and state files through the headless CLI: coded problems, never a traceback,
nothing written outside the root (robust6's sweep; the helpers are test_hostile's)."""

from __future__ import annotations

import io
import zipfile

import pytest
from test_hostile import JPEG, Sandbox, box, cli, own_server, serve_coco  # noqa: F401 - fixtures

from wizard.demo import MirrorServer, World
from wizard.engine.errors import Code

GOOD = "train2017/000000000009.jpg"
ODD = "train2017/\u00e9000000025.jpg"  # not ASCII: zipfile flags it UTF-8; its name is damaged below
BAD_NAME = b"train2017/\xff\xfe000000025.jpg"  # as long as ODD's UTF-8, flagged UTF-8, not UTF-8


def zip_with_a_bad_utf8_name(*, where: str, big: bool = False) -> bytes:
    """Two members; ODD's name, flagged UTF-8, made invalid UTF-8 in the central directory
    (``where="central"``: both copies) or only in its local header (``where="local"``)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(GOOD, JPEG)
        zf.writestr(ODD, JPEG * (8000 if big else 1))
    data = buf.getvalue()
    raw = ODD.encode()
    assert len(BAD_NAME) == len(raw) and data.count(raw) == 2
    if where == "central":
        return data.replace(raw, BAD_NAME)
    return data.replace(raw, BAD_NAME, 1)  # the local header comes first


@pytest.mark.parametrize("case", ["central", "local-small", "local-big"])
def test_a_zip_name_flagged_utf8_that_is_not_is_a_coded_problem(
        case: str, box: Sandbox, world: World, own_server: MirrorServer,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    where, _, size = case.partition("-")
    data = zip_with_a_bad_utf8_name(where=where, big=size == "big")
    cat = serve_coco(world, own_server, box.top / "cat.toml", data)
    box.refresh()
    code, _out, err = cli(capsys, "run", "--catalog", cat, "--root", box.root, "--components", "coco-train2017",
                          "--yes", "--quiet", "--full-archives", "--keep-archives")
    assert code == 1, err
    assert f"[{Code.ARCHIVE_CORRUPT}]" in err and "coco.zip" in err and "hint:" in err, err
    assert f"[{Code.INTERNAL}]" not in err
    assert repr(BAD_NAME) in err or "\\xff\\xfe" in err, err  # the member's bytes, as stored
    box.assert_outside_unchanged()
