"""Archives written by other tools, and hostile ones, through extract_archive: each ends in an
exact layout or a coded problem (session 8's sweep; the older cases are in test_extract*.py and
test_hostile_archives.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from helpers import make_ctx

from wizard.engine.catalog import Layout
from wizard.engine.extract import extract_archive


def test_a_zip_member_with_an_empty_or_dot_path_component_lands_at_its_plain_path(tmp_path: Path) -> None:
    """``unzip`` writes ``train2017//1.jpg`` to ``train2017/1.jpg``; so does the extraction
    (the small-member writer opened the folder ``1/`` name by name and met an empty one)."""
    archive = tmp_path / "train2017.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("train2017//000000000009.jpg", b"nine")
        zf.writestr("train2017/./sub//./000000000025.jpg", b"twenty-five")
        zf.writestr("train2017/000000000030.jpg", b"thirty")
    ctx, _rec = make_ctx(tmp_path / "root")
    dest = tmp_path / "root" / "coco" / "train2017"
    result = extract_archive(ctx, archive, "zip", dest, Layout(strip="train2017/"))
    assert result.written == 3
    found = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    assert found == {"000000000009.jpg": b"nine", "sub/000000000025.jpg": b"twenty-five",
                     "000000000030.jpg": b"thirty"}
