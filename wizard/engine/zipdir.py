"""A zip's central directory as plain tuples: what the extraction needs of each member, read fast.

``zipfile`` builds a ``ZipInfo`` object per member (about 12 µs each, 0.6 s for 50,000 members);
the extraction (:mod:`wizard.engine.zipextract`) needs a few fields of each. :func:`read_directory`
reads the end-of-central-directory record (and the ZIP64 one) and the whole directory with a few
``pread`` calls and makes one :data:`Entry` tuple per member, with the values ``zipfile`` would
give (sizes and offset from a ZIP64 extra field, the offset of a zip behind a prefix shifted the
same way). Every field is distrusted: whatever this reader does not take exactly as ``zipfile``
does — a directory that does not parse to its end, a count that disagrees with the record, a
ZIP64 record that is missing or damaged, spanned archives, a NUL in a name, a UTF-8-flagged name
that is not UTF-8, a damaged extra field or two ZIP64 fields, a member needing a newer version, a
directory that would not fit in memory — makes it return None, and the caller reads the zip with
``zipfile`` (whose error, if any, is the one the user sees; :func:`open_zip` and
:func:`open_member` make its ``UnicodeDecodeError`` for a UTF-8-flagged name that is not UTF-8
a ``BadZipFile`` naming the bytes: the archive is damaged, nothing of it is written). The extraction leaves to zipfile's
reader the members it does not write itself (encrypted, other methods, large). Names without the
UTF-8 flag keep their bytes: UTF-8 when they are, else the bytes as the disk name
(:func:`stored_name`), not zipfile's cp437 reading of them. Offsets are checked by
:func:`overlaps`, paths later as any other (``..``, absolute, links: :mod:`wizard.engine.bounds`).

:func:`entries_from_zipfile` gives the same tuples from a ``zipfile.ZipFile`` (the fallback, and
zips read through a file object).
"""

from __future__ import annotations

import operator
import os
import struct
import time
import zipfile
from typing import IO, Final

#: One member of the central directory: (name as stored — see :func:`stored_name` —, its bytes
#: as in the local header, flag bits, compression method, mtime (seconds, local time) or None,
#: CRC-32, compressed size, size, local header offset, file type bits (``stat.S_IFMT``) when
#: made on Unix else 0). A name ending in ``/`` is a folder.
Entry = tuple[str, bytes, int, int, float | None, int, int, int, int, int]
NAME: Final = 0
RAW: Final = 1
FLAGS: Final = 2
METHOD: Final = 3
MTIME: Final = 4
CRC: Final = 5
CSIZE: Final = 6
SIZE: Final = 7
OFFSET: Final = 8
FTYPE: Final = 9

UTF8_FLAG = 0x800
ENCRYPTED = 0x1
MAX_DIRECTORY = 1 << 30  # bytes of central directory read in one go; more: zipfile's way

_END = struct.Struct("<4s4H2LH")
_END_SIZE = _END.size  # 22
_LOCATOR = struct.Struct("<4sLQL")
_END64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_CENTRAL_SIZE = _CENTRAL.size  # 46
_CENTRAL_SIG = b"PK\x01\x02"
_ZIP64_EXTRA = 0x0001
_FIELD = struct.Struct("<HH")
_MAX_EXTRACT_VERSION = 63  # what zipfile reads
_UNIX = 3
_LOCAL_SIZE = 30  # a local file header before its name and extra field
_by_offset = operator.itemgetter(OFFSET)
_IFMT = 0o170000  # stat.S_IFMT's mask


class Directory:
    """A zip's members in central-directory order, and where the directory starts (every member's
    bytes end before it)."""

    __slots__ = ("entries", "start")

    def __init__(self, entries: list[Entry], start: int) -> None:
        self.entries = entries
        self.start = start


def stored_name(raw: bytes, flags: int) -> str:
    """A member's name: UTF-8 when flagged or when its bytes are UTF-8, else its bytes as a disk
    name (surrogate-escaped), not zipfile's cp437 reading of them."""
    if flags & UTF8_FLAG or raw.isascii():
        return raw.decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return os.fsdecode(raw)
    except UnicodeDecodeError:  # pragma: no cover - Windows, where names must be Unicode
        return raw.decode("cp437")


#: What zipfile raises for a zip it cannot read (damaged, truncated, needing a newer version; a
#: name flagged UTF-8 that is not UTF-8 through :func:`open_zip`).
UNREADABLE = (zipfile.BadZipFile, NotImplementedError, OSError, EOFError)


def open_zip(file: str | os.PathLike[str] | IO[bytes]) -> zipfile.ZipFile:
    """zipfile's reading of a zip. A member needing a zip version past 6.3 is damage
    (``BadZipFile``; a method or encryption zipfile lacks is not: ``NotImplementedError`` when
    the member is opened, :func:`open_member`). A member name flagged UTF-8 whose bytes are not UTF-8 is
    damage: ``BadZipFile`` naming its bytes, not zipfile's ``UnicodeDecodeError`` (``unzip``
    writes such a name mangled, ``bsdtar`` skips the member; the archive is not the one expected)."""
    try:
        return zipfile.ZipFile(file)
    except UnicodeDecodeError as exc:
        raise zipfile.BadZipFile(not_utf8(exc)) from None
    except NotImplementedError as exc:  # "zip file version 10.0": past any version of the format (6.3)
        raise zipfile.BadZipFile(f"{exc}: a damaged directory") from None


def open_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    """``zf.open(info)``; a local header whose UTF-8-flagged name is not UTF-8 is ``BadZipFile``,
    an encrypted member (zipfile's ``RuntimeError``) ``NotImplementedError`` as an unsupported
    method is."""
    try:
        return zf.open(info)
    except UnicodeDecodeError as exc:
        raise zipfile.BadZipFile(not_utf8(exc)) from None
    except RuntimeError as exc:  # "File ... is encrypted, password required for extraction"
        raise NotImplementedError(str(exc)) from None


def not_utf8(exc: UnicodeDecodeError) -> str:
    return f"the member name {bytes(exc.object)!r} is marked UTF-8 but is not UTF-8"


def dos_mtime(date: int, clock: int) -> float | None:
    """The local time of an MS-DOS date and time (as zipfile reads them), or None if invalid."""
    try:
        return time.mktime(((date >> 9) + 1980, (date >> 5) & 0xF, date & 0x1F,
                            clock >> 11, (clock >> 5) & 0x3F, (clock & 0x1F) * 2, 0, 0, -1))
    except (OverflowError, ValueError):
        return None


def _end_record(fd: int, size: int) -> tuple[int, int, int, int] | None:
    """(entries, directory size, directory offset, where the directory must end) from the end
    records, found where zipfile looks for them; None when not exactly as zipfile takes them."""
    if size < _END_SIZE:
        return None
    tail = os.pread(fd, _END_SIZE, size - _END_SIZE)
    if tail[:4] == b"PK\x05\x06" and tail[-2:] == b"\x00\x00":
        location = size - _END_SIZE
    else:  # a comment follows: the last signature in the last 64 KiB (as zipfile searches)
        first = max(size - (1 << 16) - _END_SIZE, 0)
        tail = os.pread(fd, size - first, first)
        found = tail.rfind(b"PK\x05\x06")
        if found < 0 or found + _END_SIZE > len(tail):
            return None
        location = first + found
        tail = tail[found:found + _END_SIZE]
    _sig, _disk, _disk_dir, _here, count, cd_size, cd_offset, _comment = _END.unpack(tail)
    ends = location
    if location >= _LOCATOR.size:
        sig, disk, _rel, disks = _LOCATOR.unpack(os.pread(fd, _LOCATOR.size, location - _LOCATOR.size))
        if sig == b"PK\x06\x07":
            if disk != 0 or disks > 1 or location < _LOCATOR.size + _END64.size:
                return None  # spanned (zipfile refuses it) or a locator without its record
            record = os.pread(fd, _END64.size, location - _LOCATOR.size - _END64.size)
            sig64, _sz, _made, _needs, _disk, _disk_dir, _here, count, cd_size, cd_offset = _END64.unpack(record)
            if sig64 != b"PK\x06\x06":
                return None  # zipfile would ignore the locator: unusual, its way
            ends = location - _LOCATOR.size - _END64.size
    return count, cd_size, cd_offset, ends


def _zip64(extra: bytes, size: int, csize: int, offset: int) -> tuple[int, int, int] | None:
    """Size, compressed size and offset with a ZIP64 extra field applied as zipfile applies it;
    None when the extra field is damaged or holds two ZIP64 fields."""
    at, seen = 0, False
    while len(extra) - at >= 4:
        kind, length = _FIELD.unpack_from(extra, at)
        body = extra[at + 4:at + 4 + length]
        if len(body) != length:
            return None  # zipfile: "Corrupt extra field"
        at += 4 + length
        if kind != _ZIP64_EXTRA:
            continue
        if seen:
            return None
        seen = True
        values = iter(struct.unpack(f"<{length // 8}Q", body[:length // 8 * 8]))
        try:
            if size == 0xFFFF_FFFF:
                size = next(values)
            if csize == 0xFFFF_FFFF:
                csize = next(values)
            if offset == 0xFFFF_FFFF:
                offset = next(values)
        except StopIteration:
            return None  # zipfile: "Corrupt zip64 extra field"
    return size, csize, offset


def read_directory(fd: int, size: int) -> Directory | None:
    """The members of the zip open on ``fd`` (``size`` bytes), or None: read it with zipfile."""
    found = _end_record(fd, size)
    if found is None:
        return None
    count, cd_size, cd_offset, ends = found
    start = ends - cd_size  # where zipfile starts reading the directory
    shift = start - cd_offset  # bytes before the zip (a self-extractor's stub), added to offsets
    if start < 0 or cd_size > MAX_DIRECTORY:
        return None
    cd = os.pread(fd, cd_size, start)
    if len(cd) != cd_size:
        return None
    unpack = _CENTRAL.unpack_from
    entries: list[Entry] = []
    append = entries.append
    times: dict[int, float | None] = {}
    pos = 0
    while pos < cd_size:
        if pos + _CENTRAL_SIZE > cd_size:
            return None
        (sig, _made_version, system, needs, _reserved, flags, method, clock, date, crc, csize, fsize,
         name_len, extra_len, comment_len, _disk, _internal, external, offset) = unpack(cd, pos)
        name_at = pos + _CENTRAL_SIZE
        pos = name_at + name_len + extra_len + comment_len
        if sig != _CENTRAL_SIG or pos > cd_size or needs > _MAX_EXTRACT_VERSION:
            return None
        raw = cd[name_at:name_at + name_len]
        if b"\x00" in raw:
            return None  # zipfile cuts the name there
        if raw.isascii():
            name = raw.decode("ascii")
        elif flags & UTF8_FLAG:
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                return None
        else:
            name = stored_name(raw, flags)
        if extra_len:
            applied = _zip64(cd[name_at + name_len:name_at + name_len + extra_len], fsize, csize, offset)
            if applied is None:
                return None
            fsize, csize, offset = applied
        stamp = date << 16 | clock
        try:
            mtime = times[stamp]
        except KeyError:
            mtime = times[stamp] = dos_mtime(date, clock)
        append((name, raw, flags, method, mtime, crc, csize, fsize, offset + shift,
                external >> 16 & _IFMT if system == _UNIX else 0))
    if len(entries) != count and (count != 0xFFFF or len(entries) < count):
        return None  # the record's count is not the directory's (a count of 0xFFFF: ZIP64's marker)
    return Directory(entries, start)


def entries_from_zipfile(zf: zipfile.ZipFile) -> Directory:
    """The same tuples from zipfile's reading of the zip (the fallback; zips read through a file object)."""
    entries: list[Entry] = []
    times: dict[tuple[int, ...], float | None] = {}
    for info in zf.infolist():
        flags = info.flag_bits
        raw = info.orig_filename.encode("utf-8" if flags & UTF8_FLAG else "cp437")
        name = info.filename if flags & UTF8_FLAG or info.filename.isascii() else stored_name(
            info.filename.encode("cp437"), flags)
        mtime = times.get(info.date_time, -1.0)
        if mtime == -1.0:
            y, mo, d, h, mi, s = info.date_time
            mtime = times[info.date_time] = dos_mtime((y - 1980) << 9 | mo << 5 | d, h << 11 | mi << 5 | s // 2)
        ftype = info.external_attr >> 16 & _IFMT if info.create_system == _UNIX else 0
        entries.append((name, raw, flags, info.compress_type, mtime, info.CRC, info.compress_size,
                        info.file_size, info.header_offset, ftype))
    return Directory(entries, getattr(zf, "start_dir", 0))


def overlaps(directory: Directory) -> tuple[list[str], dict[int, int]]:
    """Members whose bytes run into the next entry or into the central directory (overlapping
    entries, the trick of non-recursive zip bombs: CVE-2024-0450), and where each member's bytes
    must end, by local header offset. From the directory alone: a local header is 30 bytes and
    its name (its extra field is checked when it is read). A local header before the start of
    the file is damage (``BadZipFile``)."""
    ordered = sorted(directory.entries, key=_by_offset)
    if ordered and ordered[0][OFFSET] < 0:
        raise zipfile.BadZipFile(f"{ordered[0][NAME]!r}: its local header would be before the start of the file")
    ends: dict[int, int] = {}
    bad: list[str] = []
    for entry, following in zip(ordered, [*ordered[1:], None], strict=True):
        offset = entry[OFFSET]
        end = directory.start if following is None else following[OFFSET]
        ends[offset] = end
        if offset + _LOCAL_SIZE + len(entry[RAW]) + entry[CSIZE] > end:
            bad.append(entry[NAME])
    return bad, ends
