"""Read the annotation JSONs as a stream: each record's ``image`` path, with bounded memory.

The ShareGPT4V JSONs are lists of ``{"id", "image", "conversations"}`` records of up to
1.5 GB; ``json.load`` would need several GB of RAM. :func:`iter_image_paths` yields one value
per record, read a chunk at a time by simdjson (:mod:`.jsonscan`), or by ijson (its C backend,
yajl2_c, when installed) where simdjson cannot be trusted with the file. :func:`check_path` says why an ``image``
value can never be a file under the data root, :func:`classify` names the image folder a path
belongs to, and :func:`check_image` says whether the file a record points at is a whole image
(``verify --deep``). :func:`find_jsons` lists the annotation JSONs present under a data root.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

import ijson

from ..paths import STATE_DIR_NAME
from . import jsonscan
from .catalog import Catalog, load_catalog
from .errors import Code, SetupError
from .imagesig import sniff

log = logging.getLogger(__name__)

#: Folder under the data root holding the annotation JSONs.
JSON_DIR = "sharegpt4v"
#: The image folders of the ShareGPT4V layout, by the first component of their paths.
FOLDER_KEYS = (
    "coco", "sam", "llava", "gqa", "ocr_vqa", "textvqa", "vg",
    "web-celebrity", "web-landmark", "wikiart", "share_textvqa",
)
#: Folder key of an image path with no folder (a file directly under the data root).
ROOT_KEY = "(root)"
#: ijson read size; 64 KiB measured fastest with the C backend (1 MiB and 4 MiB were not faster).
BUF_SIZE = 64 * 1024
_BATCH = 4096  # values a list when ijson reads
_MAX_READ = 64 << 20  # the largest read while one record runs on (see _CountingReader)
_BOM = b"\xef\xbb\xbf"


def classify(image_path: str) -> str:
    """The image folder key of a path: its first component ("coco", "sam", "llava", ...).

    Every folder of the layout (:data:`FOLDER_KEYS`) is a top-level folder, so the first
    component is the key; an unknown first component is returned as it is, and a path with no
    folder gives :data:`ROOT_KEY`.
    """
    path = image_path
    while path.startswith("./"):
        path = path[2:]
    head, sep, _ = path.lstrip("/").partition("/")
    return head if sep else ROOT_KEY


def check_path(image: str) -> str | None:
    """Why ``image`` is not a usable path relative to the data root, or None when it is.

    Invalid: empty (also a non-string or null ``image`` value, see :func:`iter_image_paths`),
    absolute, a drive letter, a backslash (Windows separator or a leftover escape), a NUL
    character, a line break (the reports list one path per line), a ``..`` component, a path
    into the app's state folder, or a path naming a folder. Such paths are reported, never looked
    up on disk.
    """
    if not image:
        return "empty path (or a non-string image value)"
    if image[0] == "/":
        return "absolute path"
    if "\\" in image:
        return "backslash in path (Windows separator or an escape)"
    if len(image) > 1 and image[1] == ":" and image[0].isalpha():
        return "drive letter in path"
    if "\x00" in image:
        return "NUL character in path"
    if "\n" in image or "\r" in image:
        return "line break in path"
    parts = image.split("/")
    if ".." in parts:
        return "'..' component leaves the data root"
    if next((p for p in parts if p not in ("", ".")), "").casefold() == STATE_DIR_NAME.casefold():
        return f"points into the app's own state folder {STATE_DIR_NAME}/"
    if parts[-1] in ("", "."):
        return "names a folder, not a file"
    return None


def normalize(image: str) -> str:
    """``image`` without ``.`` and empty components (``./coco//a.jpg`` -> ``coco/a.jpg``).

    Training code joins the path to the data root, so these spell the same file.
    """
    parts = image.split("/")
    if "" not in parts and "." not in parts:
        return image
    return "/".join(part for part in parts if part not in ("", "."))


class _CountingReader:
    """A binary file wrapper that counts bytes read and reports them to a callback.

    For ijson it reads more at a time while a record runs on: its reader (yajl) scans a token cut
    by the end of a read again from its start at each next read, so a 128 MB string read 64 KiB at
    a time cost ~2,000 scans of up to 128 MB (87-116 s). When no record ended since the last read
    (the reader's user counts them in ``records``), the next read is twice as large, up to
    :data:`_MAX_READ`; the first record that ends brings it back to what was asked."""

    def __init__(self, f: IO[bytes], progress: Callable[[int], None] | None, *, guard: bool = False) -> None:
        self._f = f
        self._progress = progress
        self.consumed = 0
        self.records = 0  # records ended so far (set by the user)
        self._seen = -1  # ``records`` at the last read
        self._times = 1  # the next read is this many times what was asked
        #: with ``guard``: digits the bytes read so far end with (see :func:`.jsonscan.check_digits`)
        self._digits: int | None = 0 if guard else None

    def read(self, n: int = -1) -> bytes:
        if n > 0:
            if self.records == self._seen:
                self._times = min(self._times * 2, max(_MAX_READ // n, 1))
            else:
                self._times = 1
            self._seen = self.records
            n *= self._times
        data = self._f.read(n)
        if self._digits is not None:
            self._digits = jsonscan.check_digits(data, self._digits)  # before ijson's C backend sees it
        self.consumed += len(data)
        if self._progress is not None and data:
            self._progress(self.consumed)
        return data


def _never_back(progress: Callable[[int], None] | None) -> Callable[[int], None] | None:
    """``progress`` called with at least the largest value it had (ijson re-reading the part the
    chunked read had reported)."""
    if progress is None:
        return None
    most = 0

    def tick(done: int) -> None:
        nonlocal most
        most = max(most, done)
        progress(most)

    return tick


def _corrupt(path: Path, what: str) -> SetupError:
    return SetupError(
        Code.ANNOTATIONS_INVALID,
        f"{path.name} {what}",
        f"The annotation file {path} is damaged or is not the ShareGPT4V JSON. Delete it and "
        "download it again (components json-pt, json-cap100k, json-sft), then verify again.",
    )


def _check_start(path: Path, f: IO[bytes]) -> int:
    """Check that the file starts a JSON list; return the offset of the ``[``."""
    head = f.read(4096)
    offset = 3 if head.startswith(_BOM) else 0
    text = head[offset:].lstrip()
    offset += len(head) - offset - len(text)
    if not text:
        raise _corrupt(path, "is empty.")
    first = text[:1]
    if first == b"[":
        return offset
    if text.startswith(b"version https://git-lfs"):
        raise _corrupt(path, "is a Git LFS pointer file, not the JSON itself.")
    if first == b"<":
        raise _corrupt(path, "is an HTML/XML page (an error page saved as the file?), not JSON.")
    if first == b"{":
        raise _corrupt(path, "holds a JSON object; an annotation file is a list of records.")
    raise _corrupt(path, f"does not start with a JSON list (first bytes: {text[:16]!r}).")


def _parse_error(path: Path, exc: Exception, at: int, records: int) -> SetupError:
    if isinstance(exc, UnicodeDecodeError):
        exc = ValueError("a string escape is not valid text (a lone surrogate such as \\udc00)")
    message = exc.args[0] if exc.args else str(exc)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    first_line = str(message).strip().splitlines()[0] if str(message).strip() else type(exc).__name__
    if len(first_line) > 200:  # e.g. ijson quoting a 5,000-digit number whole
        first_line = first_line[:200] + "…"
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    where = f"after record {records:,}, near byte {at:,}" + (f" of {size:,}" if size else "")
    if "premature EOF" in first_line:
        return _corrupt(path, f"ends in the middle of the JSON ({where}): the file is truncated.")
    return _corrupt(path, f"is not valid JSON ({where}): {first_line}.")


def iter_image_paths(path: Path, *, progress: Callable[[int], None] | None = None
                     ) -> Iterator[str | None]:
    """Yield each record's ``image`` value, in file order, one per record.

    ``None`` means a text-only record (no ``image`` key). A ``null``, number or other
    non-string ``image`` value is yielded as ``""`` so that :func:`check_path` reports it.
    ``progress(bytes_read)`` is called after every chunk read (1 MiB; 64 KiB when ijson reads the
    file), never with less than it had before.
    Memory stays bounded by a chunk (:data:`.jsonscan.CHUNK`) or the largest single record.

    Raises :class:`SetupError` (``archive-corrupt``) when the file is not a JSON list of
    objects, is truncated or is not valid JSON; ``layout-incomplete`` when it cannot be read.
    """
    for batch in iter_image_batches(path, progress=progress):
        yield from batch


def iter_image_batches(path: Path, *, progress: Callable[[int], None] | None = None
                       ) -> Iterator[list[str | None]]:
    """:func:`iter_image_paths`' values a list at a time (a chunk's records, or a few thousand)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the with below, across yields
    except OSError as exc:
        raise SetupError(Code.LAYOUT_INCOMPLETE, f"Cannot read {path}: {exc.strerror}",
                         "Check that the file exists and is readable.") from exc
    with f:
        start = _check_start(path, f)
        skip = 0
        tick = _never_back(progress)
        try:
            for chunk in jsonscan.iter_chunks(f, start + 1, tick):
                skip += len(chunk)
                yield chunk
            return
        except jsonscan.Fallback as exc:
            log.info("%s: read by ijson after all (%s)", path.name, exc)
        except jsonscan.TooDeep:
            raise _corrupt(path, f"nests arrays or objects more than {jsonscan.MAX_DEPTH} levels deep (a "
                           "record of the ShareGPT4V JSON nests 3).") from None
        except OSError as exc:
            raise SetupError(Code.LAYOUT_INCOMPLETE, f"Cannot read {path}: {exc.strerror}",
                             "Check the disk and try again.") from exc
        items: Callable[..., Iterator[Any]] = ijson.items
        while True:
            f.seek(start)
            reader = _CountingReader(f, tick, guard=items is ijson.items)
            records = 0
            batch: list[str | None] = []
            try:
                for record in items(reader, "item", buf_size=BUF_SIZE):
                    records += 1
                    reader.records = records
                    if records <= skip:  # already given by the chunked read: the same values
                        continue
                    try:
                        batch.append(jsonscan.image_of(record))
                    except jsonscan.NotAnObject as exc:
                        raise _corrupt(path, f"has a record #{records:,} that is a "
                                       f"{exc.type_name}, not an object.") from None
                    if len(batch) >= _BATCH:
                        skip = records
                        yield batch
                        batch = []
            except jsonscan.LongNumber:  # a run of digits ijson's C backend would crash on: read again,
                log.info("%s: a long run of digits; read by ijson's Python backend", path.name)  # slowly
                items = jsonscan.python_items
                continue
            except (ijson.JSONError, UnicodeDecodeError) as exc:  # the latter: a lone surrogate escape (\udc00)
                raise _parse_error(path, exc, start + reader.consumed, records) from exc
            except OSError as exc:
                raise SetupError(Code.LAYOUT_INCOMPLETE, f"Cannot read {path}: {exc.strerror}",
                                 "Check the disk and try again.") from exc
            if batch:
                yield batch
            return


# ------------------------------------------------------------------------------------------
# Finding the JSONs
# ------------------------------------------------------------------------------------------
def known_json_names(catalog: Catalog | None = None) -> list[str]:
    """File names of the annotation JSONs the catalog places in ``sharegpt4v/``."""
    if catalog is None:
        try:
            catalog = load_catalog()
        except SetupError:
            return []
    names: list[str] = []
    for comp in catalog.components:
        if comp.target.strip("/") == JSON_DIR and comp.archive == "none":
            names += [s.file_name for s in comp.sources if s.file_name not in names]
    return names


def find_jsons(root: Path, catalog: Catalog | None = None) -> list[Path]:
    """The catalog's JSONs present in ``<root>/sharegpt4v/``, else every ``*.json`` there."""
    folder = root / JSON_DIR
    known = [folder / name for name in known_json_names(catalog)]
    found = [p for p in known if p.is_file()]
    if not found and folder.is_dir():
        found = sorted(p for p in folder.glob("*.json") if p.is_file())
    if not found:
        raise SetupError(
            Code.LAYOUT_INCOMPLETE, f"No annotation JSONs found in {folder}.",
            "Download them first (components json-pt, json-cap100k, json-sft) or name the JSON "
            "files to verify explicitly.")
    return found


# ------------------------------------------------------------------------------------------
# Referenced files: is the file really a whole image? (verify --deep)
# ------------------------------------------------------------------------------------------
OK, UNREADABLE, WRONG_FORMAT = 0, 1, 2
_EXT_FORMAT = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".gif": "GIF", ".webp": "WebP"}
_END_MARKER = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}


def check_image(path: str) -> tuple[int, str]:
    """(OK | UNREADABLE | WRONG_FORMAT, detail) for one image file.

    Unreadable: empty, no image signature, or truncated (a JPEG without its FF D9 end marker
    or a PNG without IEND within the last 16 bytes, trailing zero padding ignored; a WebP
    shorter than its RIFF header says). Wrong format: a whole image whose content does not
    match its extension (a GIF or PNG named .jpg).
    """
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            if not head:
                return UNREADABLE, "empty file"
            fmt = sniff(head)
            if fmt is None:
                return UNREADABLE, _not_an_image(head)
            size = f.seek(0, os.SEEK_END)
            if fmt == "WebP" and size < int.from_bytes(head[4:8], "little") + 8:
                return UNREADABLE, "truncated WebP (shorter than its header says)"
            marker = _END_MARKER.get(fmt)
            if marker is not None and marker not in _tail(f, size)[-16:]:
                return UNREADABLE, f"truncated {fmt} (no end marker)"
    except OSError as exc:
        return UNREADABLE, f"cannot read: {exc.strerror or exc}"
    ext = os.path.splitext(path)[1].lower()
    named = _EXT_FORMAT.get(ext)
    if named is not None and named != fmt:
        return WRONG_FORMAT, f"{fmt} content named {ext}"
    return OK, ""


def _tail(f: BinaryIO, size: int) -> bytes:
    """The last bytes of ``f`` before any zero padding (looking back at most 1 MiB)."""
    end = size
    while end > 0 and size - end < 1 << 20:
        start = max(end - 4096, 0)
        f.seek(start)
        block = f.read(end - start).rstrip(b"\0")
        if block:
            stop = start + len(block)
            if len(block) < 64 and start > 0:
                f.seek(max(stop - 64, 0))
                block = f.read(stop - max(stop - 64, 0))
            return block[-64:]
        end = start
    return b""


def _not_an_image(head: bytes) -> str:
    text = head.lstrip()
    if text.startswith(b"<"):
        return "an HTML/XML page, not an image"
    if text[:1] in (b"{", b"["):
        return "JSON text, not an image"
    return f"not an image (starts with {head[:8].hex(' ')})"
