"""Per-stream statistics, totals by end reason, and the registry of open streams.

Every streaming response registers with a :class:`StreamRegistry` while it runs: the one
:func:`rxspike.web.setup` put on the application, else :data:`default_registry`. The registry
counts what was sent and why each stream ended, gives a :class:`StreamStats` snapshot of each
stream, and at application shutdown it ends the open streams (reason ``shutdown``, with a
goodbye and a complete response) instead of letting aiohttp wait out its shutdown timeout.

>>> registry = StreamRegistry()
>>> registry.totals().open, registry.totals().ended["completed"]
(0, 0)
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from ..operators import StageStats

logger = logging.getLogger("rxspike.web")

_NO_DROPS: Mapping[str, int] = MappingProxyType({})

#: Seconds :meth:`StreamRegistry.shutdown` waits for aborted streams after the grace.
ABORT_WAIT = 1.0


class EndReason(enum.Enum):
    """Why a stream ended."""

    #: The source completed and every item was written.
    COMPLETED = "completed"
    #: The source (or its encoder) failed: a 5xx before the headers, else an error frame.
    FAILED = "failed"
    #: The request was answered with a client error (4xx) before the headers: a
    #: ``Last-Event-ID`` the resume hook rejected, an error mapped to a 4xx status.
    CLIENT_ERROR = "client_error"
    #: The client disconnected: closed or reset its connection (noticed by the connection
    #: itself, by a write, or by aiohttp's handler cancellation).
    CLIENT_GONE = "client_gone"
    #: The connection was closed on the server's side under the stream (a proxy-like cut,
    #: the application's ``transport.close()``), not by the client.
    SERVER_CLOSED = "server_closed"
    #: The client took no bytes for ``send_timeout`` seconds.
    TIMEOUT = "timeout"
    #: The application shut down while the stream was open.
    SHUTDOWN = "shutdown"
    #: The handler's task was cancelled while the client was still connected.
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class StreamStats:
    """A snapshot of one stream."""

    #: The stream's id, unique per registry; log lines and error frames carry it.
    id: int
    #: ``METHOD /path`` of the request.
    request: str
    #: The response's media type.
    media_type: str
    #: Items written to the socket.
    items: int
    #: Body bytes written to the socket (frames, before chunked framing).
    bytes: int
    #: Writes issued (each joins whatever frames were queued, up to ``write_limit``).
    writes: int
    #: Most items that were queued at once, waiting for the socket.
    queued_high_water: int
    #: True once the status and headers were sent.
    headers_sent: bool
    #: Seconds since the stream started (its whole life once it ended).
    duration: float
    #: Why it ended; ``None`` while it is open.
    reason: EndReason | None
    #: ``repr`` of the error that ended it, if any.
    error: str | None
    #: The status answered (``None`` until it is chosen, at the first signal).
    status: int | None = None
    #: Frames encoded and waiting in the writer's queue now.
    buffered_items: int = 0
    #: Bytes waiting now: queued frames plus the transport's write buffer (what the client
    #: has not taken yet, short of the kernel's socket buffers).
    buffered_bytes: int = 0
    #: Items dropped upstream, by strategy: each named stage's ``statistics().dropped``
    #: (the ``stages`` argument of the response functions).
    drops: Mapping[str, int] = field(default_factory=lambda: _NO_DROPS)
    #: Keep-alive frames written (``heartbeat``).
    heartbeats: int = 0
    #: Seconds the oldest frame of the latest write had waited in the writer's queue: how
    #: far the client lags behind the source, as the writer sees it.
    lag: float = 0.0
    #: The largest ``lag`` of the stream.
    max_lag: float = 0.0
    #: Body bytes after compression (``None`` when the stream is not compressed).
    compressed_bytes: int | None = None
    #: The ``Last-Event-ID`` the stream resumed after (SSE ``resume``), else ``None``.
    resumed_from: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The snapshot as JSON (``/metrics`` of the demo server); bytes as ``bytes_sent``."""
        return {
            "id": self.id,
            "request": self.request,
            "media_type": self.media_type,
            "status": self.status,
            "items_sent": self.items,
            "bytes_sent": self.bytes,
            "compressed_bytes": self.compressed_bytes,
            "writes": self.writes,
            "queued_high_water": self.queued_high_water,
            "buffered_items": self.buffered_items,
            "buffered_bytes": self.buffered_bytes,
            "drops": dict(self.drops),
            "heartbeats": self.heartbeats,
            "lag": round(self.lag, 6),
            "max_lag": round(self.max_lag, 6),
            "duration": round(self.duration, 3),
            "headers_sent": self.headers_sent,
            "reason": None if self.reason is None else self.reason.value,
            "error": self.error,
            "resumed_from": self.resumed_from,
        }


@dataclass(frozen=True, slots=True)
class Totals:
    """Everything a registry saw, as a JSON-friendly snapshot (see :meth:`as_json`)."""

    #: Streams running now.
    open: int
    #: Streams started since the registry was made.
    started: int
    #: Ended streams by :class:`EndReason` value (every reason present, zeros included).
    ended: Mapping[str, int]
    #: Items written, by ended and open streams.
    items: int
    #: Body bytes written, by ended and open streams.
    bytes: int
    #: Items dropped upstream: the streams' ``drops``, plus :meth:`StreamRegistry.count_dropped`.
    dropped: int

    def as_json(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "started": self.started,
            "ended": dict(self.ended),
            "items_sent": self.items,
            "bytes_sent": self.bytes,
            "dropped": self.dropped,
        }


class HasStatistics(Protocol):
    """A stage that reports :class:`~rxspike.operators.StageStats`: what ``from_observable``
    returns, or an operator such as ``on_backpressure_buffer(...)`` (keep the operator object
    and pass it)."""

    def statistics(self) -> StageStats: ...


class RegisteredStream(Protocol):
    """What the registry needs of a running stream."""

    @property
    def id(self) -> int: ...

    def stats(self) -> StreamStats: ...

    def stop(self, reason: EndReason) -> None:
        """End the stream soon with ``reason``; synchronous, idempotent."""

    def abort(self) -> None:
        """Drop the connection now (the shutdown's grace ran out); synchronous, idempotent."""

    async def wait_closed(self) -> None: ...


class StreamRegistry:
    """Open streams and what ended ones did; all methods run on the event loop's thread."""

    def __init__(self, *, keep_recent: int = 100) -> None:
        """``keep_recent``: how many ended streams' stats :meth:`recent` keeps."""
        self._ids = itertools.count(1)
        self._open: dict[int, RegisteredStream] = {}
        self._started = 0
        self._ended = dict.fromkeys((reason.value for reason in EndReason), 0)
        self._items = 0
        self._bytes = 0
        self._dropped = 0
        self._recent: deque[StreamStats] = deque(maxlen=keep_recent)
        self._closing = False

    @property
    def closing(self) -> bool:
        """True once :meth:`shutdown` began: new streams end at once with ``shutdown``."""
        return self._closing

    def next_id(self) -> int:
        return next(self._ids)

    def add(self, stream: RegisteredStream) -> None:
        self._started += 1
        self._open[stream.id] = stream
        if self._closing:
            stream.stop(EndReason.SHUTDOWN)

    def remove(self, stream: RegisteredStream) -> None:
        if self._open.pop(stream.id, None) is None:
            return
        stats = stream.stats()
        self._ended[stats.reason.value if stats.reason else EndReason.CANCELLED.value] += 1
        self._items += stats.items
        self._bytes += stats.bytes
        self._dropped += sum(stats.drops.values())
        self._recent.append(stats)

    def count_dropped(self, count: int = 1) -> None:
        """Add ``count`` dropped items that no stream reports (an ``on_dropped`` callback)."""
        self._dropped += count

    def totals(self) -> Totals:
        live = [stream.stats() for stream in self._open.values()]
        return Totals(
            open=len(live),
            started=self._started,
            ended=MappingProxyType(dict(self._ended)),
            items=self._items + sum(s.items for s in live),
            bytes=self._bytes + sum(s.bytes for s in live),
            dropped=self._dropped + sum(sum(s.drops.values()) for s in live),
        )

    def open_streams(self) -> list[StreamStats]:
        """A snapshot of each open stream, oldest first."""
        return [stream.stats() for stream in self._open.values()]

    def recent(self) -> list[StreamStats]:
        """The last ended streams, oldest first."""
        return list(self._recent)

    async def shutdown(self, grace: float = 5.0) -> None:
        """End every open stream with ``shutdown``, within ``grace`` seconds.

        Each stream stops its source at once and says goodbye (the format's goodbye frame,
        then a complete response). A stream still writing to a slow client after ``grace``
        seconds has its connection dropped; the call then waits up to :data:`ABORT_WAIT`
        more for those to unwind. Streams that start afterwards end at once the same way.
        """
        self._closing = True
        streams = list(self._open.values())
        if not streams:
            return
        for stream in streams:
            stream.stop(EndReason.SHUTDOWN)
        waits = {asyncio.ensure_future(s.wait_closed()): s for s in streams}
        _, late = await asyncio.wait(waits, timeout=grace)
        for waiter in late:
            waits[waiter].abort()
        if late:
            _, stuck = await asyncio.wait(late, timeout=ABORT_WAIT)
            for waiter in stuck:
                waiter.cancel()
        logger.info(
            "shutdown: %d open streams ended, %d of them cut after the %g s grace",
            len(streams),
            len(late),
            grace,
        )


#: Where streams register when the application has no registry of its own (see ``setup``).
default_registry = StreamRegistry()
