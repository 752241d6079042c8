"""Incremental parsers that pull sequence numbers out of the demo server's stream formats.

Each parser takes the body in whatever pieces the socket delivers and returns the sequence
numbers of the items those pieces completed. An in-band error (an SSE ``event:
stream-error``, :data:`rxspike.web.ERROR_EVENT`; an NDJSON line with an ``"error"`` key) is
collected in ``errors`` instead.

>>> p = NdjsonFrames()
>>> p.feed(b'{"seq": 0, "data": "aa"}\\n{"seq": 1, "da'), p.feed(b'ta": "bb"}\\n')
([0], [1])
>>> s = SseFrames()
>>> s.feed(b"id: 7\\ndata: x\\n\\nevent: stream-error\\nid: rxspike-stream-failed\\n"
...        b"data: boom\\n\\n"), s.errors
([7], ['boom'])
>>> b = BytesFrames(size=12)
>>> b.feed((5).to_bytes(8, "big") + b"abcd" + (6).to_bytes(8, "big")), b.feed(b"efgh")
([5], [6])
"""

from __future__ import annotations

import json
import re

from rxspike.web import ERROR_EVENT

#: Error event names: rxspike's, and the plain ``error`` other servers (peers) send.
_ERROR_EVENTS = (ERROR_EVENT.encode(), b"error")

_SEQ = re.compile(rb'"seq"\s*:\s*(\d+)')


class Frames:
    """Base class: ``feed(data) -> [seq, ...]``; in-band errors in ``errors``."""

    __slots__ = ("_buffer", "errors")

    def __init__(self) -> None:
        self._buffer = b""
        #: In-band error messages the server sent (its way of saying the stream failed).
        self.errors: list[str] = []

    def feed(self, data: bytes) -> list[int]:
        raise NotImplementedError

    @property
    def pending(self) -> int:
        """Bytes of an item that has not been completed yet."""
        return len(self._buffer)


class NdjsonFrames(Frames):
    """One JSON object per line with a ``"seq"`` key; a line with ``"error"`` is an error."""

    __slots__ = ()

    def feed(self, data: bytes) -> list[int]:
        buffer = self._buffer + data
        end = buffer.rfind(b"\n")
        if end < 0:
            self._buffer = buffer
            return []
        self._buffer = buffer[end + 1 :]
        seqs: list[int] = []
        for line in buffer[:end].split(b"\n"):
            if not line.strip():
                continue
            match = _SEQ.search(line, 0, 64)
            if match is not None and b'"error"' not in line[:64]:
                seqs.append(int(match.group(1)))
                continue
            self._other(line)
        return seqs

    def _other(self, line: bytes) -> None:
        try:
            obj = json.loads(line)
        except ValueError:
            self.errors.append(f"unparsable line: {line[:80]!r}")
            return
        if isinstance(obj, dict) and "error" in obj:
            self.errors.append(str(obj["error"]))
        elif isinstance(obj, dict) and isinstance(obj.get("seq"), int):
            pass  # handled by the fast path; unreachable unless "seq" sits beyond 64 bytes
        else:
            self.errors.append(f"line without seq: {line[:80]!r}")


class SseFrames(Frames):
    """Server-sent events: the ``id:`` field is the sequence number; an error event
    (``stream-error``, or ``error`` from servers that use that name) fails.

    An id that is not a number (a Redis entry id, ``1700000000000-0``) leaves the sequence
    number to the payload, which starts with it. :attr:`last_id` is the last id seen, what a
    reconnecting client sends as ``Last-Event-ID``. Comment lines (``: keep-alive``) and
    events without an id are ignored.
    """

    __slots__ = ("last_id",)

    def __init__(self) -> None:
        super().__init__()
        #: The ``id:`` of the last event with one (None: none yet).
        self.last_id: str | None = None

    def feed(self, data: bytes) -> list[int]:
        buffer = self._buffer + data
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self._buffer = buffer
            return []
        self._buffer = buffer[end + 2 :]
        seqs: list[int] = []
        for event in buffer[:end].split(b"\n\n"):
            ident: bytes | None = None
            kind = b"message"
            payload = b""
            for line in event.split(b"\n"):
                if line.startswith(b"id:"):
                    ident = line[3:].strip()
                elif line.startswith(b"event:"):
                    kind = line[6:].strip()
                elif line.startswith(b"data:"):
                    payload = line[5:].strip()
            if kind in _ERROR_EVENTS:
                self.errors.append(payload.decode(errors="replace"))
            elif ident:
                self.last_id = ident.decode()
                if ident.isdigit():
                    seqs.append(int(ident))
                else:
                    seqs.append(int(payload.split(b" ", 1)[0]))
        return seqs


class BytesFrames(Frames):
    """Fixed-size binary records whose first 8 bytes are the big-endian sequence number."""

    __slots__ = ("_size",)

    def __init__(self, size: int) -> None:
        super().__init__()
        if size < 8:
            raise ValueError(f"bytes records carry an 8-byte sequence number; size {size} < 8")
        self._size = size

    def feed(self, data: bytes) -> list[int]:
        buffer = self._buffer + data if self._buffer else data
        size = self._size
        whole = len(buffer) - len(buffer) % size
        self._buffer = buffer[whole:]
        return [int.from_bytes(buffer[i : i + 8], "big") for i in range(0, whole, size)]


def frames_for(fmt: str, size: int) -> Frames:
    """The parser for a stream format."""
    if fmt == "ndjson":
        return NdjsonFrames()
    if fmt == "sse":
        return SseFrames()
    if fmt == "bytes":
        return BytesFrames(size)
    raise ValueError(f"unknown stream format {fmt!r}; expected sse, ndjson or bytes")
