"""Read one large resource in order while its next pieces arrive on other connections.

A CDN that caps each connection (SA-1B's, say, at 20 MiB/s) makes a single stream slow, and a
tar that is extracted while it streams cannot be cut into segments written at random offsets:
the extractor must see the bytes in order. :class:`ReadAhead` bridges the two. Bytes
``[start, end)`` are cut into pieces (``PIECE`` bytes); ``connections`` threads fetch the next
pieces at once, each through the caller's ``fetch(start, end)`` (an iterator of the piece's
bytes, e.g. one ``Range`` request), and the consumer takes the bytes strictly in order through
:meth:`chunks`, as they arrive, also from the piece still coming in.

The buffer is bounded: a piece is only started while it lies within ``ahead`` pieces of the one
being consumed, so at most ``ahead × piece`` bytes are held in memory (nothing goes to disk).
Nothing is retried here: a failed piece is raised to the consumer when it reaches that piece (the
bytes before it are still delivered in order), and the caller resumes as it would after a dropped
single stream. :meth:`close` stops the fetchers.

How many connections work follows the consumer (``initial``, up to ``connections``): each time it
finds no bytes of its piece waiting, one more fetcher joins. Behind a per-connection cap it waits
at once and all connections are at work within a few chunks; on a link faster than the consumer
(a tar extracted as it streams is limited by the writes) it waits only at the start, and the few
connections spare the process the lock hand-offs of fetchers it could not keep up with.

:class:`Stream` puts the read-ahead off until it pays: the consumer reads one open stream itself,
in its own thread (no fetcher thread, no lock), and measures how long it waits inside that
stream's reads. Only when a window of :data:`WINDOW` seconds was at least :data:`WAITING` spent
waiting — the link, not the consumer, is the limit, as behind a per-connection cap — does it go on
reading the open stream to one piece further and start a :class:`ReadAhead` there; the open stream
is then cut. On a link faster than the consumer (a tar extracted as it streams on a fast link) it
never starts, and the bytes cost no thread hand-off at all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

#: Bytes per piece (one request each).
PIECE = 8 << 20  # at 20 MiB/s a piece takes 0.4 s, so one round trip per piece costs little
#: Connections when ``Settings.segments`` does not say (a CDN's per-connection cap is the case
#: this is for; the segment policy still lowers it for a small rest, the host gate on 429/503).
CONNECTIONS = 8
#: Pieces in memory at most, per connection.
AHEAD_PER_CONNECTION = 2
#: :class:`Stream` measures the consumer's waiting over windows this long (clock seconds) ...
WINDOW = 0.25
#: ... and starts the read-ahead after a window it spent at least this share of waiting for bytes.
WAITING = 0.75

Fetch = Callable[[int, int], Iterator[bytes]]


class Closed(Exception):
    """The reader was closed while a fetcher was still at work (not an error of the piece)."""


@dataclass
class _Piece:
    start: int
    end: int
    chunks: deque[bytes] = field(default_factory=deque)
    received: int = 0
    done: bool = False
    error: BaseException | None = None


class ReadAhead:
    """Bytes ``[start, end)`` in order, fetched ``connections`` pieces at a time (module docstring)."""

    def __init__(self, fetch: Fetch, start: int, end: int, *, connections: int, piece: int = PIECE,
                 ahead: int | None = None, initial: int | None = None) -> None:
        self._fetch = fetch
        self.start, self.end = start, end
        self.piece = max(1, piece)
        self.connections = max(1, connections)
        self.ahead = max(self.connections, ahead if ahead is not None else self.connections * AHEAD_PER_CONNECTION)
        self._pieces = [_Piece(a, min(a + self.piece, end)) for a in range(start, end, self.piece)]
        lock = threading.Lock()
        self._data = threading.Condition(lock)  # the consumer waits here for bytes of its piece
        self._room = threading.Condition(lock)  # fetchers wait here for the window to move on
        self._next = 0  # the next piece to hand to a fetcher
        self._reading = 0  # the piece the consumer is in
        self._closed = False
        self._threads = [threading.Thread(target=self._worker, args=(i,), name=f"readahead-{i}", daemon=True)
                         for i in range(min(self.connections, len(self._pieces)))]
        #: Fetchers allowed to claim pieces: ``initial``, then one more each time the consumer waits.
        self.active = max(1, min(len(self._threads), initial if initial is not None else self.connections))
        for thread in self._threads:
            thread.start()

    # -- consumer ------------------------------------------------------------------------------
    def chunks(self) -> Iterator[bytes]:
        """The bytes in order; raises the error of a failed piece when it is reached."""
        for index, piece in enumerate(self._pieces):
            while True:
                with self._data:
                    while not piece.chunks and not piece.done and not self._closed:
                        if self.active < len(self._threads):  # the link is slower than we read: one more
                            self.active += 1
                            self._room.notify_all()
                        self._data.wait()
                    if self._closed:
                        raise Closed("the reader was closed")
                    if piece.chunks:
                        chunk = piece.chunks.popleft()
                    elif piece.error is not None:
                        raise piece.error
                    else:  # done and drained: the window moves on
                        self._reading = index + 1
                        self._pieces[index] = _Piece(piece.start, piece.end, done=True)  # drop the deque
                        self._room.notify_all()
                        break
                yield chunk

    def stop(self) -> None:
        """Stop at once, from any thread (a cancel): a consumer waiting for bytes raises
        :class:`Closed`, each fetcher stops at its next chunk. Does not wait for them."""
        with self._data:
            self._closed = True
            self._data.notify_all()
            self._room.notify_all()

    def close(self, timeout: float = 1.0) -> None:
        """:meth:`stop`, then wait for the fetchers up to ``timeout`` in all (a fetcher blocked on
        a stalled link ends with its read timeout; it is a daemon)."""
        self.stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed (what the window holds now)."""
        with self._data:
            return sum(sum(len(c) for c in p.chunks) for p in self._pieces)

    # -- fetchers ------------------------------------------------------------------------------
    def _claim(self, worker: int) -> int | None:
        with self._room:
            while not self._closed:
                if self._next >= len(self._pieces):
                    return None
                if worker < self.active and self._next < self._reading + self.ahead:
                    index = self._next
                    self._next += 1
                    return index
                self._room.wait()
            return None

    def _worker(self, worker: int) -> None:
        while (index := self._claim(worker)) is not None:
            piece = self._pieces[index]
            try:
                self._fill(index, piece, self._fetch(piece.start, piece.end))
            except BaseException as exc:  # handed to the consumer at this piece
                with self._data:
                    piece.error = exc
                    piece.done = True
                    self._data.notify()
                if isinstance(exc, Closed):
                    return

    def _fill(self, index: int, piece: _Piece, source: Iterator[bytes]) -> None:
        """Receive ``piece`` (number ``index``); the consumer is woken only for the piece it is in."""
        want = piece.end - piece.start
        for chunk in source:
            if not chunk:
                continue
            take = chunk[: want - piece.received]  # never past the piece
            with self._data:
                if self._closed:
                    raise Closed("the reader was closed")
                piece.chunks.append(take)
                piece.received += len(take)
                if index == self._reading:
                    self._data.notify()  # the one consumer; fetchers are not woken for bytes
            if piece.received >= want:
                break
        with self._data:
            if piece.received < want:
                raise ConnectionError(f"piece {piece.start:,}-{piece.end - 1:,} ended after "
                                      f"{piece.received:,} of {want:,} bytes")
            piece.done = True
            if index == self._reading:
                self._data.notify()


class Stream:
    """Bytes ``[start, end)`` from ``first`` (a request open at ``start``), read in the consumer's
    thread; a :class:`ReadAhead` of ``connections`` takes over once the consumer waits on the link
    (module docstring). ``end`` None, ``fetch`` None or one connection: ``first`` alone, as is.

    ``abort`` cuts the open stream when the read-ahead takes over (it would run on past its last
    piece); ``clock`` times the consumer's waits (injectable: tests decide what waiting is)."""

    def __init__(self, first: Iterator[bytes], start: int, end: int | None, *, fetch: Fetch | None = None,
                 connections: int = 1, piece: int | None = None, abort: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._first = first
        self._fetch = fetch
        self.start, self.end = start, end
        self.connections = max(1, connections)
        self.piece = max(1, piece if piece is not None else PIECE)
        self._abort = abort
        self._clock = clock
        #: The read-ahead, once it took over (None while the consumer reads ``first`` alone).
        self.ahead: ReadAhead | None = None
        #: True while the bytes handed out come from ``first`` (the caller paces those itself).
        self.direct = True
        self._stopped = False

    def chunks(self) -> Iterator[bytes]:
        """The bytes in order; errors of ``first`` or of a piece are raised where they occur."""
        first, end = self._first, self.end
        if self._fetch is None or end is None or self.connections <= 1:
            yield from first
            return
        clock, piece = self._clock, self.piece
        pos, waited, since = self.start, 0.0, clock()
        while True:
            before = clock()
            chunk = next(first, None)
            now = clock()
            if chunk is None:
                return  # the caller sees where the stream ended
            waited += now - before
            pos += len(chunk)
            yield chunk
            now = clock()
            if now - since < WINDOW:
                continue
            if waited >= WAITING * (now - since) and end - pos >= 2 * piece:
                break  # the link is the limit: more connections
            waited, since = 0.0, now
        cut = pos + piece  # ``first`` runs on to here while the read-ahead fetches what follows
        log.debug("read-ahead from byte %d on %d connections (waited %.0f%% of %.2f s)", cut,
                  self.connections, 100 * waited / max(now - since, 1e-9), now - since)
        self.ahead = ReadAhead(self._fetch, cut, end, connections=self.connections, piece=piece,
                               initial=self.connections - 1)
        if self._stopped:
            self.ahead.stop()
        while pos < cut:
            chunk = next(first, None)
            if chunk is None:
                return
            chunk = chunk[:cut - pos]
            pos += len(chunk)
            yield chunk
        self._abort()
        self.direct = False
        yield from self.ahead.chunks()

    def stop(self) -> None:
        """Wake a consumer waiting on the read-ahead (a cancel; see :meth:`ReadAhead.stop`)."""
        self._stopped = True
        if self.ahead is not None:
            self.ahead.stop()

    def close(self) -> None:
        if self.ahead is not None:
            self.ahead.close()
