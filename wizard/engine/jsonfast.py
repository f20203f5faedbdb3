"""Read the ``image`` value of each record of an annotation JSON fast, as a real JSON parser.

The annotation files are lists of flat records: ``{"id": .., "image": "..", "conversations":
[{"from": .., "value": ".."}, ...]}``. :func:`images` matches one whole record at a time with a
compiled regular expression of those shapes (an object of ``"image": string`` and other keys
whose values are scalars or lists of scalars and flat objects), so the long captions are skipped
in C. Whatever the expression accepts is valid JSON of a known structure; the checks a JSON parser
does inside strings are made once per chunk of whole records, at C speed: no control character,
valid UTF-8 (unless the chunk is ASCII), only valid escapes, no lone surrogate escape (ijson would
fail on one), and escaped quotes and backslashes neutralized first so that every ``"`` left
delimits a string. An ``image`` string is decoded by ``.decode()``, or by ijson when it holds an
escape (so ``\\u`` escapes come out exactly as ijson gives them).

Tabs and line ends between tokens make it use a stricter (slower) expression for the chunk.
Anything else — another shape, a number longer than 30 digits, invalid or truncated JSON —
raises :class:`Unexpected` at the first record that does not match; the caller reads the file
(or the rest) with ijson, which gives the values or words the error exactly as before.
Memory: one chunk (:data:`CHUNK`) and its copies, whatever the file size.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator

import ijson

#: Bytes read at a time.
CHUNK = 4 << 20
#: A record longer than this is left to ijson.
LONGEST = 4 * CHUNK

_WS = rb"[ \t\n\r]*+"
_NUM = rb"-?+(?:0|[1-9][0-9]{0,30}+)(?:\.[0-9]{1,30}+)?+(?:[eE][+-]?+[0-9]{1,4}+)?+(?![0-9])"
_MEMBERS_END = rb"(?:," + _WS + rb'(?=")|(?=\}))'  # a comma and another member, or the end


def _record(body: bytes) -> re.Pattern[bytes]:
    """One record and the comma or "]" after it; strings are ``"`` + ``body`` + ``"`` (on text
    whose escaped quotes and backslashes are neutralized, see :func:`_checked`)."""
    string = b'"' + body + b'"'
    scalar = rb"(?:" + string + rb"|" + _NUM + rb"|true|false|null)"
    flat = rb"\{" + _WS + rb"(?:" + string + _WS + rb":" + _WS + scalar + _WS + _MEMBERS_END + rb")*+\}"
    array = (rb"\[" + _WS + rb"(?:(?:" + flat + rb"|" + scalar + rb")" + _WS
             + rb"(?:," + _WS + rb"(?!\])|(?=\])))*+\]")
    key = rb'"(?!image")' + body.replace(b'[^"', b'[^"\\\\') + b'"'  # not "image", nor with an escape
    member = (rb'(?:"image"' + _WS + rb":" + _WS + b'"(' + body + b')"|' + key + _WS + rb":" + _WS
              + rb"(?:" + scalar + rb"|" + array + rb"))")
    return re.compile(_WS + rb"\{" + _WS + rb"(?:" + member + _WS + _MEMBERS_END + rb")*+\}" + _WS
                      + rb"(?:," + _WS + rb"(?=\{)|(\]))")


#: For text without control characters; and for text whose only ones are tabs and line ends.
_RECORD = _record(rb'[^"]*+')
#: The records of the hub's files exactly (json.dumps' spacing), tried first: fewer steps.
_STRING = rb'"[^"]*+"'
_SHIPPED = re.compile(rb'\{"id": (?:' + _STRING + rb"|" + _NUM + rb'), (?:"image": "([^"]*+)", )?+"conversations": '
                      rb'\[(?:\{"from": ' + _STRING + rb', "value": ' + _STRING + rb"\}(?:, (?=\{)|(?=\])))*+\]\}"
                      rb"(?:, ?+(?=\{)|(\]))")
_RECORD_STRICT = _record(rb'[^"\x00-\x1f]*+')
_EMPTY = re.compile(_WS + rb"\]")
_BLANK = re.compile(_WS)
# Every backslash starts a valid escape; \u escapes of surrogates only as a high-low pair.
_U = (rb"u(?:[0-9a-cA-CefEF][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2}"
      rb"|[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})")
_ESCAPES = re.compile(rb"(?:[^\\]*+\\(?:[/bfnrt]|" + _U + rb"))*+[^\\]*+")
_CONTROL = bytes(range(32))
_CONTROL_NOT_SPACE = bytes(set(range(32)) - set(b"\t\n\r"))
_SPACE = b" \t\n\r"


class Unexpected(Exception):
    """The text is not of the shapes this reader knows (or not valid JSON): use ijson."""


def images(read: Callable[[int], bytes]) -> Iterator[str | None]:
    """Each record's ``image`` value (None without the key) of the JSON list that ``read``
    returns (whitespace, ``[``, records, ``]``, whitespace, end). Raises :class:`Unexpected`
    at the first record it cannot vouch for; the values given before are right."""
    buf, eof = b"", False
    while not eof and not buf.lstrip(_SPACE):
        data = read(CHUNK)
        buf, eof = buf + data, not data
    pos = len(buf) - len(buf.lstrip(_SPACE)) + 1
    if buf[pos - 1:pos] != b"[":
        raise Unexpected("no list at the start")
    ended = first = False
    while not ended:
        if eof:
            buf = buf.rstrip(_SPACE)
        if not first and (empty := _EMPTY.match(buf, pos)) is not None:
            pos, ended = empty.end(), True
            break
        first = first or _end(_BLANK, buf, pos) < len(buf)  # an empty list's "]" is looked for until then
        safe = len(buf) if eof else buf.rfind(b"}") + 1  # no escape or character spans a "}"
        if safe > pos:
            text, record = _checked(buf, safe)
            match = record.match
            shipped = _SHIPPED.match if record is _RECORD else match
            while (m := shipped(text, pos, safe) or match(text, pos, safe)) is not None:
                pos = m.end()
                a, b = m.span(1)
                if a < 0:
                    yield None
                else:
                    raw = buf[a:b]
                    yield _unescape(raw) if b"\\" in raw else raw.decode()
                if m.start(2) >= 0:
                    ended = True
                    break
        if ended:
            break
        if eof or len(buf) - pos > LONGEST:
            raise Unexpected("a record of another shape, or not valid JSON")
        data = read(CHUNK)
        buf, pos, eof = buf[pos:] + data, 0, not data
    tail = buf[pos:]
    while True:  # only whitespace after the list
        if tail.strip(_SPACE):
            raise Unexpected("data after the list")
        if eof:
            return
        tail = read(CHUNK)
        eof = not tail


def _checked(buf: bytes, safe: int) -> tuple[bytes, re.Pattern[bytes]]:
    """(``buf[:safe]`` with escaped quotes and backslashes replaced by ``__`` (same offsets), the
    record expression for it), after checking what a JSON parser checks inside strings; raises
    Unexpected."""
    head = buf if safe == len(buf) else buf[:safe]
    record = _RECORD
    if len(head.translate(None, _CONTROL)) != len(head):
        if len(head.translate(None, _CONTROL_NOT_SPACE)) != len(head):
            raise Unexpected("a control character")
        record = _RECORD_STRICT  # tabs and line ends: whitespace only, never inside a string
    if not head.isascii():
        try:
            head.decode()
        except UnicodeDecodeError:
            raise Unexpected("invalid UTF-8") from None
    if _end(_ESCAPES, head) == len(head):
        return head, record
    text = head.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    if _end(_ESCAPES, text) != len(text):
        raise Unexpected("an invalid escape")
    return text, record


def _end(pattern: re.Pattern[bytes], text: bytes, pos: int = 0) -> int:
    """Where a match of ``pattern`` (which matches the empty string too) at ``pos`` ends."""
    m = pattern.match(text, pos)
    return pos if m is None else m.end()


def _unescape(raw: bytes) -> str:
    """A string body with escapes, decoded by ijson (as a whole-file read would)."""
    try:
        value = next(ijson.items(io.BytesIO(b'"' + raw + b'"'), ""))
    except (ijson.JSONError, ValueError, StopIteration):
        raise Unexpected("an escape ijson does not decode") from None
    if not isinstance(value, str):
        raise Unexpected("an escape ijson does not decode")
    return value
