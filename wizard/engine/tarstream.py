"""Extract a plain tar while it downloads: members land in the target as bytes arrive, and the
tar itself is never stored (an SA-1B tar is ~11 GB: that room is never needed, and there is no
extraction pass after each download).

The HTTP body is read by ``tarfile`` in stream mode (``mode="r|"``) and every member goes through
:class:`~wizard.engine.extract.StreamedTar`: the same path checks, ``tarfile.data_filter``,
``only=`` subset, layout (only ``*.jpg`` for SAM) and temp-file + ``os.replace`` writes as
:func:`~wizard.engine.extract.extract_archive`, and members already complete on disk are skipped.

Resuming. After each member the byte offset where the next member's header block sequence starts
(``base + TarFile.offset``: tarfile has then consumed any GNU longname/pax headers of the member)
is the resume point. It is journaled (throttled: every 256 members or 1 s, and whenever an attempt
ends) in the job's info as ``tar_stream``::

    {"name": "sa_000020.tar", "offset": 7340544, "total": 11300000000,
     "etag": "\\"5f1-...\\"", "last_modified": "Tue, 02 Jan 2024 ...", "key": "<layout+subset hash>",
     "members": 48, "counts": {"written": 24, "skipped": 0, "ignored": 24, "bytes": 7203840},
     "refused": []}

A dropped connection (or a crash, then a rerun) asks for ``Range: bytes=<offset>-`` with
``If-Range`` (strong ETag, else Last-Modified) and parses from there: a tar stream may start at
any header. A 200 answer (range ignored, or the file changed upstream) reads the tar from byte 0
again and members already on disk are skipped, not rewritten. A different size, ``key`` (layout
or subset changed) or tar name also means byte 0. Failed attempts are retried with back-off;
401/403/410 raise :class:`~wizard.engine.errors.HttpStatusError` for the source to map.
A global pax header (never seen in SA-1B) makes a tar resume from byte 0 only.

Integrity: there is no file to hash, so what is checked is (1) every header's checksum (tarfile
refuses bad ones), (2) every member's data arrives in full (its header's size), (3) the body's
length matches ``Content-Length``/``Content-Range`` (a short body is a dropped connection and is
resumed from the last boundary), (4) the tar ends cleanly: an all-zero end-of-archive block, or
the body ends exactly at a member boundary equal to the size the server announced. Whatever
follows the end-of-archive block is ignored (with a warning when it is not zero padding), as GNU
tar and :func:`~wizard.engine.extract.extract_archive` do. A tar whose bytes fail (1) or (4) even
when the body arrived in full is retried and then reported ``archive-corrupt``.

Compression. Some SA-1B tars may be gzip-compressed under a ``.tar`` name: the first bytes
(``1f 8b``) are sniffed and such a tar is streamed through gzip (:class:`_Gunzip`: every gzip
member, where tarfile's ``mode="r|gz"`` reads only the first). A compressed
stream cannot be resumed mid-way, so a dropped gzip tar is read again from byte 0 and the members
already on disk are skipped, not rewritten; its member index names the tar but no byte range.
A tar with a bzip2/xz/zstd signature raises :class:`NotStreamable`: the caller downloads it and
extracts it the usual way.

Member index. Each regular member is noted in ``index/<tar>.members.tsv`` as
``name<TAB>start<TAB>end`` (``-1 -1`` for a compressed tar); a pass that reaches the end of the
tar appends the line :data:`INDEX_COMPLETE`, so repair and the plan know the tar holds nothing else.

Several connections. A CDN may cap each connection (20 MiB/s, say). Every attempt is one
open-ended request, read by the extracting thread itself. When the tar's size is known (the
journal, or the caller's ``size``), the server takes ranges, and the segment policy
(``Settings.segments``, :func:`~wizard.engine.net.segments.connections_for`) gives it more than
one connection, :class:`~wizard.engine.readahead.Stream` watches how long that thread waits for
bytes; once it mostly waits (the link, not the extraction, is the limit) the open request runs on
for one more piece and :class:`~wizard.engine.readahead.ReadAhead` fetches the pieces after it on
the other connections into a bounded in-memory window that ``tarfile`` reads in order. On a fast
link the read-ahead never starts. Nothing else changes: the resume point is still the last member
boundary, and a failed piece is a drop like any other.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import tarfile
import threading
import time
import zlib
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import requests

from . import readahead
from .catalog import Layout
from .context import JobContext
from .errors import Code, SetupError
from .events import Stage
from .extract import END_BLOCK, NO_BLOCK, UNREADABLE_TARS, ExtractResult, StreamedTar, TarMember, tar_end
from .fsinfo import is_disk_full
from .journal import state_dir
from .net import client
from .net.bounds import limit_for, too_long
from .net.policy import (
    Attempts,
    Kind,
    RetryLater,
    Stalled,
    accepts_ranges,
    classify,
    describe,
    if_range,
    is_retryable,
    web_page,
    web_page_error,
)
from .net.segments import AUTO_THRESHOLD, connections_for
from .net.transfer import read_size
from .readahead import Closed, Stream
from .safefs import open_private_file, read_state_text

STATE_KEY = "tar_stream"
_JOURNAL_MEMBERS = 256
_JOURNAL_SECONDS = 1.0
_PIECE_CHUNK = 256 * 1024  # read size of the read-ahead connections
#: tarfile's read size in stream mode. Its reader keeps what it read in one bytes object and
#: slices off the rest on every read — a 512-byte header read copies the whole buffer — so the
#: buffer stays small (with 1 MiB, a 300 KB member cost ~5 MB of copying).
_TAR_BUFSIZE = 64 * 1024
#: Zero padding accepted after the end-of-archive marker (tar pads to its record size, 10 KiB).
_MAX_PADDING = 1 << 20
_GZIP = b"\x1f\x8b"
_GZIP_CHUNK = 256 * 1024  # compressed bytes read at a time
_COMPRESSED = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", **UNREADABLE_TARS}
#: The last line of a member index written by a pass that read the whole tar.
INDEX_COMPLETE = "#complete"


class NotStreamable(Exception):
    """The tar is compressed: download it first, then extract it (``extract_archive``)."""


@dataclass(frozen=True)
class Streamed:
    """A tar a source already extracted while downloading it; the pipeline only counts it."""

    name: str
    result: ExtractResult


@dataclass
class StreamState:
    """What the journal keeps about the tar being streamed (see the module docstring)."""

    name: str
    key: str
    offset: int = 0
    total: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    members: int = 0
    gzip: bool = False  # a gzip-compressed tar: no mid-stream resume point
    counts: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, ctx: JobContext, name: str, key: str) -> StreamState:
        rec = ctx.journal.get(ctx.job)
        raw = rec.info.get(STATE_KEY) if rec else None
        if isinstance(raw, dict) and raw.get("name") == name and raw.get("key") == key:
            with contextlib.suppress(TypeError, ValueError):
                return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})
        return cls(name, key)


def state_key(layout: Layout, only: Collection[str] | None) -> str:
    """A fingerprint of what a pass extracts: a resume point is only valid for the same one."""
    digest = hashlib.sha1(repr(layout).encode(), usedforsecurity=False)
    if only is not None:
        digest.update(b"\0only\0")
        for path in sorted(only):
            digest.update(path.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()[:16]


def stream_tar(ctx: JobContext, url: str, name: str, dest: Path, layout: Layout, *,
               only: Collection[str] | None = None, size: int | None = None) -> ExtractResult:
    """Download ``url`` (a plain tar) and extract it into ``dest`` as it arrives; see the module
    docstring. ``size`` is the expected length when the server sends none (progress only).

    Raises NotStreamable (compressed tar, nothing written), HttpStatusError (final statuses),
    SetupError (RETRIES_EXHAUSTED, ARCHIVE_CORRUPT, ARCHIVE_UNSAFE, NO_SPACE parked), Cancelled;
    ARCHIVE_TOO_LARGE when the members would write past :mod:`wizard.engine.bounds` (the tar's own
    size × its factor: sparse members count by their real size; see ``StreamedTar.total``).
    """
    return _TarStream(ctx, url, name, dest, layout, only, size).run()


class _Bad(Exception):
    """The tar's bytes are wrong although the body arrived: retry, then archive-corrupt."""


class _Restart(Exception):
    """Read the tar again from byte 0 (the file changed, or the range answer was unusable)."""


class _Gunzip:
    """The gzip members of the body decompressed one after the other, for tarfile's stream mode:
    its own gzip reader (``mode="r|gz"``) stops at the end of the first member, and a gzip file
    may hold several (parallel compressors write them, ``cat a.gz b.gz`` makes them; ``gzip -d``
    and ``GzipFile`` read them all). Zero padding after a member is skipped, as ``GzipFile`` does.
    Data after a member that is not gzip (no gzip signature, or a header zlib refuses before it
    gives a byte) ends the stream there, as ``gzip -d`` does ("trailing garbage ignored"):
    ``trailing`` then holds its compressed offset, and the tar's own end check decides (whole
    only when the end-of-archive marker came before it). Damage inside a member is
    ``tarfile.ReadError``."""

    def __init__(self, body: _Body) -> None:
        self._body = body
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._member_out = 0  # bytes the current member gave so far
        self._first = True  # the current member is the body's first
        #: the compressed offset of data after a gzip member that is not gzip (ignored), or None
        self.trailing: int | None = None

    def read(self, size: int) -> bytes:
        out = bytearray()
        while len(out) < size and self.trailing is None:
            z = self._z
            if z.eof:  # a member ended: the next one, or the end of the body
                data = z.unused_data.lstrip(b"\0")
                while len(data) < len(_GZIP):
                    more = self._body.read(_GZIP_CHUNK)
                    if not more:
                        break
                    data += more if data else more.lstrip(b"\0")
                if not data:
                    return bytes(out)
                self._z = z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._member_out, self._first = 0, False
                if not data.startswith(_GZIP):
                    self.trailing = self._body.pos - len(data)
                    break
            else:
                data = z.unconsumed_tail or self._body.read(_GZIP_CHUNK)
                if not data:
                    if out:  # the members in it are whole: tarfile writes them, the next read raises
                        return bytes(out)
                    raise EOFError("the gzip stream ends inside a member")
            try:
                got = z.decompress(data, size - len(out))  # bounded: a bomb never fills the memory
            except zlib.error as exc:
                if not self._first and not self._member_out:  # a gzip signature, then not gzip
                    self.trailing = self._body.pos - len(data)
                    break
                raise tarfile.ReadError(f"invalid gzip data: {exc}") from None
            self._member_out += len(got)
            out += got
        return bytes(out)


class _Body:
    """The response body as a file for tarfile: absolute position, pacing, stalls, cancel."""

    def __init__(self, ctx: JobContext, reader: Stream, start: int, end: int | None, name: str,
                 approx: int | None = None) -> None:
        self.name = name
        self.ctx = ctx
        self.limiter = ctx.limiter
        self.reader = reader  # paced here while direct; its read-ahead paces its pieces itself
        self._chunks: Iterator[bytes] = reader.chunks()
        self._buf = b""  # the chunk being handed out, from ``_off`` on (never copied whole again)
        self._off = 0
        self.pos = start  # absolute offset in the tar of the next byte handed to tarfile
        self.received = start  # absolute offset of the end of the bytes received
        self.end = end
        #: The most bytes this body may bring (the tar's size plus the margin, else the budget).
        self.bound = limit_for(ctx, declared=end) if end is not None else limit_for(ctx, approx=approx)
        self.eof = False
        self._window_start = time.monotonic()
        self._window_bytes = 0

    def _more(self) -> bytes:
        settings = self.ctx.settings
        self.ctx.control.checkpoint()
        try:
            chunk = next(self._chunks, b"")
        except Closed as exc:  # stopped by a cancel while waiting for a piece
            self.ctx.control.checkpoint()
            raise RetryLater("the read-ahead was stopped") from exc
        except (requests.RequestException, OSError) as exc:
            if isinstance(exc, requests.RequestException) and not is_retryable(exc):
                raise
            raise RetryLater(describe(exc)) from exc
        got = self.received
        if not chunk:
            self.eof = True
            if self.end is not None and got < self.end:
                raise RetryLater(f"the connection ended at byte {got:,} of {self.end:,}")
            return b""
        if got + len(chunk) > self.bound:
            raise too_long(self.name, self.bound)
        self.received = got + len(chunk)
        if self.reader.direct:
            self._window_start += self.limiter.consume(len(chunk), self.ctx.control.sleep)
        self._window_bytes += len(chunk)
        now = time.monotonic()
        if now - self._window_start >= settings.stall_seconds:
            if self._window_bytes < settings.stall_bytes:
                raise RetryLater(describe(Stalled(f"under {settings.stall_bytes} bytes in "
                                                  f"{settings.stall_seconds:.0f} s")))
            self._window_start, self._window_bytes = now, 0
        return chunk

    def close(self) -> None:
        self.reader.close()

    def peek(self, n: int) -> bytes:
        while len(self._buf) - self._off < n and not self.eof:
            self._buf, self._off = self._buf[self._off:] + self._more(), 0
        return self._buf[self._off:self._off + n]

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all that is left with -1), fewer only at the end. Each byte is copied
        once: tarfile asks for a header block or a member at a time, and slicing the rest of a
        256 KiB chunk on every such read made the copying grow with the square of the chunk."""
        want = n if n is not None and n >= 0 else 1 << 62
        buf, off = self._buf, self._off
        if len(buf) - off >= want:
            self._off = off + want
            out = buf[off:off + want]
        else:
            parts = [buf[off:]] if off < len(buf) else []
            have = len(buf) - off
            self._buf, self._off = b"", 0
            while have < want and not self.eof:
                chunk = self._more()
                if len(chunk) > want - have:  # keep the rest of this chunk for the next read
                    self._buf, self._off = chunk, want - have
                    chunk = chunk[:want - have]
                parts.append(chunk)
                have += len(chunk)
            out = parts[0] if len(parts) == 1 else b"".join(parts)
        self.pos += len(out)
        return out


class _TarStream:
    def __init__(self, ctx: JobContext, url: str, name: str, dest: Path, layout: Layout,
                 only: Collection[str] | None, size: int | None) -> None:
        self.ctx = ctx
        self.url = url
        self.name = name
        self.size = size
        self.state = StreamState.load(ctx, name, state_key(layout, only))
        self.body: _Body | None = None
        self.tar = StreamedTar(ctx, name, dest, layout, only=only, position=self._position,
                               total=self.state.total or size or 0)
        self.tar.restore(self.state.counts, self.state.refused)
        self.dest = dest
        self._saved_at = time.monotonic()
        self._unsaved = 0
        self._index_file: IO[str] | None = None
        self._index_mode = "a"  # "w" when a pass starts at byte 0: the index is written afresh
        self._reached = 0  # the furthest body position any attempt got to (progress, for gzip)
        self._local = threading.local()  # a session per read-ahead thread

    def _close_body(self) -> None:
        if self.body is not None:
            self.body.close()
        self.body = None

    def _position(self) -> int:
        return self.body.pos if self.body is not None else self.state.offset

    # -- journal -------------------------------------------------------------------------------
    def _save(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and self._unsaved < _JOURNAL_MEMBERS and now - self._saved_at < _JOURNAL_SECONDS:
            return
        if self._index_file is not None:
            self._index_file.flush()  # before the offset that says those members are done
        self.state.counts = self.tar.counts()
        self.state.refused = self.tar.refused[:50]
        self.ctx.journal.update_info(self.ctx.job, **{STATE_KEY: asdict(self.state)})
        self._saved_at, self._unsaved = now, 0

    def _index(self, member: str, start: int, end: int) -> None:
        """Note where the member sits in the tar (``index/<tar>.members.tsv``): repair can then
        fetch one image with a single range request instead of the whole 11 GB tar."""
        if self._index_file is None:
            folder = state_dir(self.ctx.root) / "index"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{self.name}.members.tsv"
            mode = "w" if self._index_mode == "w" else "a"  # a pass from byte 0 writes it afresh
            self._index_file = open_private_file(path, mode, encoding="utf-8")
            self._index_mode = "a"
        self._index_file.write(f"{member}\t{start}\t{end}\n")

    def _close_index(self) -> None:
        if self._index_file is not None:
            with contextlib.suppress(OSError):
                self._index_file.close()
            self._index_file = None

    def _reset(self, why: str) -> None:
        self.ctx.log(f"{self.name}: {why}; reading it again from byte 0 (members already on disk are "
                     "kept, not written again)", "warning")
        self.state = StreamState(self.name, self.state.key)
        self.tar.restore({}, [])

    # -- main loop -----------------------------------------------------------------------------
    def run(self) -> ExtractResult:
        ctx = self.ctx
        ctx.stage(Stage.DOWNLOADING, f"{self.name} (extracting as it arrives)")
        if self.state.offset:
            ctx.log(f"{self.name}: resuming the streamed extraction at byte {self.state.offset:,} "
                    f"({self.state.members} members done)")
        restarts = 0
        st = ctx.settings
        attempts = Attempts(self.name, st.retries, st.backoff, st.backoff_cap, rand=ctx.net.rand)
        try:
            while True:
                ctx.control.checkpoint()
                before = (self.state.offset, self._reached)
                try:
                    if self._attempt():
                        break
                    continue
                except _Restart as exc:
                    restarts += 1
                    if restarts > ctx.settings.retries:
                        raise SetupError(Code.RETRIES_EXHAUSTED, f"Gave up on {self.name}: {exc}",
                                         "Members extracted so far are kept; run again later.") from exc
                    self._reset(str(exc))
                    continue
                except RetryLater as exc:
                    problem, bad, retry = str(exc), False, exc
                except (_Bad, tarfile.TarError, EOFError) as exc:
                    problem, bad = f"the tar is damaged ({exc})", True
                    retry = RetryLater(problem)
                finally:
                    if self.body is not None:
                        self._reached = max(self._reached, self.body.pos)
                    self._close_body()
                ctx.control.checkpoint()  # a cancel that cut the connection is not a failure to retry
                progressed = (self.state.offset, self._reached) > before  # a gzip tar has no offset
                if attempts.failures + 1 > st.retries and not progressed:
                    self._give_up(problem, bad, attempts.failures + 1)
                delay = attempts.failed(retry, progressed=progressed)
                ctx.log(f"{self.name}: {problem}; resuming from byte {self.state.offset:,} in {delay:.1f} s "
                        f"(attempt {attempts.failures}/{st.retries})", "warning")
                self._save(force=True)
                ctx.control.sleep(delay)
        except OSError as exc:
            if is_disk_full(exc):
                raise SetupError(Code.NO_SPACE, f"The disk holding {self.dest} is full while extracting "
                                 f"{self.name} (streamed; no partial file is left behind).",
                                 "Free some space; the job resumes from the last complete member.",
                                 parked=True) from exc
            raise
        finally:
            self.tar.flush()  # member sizes for verify
            with contextlib.suppress(sqlite3.Error, OSError):  # the disk may be full right now
                self._save(force=True)
            self._close_index()
        result = self.tar.finish()
        with contextlib.suppress(OSError):
            self._index_complete()
        ctx.journal.update_info(ctx.job, **{STATE_KEY: None})
        return result

    def _index_complete(self) -> None:
        path = state_dir(self.ctx.root) / "index" / f"{self.name}.members.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open_private_file(path, "a", encoding="utf-8") as fh:
            fh.write(INDEX_COMPLETE + "\n")

    def _give_up(self, problem: str, bad: bool, failures: int) -> None:
        if bad:
            raise SetupError(Code.ARCHIVE_CORRUPT, f"{self.name} is damaged: {problem}", "Members before the "
                             "damage are kept. If it keeps happening, the source is bad: report it.")
        raise SetupError(Code.RETRIES_EXHAUSTED, f"Gave up on {self.name} after {failures} failed attempts: "
                         f"{problem}", "Members extracted so far are kept; run again later to resume.")

    def _request_headers(self) -> dict[str, str]:
        """Headers of a request from the resume point to the end."""
        headers, st = {"Accept-Encoding": "identity"}, self.state
        if st.offset:
            headers["Range"] = f"bytes={st.offset}-"
            validator = if_range(st.etag, st.last_modified)
            if validator:
                headers["If-Range"] = validator
        return headers

    # -- read-ahead on extra connections (wizard.engine.readahead) ------------------------------
    def _connections(self, remaining: int) -> int:
        """Connections for the rest of the tar: the segment policy, within the host's gate."""
        settings = self.ctx.settings
        if settings.segments is None and remaining < AUTO_THRESHOLD:
            return 1  # a small rest: one stream, as the segment policy does for small files
        wanted = settings.segments if settings.segments is not None else readahead.CONNECTIONS
        count = connections_for(remaining, wanted, readahead.PIECE)  # at least a piece each
        limit = self.ctx.net.gate(urlsplit(self.url).netloc).limit
        return max(1, min(count, limit)) if limit is not None else count

    def _reader(self, resp: requests.Response, start: int, total: int | None) -> Stream:
        """The body's bytes: ``resp`` read by the consumer, with a read-ahead on the other
        connections once the link turns out to be the limit (when the size is known and the
        server takes ranges; else ``resp`` alone)."""
        chunks = resp.iter_content(chunk_size=read_size(self.ctx))
        ranges = resp.status_code == 206 or (
            accepts_ranges(resp.headers) and if_range(self.state.etag, self.state.last_modified) is not None)
        if total is None or not ranges or total - start <= 2 * readahead.PIECE:
            return Stream(chunks, start, total)
        return Stream(chunks, start, total, fetch=self._fetch_piece, connections=self._connections(total - start),
                      piece=readahead.PIECE, abort=lambda: client.abort_response(resp), clock=self.ctx.net.clock)

    def _paced(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        limiter, sleep = self.ctx.limiter, self.ctx.control.sleep
        for chunk in chunks:
            yield chunk
            limiter.consume(len(chunk), sleep)

    def _fetch_piece(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` in one Range request (runs in a read-ahead thread, with its own
        session). Any answer but the exact 206 is a drop: the next attempt sorts it out."""
        ctx, st = self.ctx, self.state
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = client.new_session()
        headers = {"Accept-Encoding": "identity", "Range": f"bytes={start}-{end - 1}"}
        validator = if_range(st.etag, st.last_modified)
        if validator:
            headers["If-Range"] = validator
        timeout = (ctx.settings.connect_timeout, ctx.settings.read_timeout)
        with client.get(session, self.url, headers=headers, timeout=timeout) as resp:
            answer = classify(resp.status_code, resp.headers, start, etag=st.etag, last_modified=st.last_modified,
                              total=st.total, cap=ctx.settings.backoff_cap * 10, now=ctx.net.wall)
            if answer.kind is not Kind.RESUMED:
                if answer.throttled:
                    ctx.net.gate(urlsplit(self.url).netloc).throttled()  # fewer connections next time
                raise RetryLater(f"a read-ahead range got HTTP {resp.status_code}"
                                 + (f" ({answer.reason})" if answer.reason else ""), answer.wait,
                                 throttled=answer.throttled)
            yield from self._paced(resp.iter_content(chunk_size=ctx.limiter.chunk_size(_PIECE_CHUNK)))

    def _attempt(self) -> bool:
        """One request; True when the whole tar was read. Raises RetryLater/_Bad/_Restart."""
        ctx = self.ctx
        timeout = (ctx.settings.connect_timeout, ctx.settings.read_timeout)
        try:
            resp = client.get(ctx.session, self.url, headers=self._request_headers(), timeout=timeout)
        except requests.RequestException as exc:
            if not is_retryable(exc):
                raise
            raise RetryLater(describe(exc)) from exc
        reader: Stream | None = None

        def cancel() -> None:  # a stalled read, or a wait for a read-ahead piece, ends on cancel
            client.abort_response(resp)
            if reader is not None:
                reader.stop()

        with resp, ctx.control.on_cancel(cancel):
            start, total = self._answer(resp)
            if resp.status_code == 416:
                return True
            reader = self._reader(resp, start, total)
            if ctx.control.cancelled:  # the hook ran before the reader existed
                reader.stop()
            self.body = body = _Body(ctx, reader, start, total, self.name, approx=self.size)
            self.tar.new_pass()
            if start == 0:
                self._close_index()
                self._index_mode = "w"  # a pass from byte 0 writes the member index afresh
                magic = body.peek(6)
                for signature, kind in _COMPRESSED.items():
                    if magic.startswith(signature):
                        raise NotStreamable(f"{self.name} is {kind}-compressed")
                if magic.startswith(_GZIP):
                    if not self.state.gzip:
                        ctx.log(f"{self.name} is gzip-compressed: extracting it through gzip as it arrives")
                    elif self.state.members:
                        ctx.log(f"{self.name}: a gzip stream cannot resume mid-way; reading it again from "
                                "byte 0 (members already on disk are kept, not written again)", "warning")
                        self.tar.restore({}, [])
                    self.state.gzip, self.state.members = True, 0
                else:
                    self.state.gzip = False
            self._save(force=True)  # the validators, before any member is written
            gunzip = _Gunzip(body) if self.state.gzip else None
            with tarfile.open(fileobj=gunzip or body, mode="r|", bufsize=_TAR_BUFSIZE,  # type: ignore[call-overload]
                              tarinfo=TarMember) as tf:
                self._members(tf, start)
                self._end(tf, start, gunzip)
        return True

    def _answer(self, resp: requests.Response) -> tuple[int, int | None]:
        """(absolute start of the body, tar size or None) for a response, or raise."""
        st = self.state
        answer = classify(resp.status_code, resp.headers, st.offset, etag=st.etag, last_modified=st.last_modified,
                          total=st.total, cap=self.ctx.settings.backoff_cap * 10, now=self.ctx.net.wall)
        answer.raise_for(self.url, self.name)
        if answer.body and answer.kind is not Kind.RESUMED and web_page(resp.headers, self.name):
            raise web_page_error(self.url, self.name)  # before the resume point is given up
        if answer.kind is Kind.COMPLETE and st.offset == st.total:
            return st.offset, st.total  # the last attempt ended exactly after the last member
        if answer.kind in (Kind.COMPLETE, Kind.RESTART) and not answer.body:
            raise _Restart(answer.reason or "the server no longer has the range we were resuming from")
        if answer.kind is Kind.RESTART:
            self._reset(answer.reason)
        total = answer.total
        if answer.kind is Kind.RESUMED:
            start = st.offset
            total = total if total is not None else st.total
        else:
            start = 0
        st.etag, st.last_modified = answer.etag or st.etag, answer.last_modified or st.last_modified
        st.total = total if total is not None else st.total
        self.tar.total = st.total or self.size or 0
        return start, st.total

    def _members(self, tf: tarfile.TarFile, base: int) -> None:
        st = self.state
        while (ti := tf.next()) is not None:
            tf.members.clear()  # type: ignore[attr-defined]  # stream mode keeps every TarInfo otherwise
            if st.total is not None and not st.gzip and base + tf.offset > st.total:
                raise _Bad(f"{ti.name} runs past the end of the tar (byte {st.total:,})")
            start = st.offset
            self.tar.member(tf, ti)
            st.members += 1
            if st.gzip:  # offsets in the uncompressed stream cannot be asked for with Range
                if ti.isreg():
                    self._index(ti.name, -1, -1)
            elif not tf.pax_headers:  # a global pax header would be lost by a mid-tar resume
                st.offset = base + tf.offset
                if ti.isreg():
                    self._index(ti.name, start, st.offset)
            self._unsaved += 1
            self._save()

    def _end(self, tf: tarfile.TarFile, base: int, gunzip: _Gunzip | None) -> None:
        """Check that the stream ended cleanly after the last member (see the module docstring)."""
        end = tar_end(tf)
        at = base + tf.offset
        st = self.state
        if gunzip is not None:
            self._end_gzip(tf, end, gunzip)
            return
        if isinstance(end, END_BLOCK):
            stream = tf.fileobj
            assert stream is not None
            while block := stream.read(self.ctx.settings.chunk_size):
                if block.count(0) != len(block):  # GNU tar and extract_archive stop at the marker too
                    self._ignored_after(at, "byte")
                    st.offset = at
                    return  # the rest is not read
                if st.total is None and self._position() - at > _MAX_PADDING:  # zeros that never end
                    raise too_long(self.name, at + _MAX_PADDING)
            if st.total is not None and self._position() != st.total:  # pragma: no cover - _Body checks
                raise RetryLater(f"the body ended at byte {self._position():,} of {st.total:,}")
            st.offset = at
            return
        if isinstance(end, NO_BLOCK) and st.total is not None and at == st.total:
            st.offset = at  # no end-of-archive blocks, but the body ends exactly after a member
            return
        if isinstance(end, NO_BLOCK):
            raise _Bad(f"the tar ends at byte {at:,} without its end-of-archive marker")
        raise _Bad(f"bad or truncated header at byte {at:,}" + (f" ({end})" if end else ""))

    def _ignored_after(self, at: int, unit: str) -> None:
        self.ctx.log(f"{self.name}: data after the end-of-archive marker at {unit} {at:,} is ignored, "
                     "as tar does", "warning")

    def _end_gzip(self, tf: tarfile.TarFile, end: object, gunzip: _Gunzip) -> None:
        """A gzip tar: after the end-of-archive block only zeros, and the whole body arrived. Data
        after the gzip data that is not gzip is ignored, with a warning, once the tar's own
        end-of-archive block came before it (every member whole), as GNU tar reads such a file
        (gzip -d warns of "trailing garbage") and extract_archive takes it; else it is damage."""
        at = tf.offset
        if not isinstance(end, END_BLOCK | NO_BLOCK):
            raise _Bad(f"bad or truncated header at uncompressed byte {at:,}" + (f" ({end})" if end else ""))
        if gunzip.trailing is not None and not isinstance(end, END_BLOCK):
            raise _Bad(f"data that is not gzip at byte {gunzip.trailing:,}, before the tar's end-of-archive marker")
        stream = tf.fileobj
        assert stream is not None and self.body is not None
        padding = 0
        while block := stream.read(self.ctx.settings.chunk_size):
            if block.count(0) != len(block):  # GNU tar and extract_archive stop at the marker too
                self._ignored_after(at, "uncompressed byte")
                return  # the rest is not read
            padding += len(block)
            if padding > _MAX_PADDING:  # zeros that never end (a gzip bomb of padding)
                raise too_long(self.name, at + _MAX_PADDING)
        while self.body.read(self.ctx.settings.chunk_size):  # the gzip trailer; a short body raises
            pass
        if gunzip.trailing is not None:
            self.ctx.log(f"{self.name}: data after the gzip data at byte {gunzip.trailing:,} is not gzip; "
                         "ignored, as gzip and tar do: the tar's end-of-archive marker came before it", "warning")
        if isinstance(end, NO_BLOCK) and self.state.total is None:
            raise _Bad(f"the tar ends at uncompressed byte {at:,} without its end-of-archive marker")



@dataclass(frozen=True)
class MemberIndex:
    """What the streamed tars' member indexes say: where each target path sits, and which tars
    were read to the end (so they hold nothing else)."""

    #: target-relative path -> (tar name, first byte, end byte); bytes are -1 for a compressed tar
    where: dict[str, tuple[str, int, int]]
    complete: frozenset[str]

    def tars_holding(self, paths: Collection[str]) -> dict[str, int]:
        """How many of ``paths`` each indexed tar holds."""
        out: dict[str, int] = {}
        for path in paths:
            hit = self.where.get(path)
            if hit is not None:
                out[hit[0]] = out.get(hit[0], 0) + 1
        return out


def read_member_index(root: Path, layout: Layout) -> MemberIndex:
    """Read ``<state>/index/*.members.tsv`` (see the module docstring), mapped through ``layout``."""
    where: dict[str, tuple[str, int, int]] = {}
    complete: set[str] = set()
    folder = state_dir(root) / "index"
    for path in sorted(folder.glob("*.members.tsv")) if folder.is_dir() else []:
        tar = path.name.removesuffix(".members.tsv")
        try:
            lines = read_state_text(path, errors="surrogateescape").splitlines()
        except OSError:
            continue
        for line in lines:
            if line == INDEX_COMPLETE:
                complete.add(tar)
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                continue
            rel = layout.map(parts[0])
            try:
                start, end = int(parts[1]), int(parts[2])
            except ValueError:
                continue
            if rel is not None:
                where[rel] = (tar, start, end)
    return MemberIndex(where, frozenset(complete))
