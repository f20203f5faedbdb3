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
    """Bytes ``[start, end)`` in order, fetched ``connections`` pieces at a time (module docstring).

    ``first``: the bytes of a request already open at ``start`` (used for the first piece, and
    read up to the first piece's end only)."""

    def __init__(self, fetch: Fetch, start: int, end: int, *, connections: int, piece: int = PIECE,
                 ahead: int | None = None, first: Iterator[bytes] | None = None,
                 initial: int | None = None) -> None:
        self._fetch = fetch
        self.start, self.end = start, end
        self.piece = max(1, piece)
        self.connections = max(1, connections)
        self.ahead = max(self.connections, ahead if ahead is not None else self.connections * AHEAD_PER_CONNECTION)
        self._pieces = [_Piece(a, min(a + self.piece, end)) for a in range(start, end, self.piece)]
        self._first = first
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

    def close(self, timeout: float = 1.0) -> None:
        """Stop the fetchers (each stops at its next chunk) and wait for them up to ``timeout`` in
        all (a fetcher blocked on a stalled link ends with its read timeout; it is a daemon)."""
        with self._data:
            self._closed = True
            self._data.notify_all()
            self._room.notify_all()
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
                source = self._first if index == 0 and self._first is not None else None
                self._fill(index, piece, source if source is not None else self._fetch(piece.start, piece.end))
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
            take = chunk[: want - piece.received]  # a first stream may run past the piece
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
