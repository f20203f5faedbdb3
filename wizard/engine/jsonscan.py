"""Read a large list-of-records JSON with two processes: each parses one half with ijson.

``verify`` reads every annotation JSON (1.5 GB, 1.25M records) each time it runs, and a full
JSON parser is the cost. A file from ``PARALLEL_FROM`` bytes on is cut at a candidate record
boundary past its middle — a ``}``, a comma and a ``{"`` — and a second process (``python -m
wizard.engine.jsonscan``) parses ``[`` + the second half while this one parses the first half
+ ``]``. When both halves are valid JSON lists, the file is the same list (after a valid list
prefix the parser is outside any string, so the cut was a real boundary) and the records are
the same; when either half fails (a damaged file, or a candidate that was text inside a string)
:class:`Fallback` is raised and the caller reads the whole file alone, which also words the error.
The values already given are what the whole-file parse gives for the same first records.

Frozen builds, one-core machines and the wizard's process read alone (:func:`.helper.allowed`).
The second half travels pickled, in lists of a few thousand values (about the size of the
paths), through a pipe a thread keeps drained (:class:`.helper.Helper`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

import ijson

from . import helper

#: Files from this size on are read by two processes (when there are two cores).
PARALLEL_FROM = 64 << 20
BUF_SIZE = 64 * 1024
_BATCH = 4096
_WINDOW = 16 << 20
_CUT = re.compile(rb'\}[ \t\n\r]*,[ \t\n\r]*(?=\{[ \t\n\r]*")')


class Fallback(Exception):
    """The two-process read did not work out: read the whole file alone."""


class NotAnObject(Exception):
    """A record is not a JSON object (``type_name`` says what it is)."""

    def __init__(self, type_name: str) -> None:
        super().__init__(type_name)
        self.type_name = type_name


def image_of(record: Any) -> str | None:
    """A record's ``image`` value: None without the key, "" when it is not a string."""
    try:
        image = record.get("image")
    except AttributeError:
        raise NotAnObject(type(record).__name__) from None
    if image.__class__ is str:
        return image
    if image is None and "image" not in record:
        return None
    return ""


class _Listed:
    """Bytes ``[start, stop)`` of a file read as ``[`` + those bytes + ``]``."""

    def __init__(self, f: IO[bytes], start: int, stop: int | None,
                 progress: Callable[[int], None] | None = None) -> None:
        self._f = f
        self._left = None if stop is None else stop - start
        self._head = b"["
        self._tail = b"]" if stop is not None else b""  # the file's own "]" ends the second half
        self._progress = progress
        self._pos = start
        f.seek(start)

    def read(self, n: int = -1) -> bytes:
        if n == 0:  # ijson's probe of the file's type
            return b""
        if self._head:
            head, self._head = self._head, b""
            return head
        want = n if self._left is None else min(n, self._left)
        data = self._f.read(want) if want > 0 else b""
        if self._left is not None:
            self._left -= len(data)
        if data:
            self._pos += len(data)
            if self._progress is not None:
                self._progress(self._pos)
            return data
        tail, self._tail = self._tail, b""
        return tail


def _values(reader: Any) -> Iterator[str | None]:
    for record in ijson.items(reader, "item", buf_size=BUF_SIZE):
        yield image_of(record)


def _cut(f: IO[bytes], first: int, size: int) -> tuple[int, int] | None:
    """(end of the first half, start of the second) at a candidate boundary past the middle."""
    near = first + (size - first) // 2
    f.seek(near)
    m = _CUT.search(f.read(_WINDOW))
    return (near + m.start() + 1, near + m.end()) if m else None


def can_split(size: int) -> bool:
    """Whether to read a file of ``size`` bytes in two processes (see :func:`.helper.allowed`)."""
    return size >= PARALLEL_FROM and helper.allowed()


def iter_split(path: str, f: IO[bytes], first: int, size: int,
               progress: Callable[[int], None] | None = None) -> Iterator[str | None]:
    """The image value of each record of the list whose first record starts at ``first``, read
    by two processes (see the module docstring). Raises Fallback (possibly after some values),
    NotAnObject, or an OSError."""
    cut = _cut(f, first, size)
    if cut is None:
        raise Fallback("no record boundary near the middle")
    end, start = cut
    second = helper.Helper("json-half", path, str(start))
    try:
        try:
            yield from _values(_Listed(f, first, end, progress))
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise Fallback(f"the first half did not parse ({exc})") from None
        try:
            for batch in second.values():
                yield from batch
        except helper.HelperFailed:
            raise Fallback("the second half did not parse") from None
        if progress is not None:
            progress(size)
    finally:
        second.stop()


def child_main(args: list[str]) -> int:
    """Child role ``json-half PATH START``: parse ``[`` + the file from START on and write
    length-prefixed pickled lists of image values to stdout; exit 1 if it does not parse."""
    path, start = args[0], int(args[1])
    out = sys.stdout.buffer
    batch: list[str | None] = []
    try:
        with open(path, "rb") as f:
            for value in _values(_Listed(f, start, None)):
                batch.append(value)
                if len(batch) >= _BATCH:
                    helper.send(out, batch)
                    batch = []
    except (ijson.JSONError, UnicodeDecodeError, NotAnObject, OSError):
        return 1
    helper.send(out, batch)
    out.flush()
    return 0

