"""Read a large list-of-records JSON a chunk at a time with simdjson; ijson where it cannot be trusted.

``verify`` reads every annotation JSON (1.5 GB, 1.25M records) each time it runs, and a full JSON
parser is the cost: ijson's C backend builds every record (1.5 GB of captions) as Python objects.
simdjson (``pysimdjson``) validates a whole chunk in C and builds nothing until asked, so only each
record's ``image`` value becomes a Python string.

The file is read a :data:`CHUNK` at a time into one reused buffer, cut at the last candidate
record boundary in it — a ``}``, a comma and a ``{`` starting with the first record's first key
(``{"id"``) — and ``[`` + the chunk + ``]`` is parsed. When every chunk is a valid JSON list, the
file is the same list and the records are the same: after a valid list prefix a parser is outside
any string, so each cut was a real record boundary (by induction from the file's ``[``); the last
chunk runs to the end of the file, its own ``]`` and anything after it included.

Where simdjson and a Python ``dict`` could disagree, the chunk is read by ijson instead (the
values are exactly the dict's): simdjson rejects what it cannot represent (integers past 64 bits,
nesting past 1024, a lone ``\\ud800``) though ijson accepts it, and its ``get`` returns the
*first* of duplicate keys where a dict keeps the last — so each record's keys are checked to be
distinct (cheaply: its field count and a known set of keys, see :func:`_simdjson_values`), and a
chunk with a repeated ``"image"`` goes to ijson. A chunk neither accepts, a non-object record or a
file without a cut raise :class:`Fallback`: the caller reads the whole file with ijson, which
words the error. The values already given are what that read gives for the same first records.
"""

from __future__ import annotations

import array
import io
import itertools
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import ijson

try:
    import simdjson
except (ImportError, RuntimeError):  # pragma: no cover - a platform without its wheel: ijson alone
    simdjson = None  # type: ignore[assignment]

#: Bytes of JSON parsed at a time (the parser keeps about three times this).
CHUNK = 1 << 20
#: A chunk grows up to this while it holds no record boundary; past it the file is read by ijson.
MAX_CHUNK = 64 << 20
_WS = rb"[ \t\n\r]*"
_FIRST_KEY = re.compile(_WS + rb'\{' + _WS + rb'("[^"\\]{1,64}")' + _WS + rb":")
_TRIES = 64  # "}" tried from a chunk's end before the rest of it is scanned
_SHAPES = 8  # sets of keys remembered per chunk (records of another set list their keys)
_IMAGE = b"image"
#: Nesting handed to ijson when simdjson refuses a chunk as too deep (past 1024 levels): ijson's
#: prefixes grow with the depth, so its time and memory grow with the square of it (40 MB here,
#: 24 GB for the 100,000 levels a few hundred KB of "[" make). Deeper chunks are refused.
MAX_DEPTH = 4096
#: A JSON string; possessive (Python 3.11), so one that a chunk cuts is given up in one pass, not
#: retried a byte shorter each time (6.3 s for a 64 MiB string, 0.7 s so).
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # as signed bytes: +1 in, -1 out


class LongNumber(Exception):
    """The bytes hold a run of digits longer than Python 3.11 turns into an ``int``
    (``sys.get_int_max_str_digits``): ijson's C backend crashes the whole process (a segfault) on
    such a number instead of raising, so it never gets to read one (:func:`check_digits`)."""


#: Digits to b"1", every other byte to b"0" (to find runs of digits at C speed).
_DIGIT_MAP = bytes(0x31 if 0x30 <= b <= 0x39 else 0x30 for b in range(256))
_DIGITS = b"0123456789"


def check_digits(data: bytes, carry: int = 0) -> int:
    """Raise LongNumber when ``data`` holds a run of digits past Python's int limit (with the
    ``carry`` digits the bytes before it ended with); return the digits ``data`` ends with.
    A run inside a string counts too: the caller reads such a file with ijson's Python backend,
    which raises a JSONError for a real number and reads a string as it is.

    Cheap for ordinary JSON: a run of more than ``limit`` digits covers two neighbouring bytes of
    every ``limit // 2``-th, so only when two such samples are digits is ``data`` searched."""
    limit = sys.get_int_max_str_digits()
    if not limit or not data:
        return 0
    if carry and data[0] in _DIGITS:
        head = len(data) - len(data.lstrip(_DIGITS))
        if carry + head > limit:
            raise LongNumber
        if head == len(data):
            return carry + head
    if b"11" in data[::max(limit // 2, 1)].translate(_DIGIT_MAP) and \
            data.translate(_DIGIT_MAP).find(b"1" * (limit + 1)) >= 0:
        raise LongNumber
    return len(data) - len(data.rstrip(_DIGITS)) if data[-1] in _DIGITS else 0


def safe_ijson(f: Any) -> Any:
    """The ijson backend that reads the file ``f`` without crashing: the C one, or the Python one
    when ``f`` holds a :class:`LongNumber` (one pass over it at C speed; ``f`` is left at 0)."""
    digits = 0
    try:
        while block := f.read(1 << 20):
            digits = check_digits(block, digits)
    except LongNumber:
        return ijson.get_backend("python")
    finally:
        f.seek(0)
    return ijson


def python_items(fileobj: Any, prefix: str, **kwargs: Any) -> Iterator[Any]:
    """``ijson.items`` of its pure-Python backend (slow; for bytes that hold a :class:`LongNumber`)."""
    backend: Any = ijson.get_backend("python")
    items: Iterator[Any] = backend.items(fileobj, prefix, **kwargs)
    return items


class Fallback(Exception):
    """The chunked read did not work out: read the whole file with ijson."""


class TooDeep(Exception):
    """A chunk nests arrays or objects deeper than :data:`MAX_DEPTH` (a ShareGPT4V record nests 3)."""


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


def available() -> bool:
    """Whether the chunked reader can run (simdjson is installed)."""
    return simdjson is not None


def _cut_pattern(head: bytes) -> re.Pattern[bytes]:
    """Candidate boundaries: ``}``, ``,`` then ``{`` and the first record's first key when it has
    a plain one (a boundary inside a record, between two conversation turns, rarely matches)."""
    m = _FIRST_KEY.match(head)
    key = re.escape(m.group(1)) + _WS + rb":" if m else rb'"'
    return re.compile(rb"\}" + _WS + rb"," + _WS + rb"(?=\{" + _WS + key + rb")")


def _last_cut(buf: bytearray, cut: re.Pattern[bytes], start: int, end: int) -> tuple[int, int] | None:
    """(end of the chunk, start of the next) at the last candidate in ``buf[start:end]``: the last
    few ``}`` are tried, then the rest is scanned once (linear, however many ``}`` strings hold)."""
    i = end
    for _ in range(_TRIES):
        i = buf.rfind(b"}", start, i)
        if i < 0:
            return None
        if m := cut.match(buf, i, end):
            return i + 1, m.end()
    last = None
    for m in cut.finditer(buf, start, i):
        last = m
    return None if last is None else (last.start() + 1, last.end())


def _ijson_values(doc: bytes) -> list[str | None]:
    items: Callable[..., Iterator[Any]] = ijson.items
    try:
        check_digits(doc)
    except LongNumber:  # simdjson refused it: not for ijson's C backend either
        items = python_items
    try:
        return [image_of(record) for record in items(io.BytesIO(doc), "item")]
    except (ijson.JSONError, UnicodeDecodeError, NotAnObject) as exc:
        raise Fallback(f"a chunk did not parse ({type(exc).__name__})") from None


def _chunk_values(parser: Any, buf: bytearray, stop: int) -> list[str | None]:
    """The image values of the list ``buf[:stop]`` (see the module docstring for who reads it)."""
    with memoryview(buf)[:stop] as view:
        try:
            records = parser.parse(view)
        except (ValueError, RuntimeError) as exc:  # not valid, or not representable by simdjson
            if str(exc).startswith("DEPTH_ERROR") and _depth(bytes(view)) > MAX_DEPTH:
                raise TooDeep from None
            return _ijson_values(bytes(view))
        try:
            return _simdjson_values(records)
        except _Duplicate:
            return _ijson_values(bytes(view))
        finally:
            del records  # the parser is reused only once no proxy of this chunk is left


def _depth(doc: bytes) -> int:
    """How deep ``doc`` nests its arrays and objects (brackets inside strings left out); at C
    speed, for the 64 MiB a chunk may grow to."""
    steps = array.array("b", _STRING.sub(b"", doc).translate(_STEP, _NOT_BRACKET))
    return max(itertools.accumulate(steps), default=0)


class _Duplicate(Exception):
    """A record has the key "image" twice: simdjson would give the first value, a dict the last."""


def _simdjson_values(records: Any) -> list[str | None]:
    """Each record's image value (as :func:`image_of` gives it from a dict), checking that no
    record repeats a key: a record of ``n`` fields that has each key of a known set of ``n``
    distinct keys has each just once; other records list their keys (rare: text-only ones).
    Keys are looked up as bytes (simdjson encodes a ``str`` key on every lookup)."""
    values: list[str | None] = []
    shapes: list[tuple[int, tuple[bytes, ...]]] = []
    for record in records:
        try:
            image = record.get(_IMAGE)
        except AttributeError:
            raise Fallback("a record is not an object") from None
        size = len(record)
        for count, keys in shapes:
            if count == size:
                for key in keys:
                    if key not in record:
                        break
                else:
                    break
        else:
            names = tuple(record.keys())
            if len(set(names)) != size:
                if names.count("image") > 1:
                    raise _Duplicate
            elif len(shapes) < _SHAPES:
                shapes.append((size, tuple(name.encode("utf-8") for name in names)))
        if image.__class__ is str:
            values.append(image)
        elif image is None and _IMAGE not in record:
            values.append(None)
        else:
            values.append("")
    return values


def iter_chunks(f: io.BufferedIOBase, first: int,
                progress: Callable[[int], None] | None = None) -> Iterator[list[str | None]]:
    """The image values of the records of the list whose first record starts at byte ``first`` of
    ``f`` (just past its ``[``), a chunk's list at a time, in file order; ``progress(offset)`` after
    each chunk. Raises Fallback (possibly after some values) or an OSError."""
    if simdjson is None:
        raise Fallback("simdjson is not installed")
    parser = simdjson.Parser()
    f.seek(first)
    buf = bytearray(CHUNK + 2)
    buf[0:1] = b"["
    have = 1  # buf[1:have] holds the bytes after the last cut, not parsed yet
    pos = first  # file offset of buf[1]
    cut: re.Pattern[bytes] | None = None
    while True:
        while have < len(buf) - 1 and (got := f.readinto(memoryview(buf)[have:len(buf) - 1])):
            have += got
        at_end = have < len(buf) - 1
        if cut is None:
            cut = _cut_pattern(bytes(buf[1:min(have, 4097)]))
        found = None if at_end else _last_cut(buf, cut, 1, have)
        if found is None and not at_end:
            if len(buf) - 2 >= MAX_CHUNK:
                if _depth(bytes(buf[1:have])) > MAX_DEPTH:  # not for ijson either (see MAX_DEPTH)
                    raise TooDeep
                raise Fallback(f"no record boundary in {MAX_CHUNK >> 20} MiB")
            buf.extend(bytes(len(buf) - 2))  # one record longer than a chunk: read twice as much
            continue
        stop, resume = found if found is not None else (have, have)
        tail = bytes(buf[resume:have])
        if found is not None:
            buf[stop] = 0x5D  # "]" over the separator's first byte
            stop += 1
        yield _chunk_values(parser, buf, stop)
        pos += resume - 1
        if progress is not None:
            progress(pos)
        if at_end:
            return
        buf[1:1 + len(tail)] = tail
        have = 1 + len(tail)
