"""Per-stream statistics, aggregates by end reason, and the registry of open streams.

Every streaming response registers with a :class:`StreamRegistry` while it runs: the one
:func:`rxspike.web.setup` put on the application, else :data:`default_registry`. The registry
counts what was sent and why each stream ended, gives a :class:`StreamStats` snapshot of each
stream, and at application shutdown it ends the open streams (reason ``shutdown``, with a
goodbye and a complete response) instead of letting aiohttp wait out its shutdown timeout.

The aggregates (:meth:`StreamRegistry.aggregates`, what :mod:`rxspike.web.prometheus`
exports) are kept up to date as streams write and end: a writer adds each write to the
registry's :class:`Tally`, so reading them costs the same at 10 streams as at 10 000. Only
the drops of open streams are read from their stages (streams without stages cost nothing).

>>> registry = StreamRegistry()
>>> registry.totals().open, registry.totals().ended["completed"]
(0, 0)
"""

from __future__ import annotations

import asyncio
import bisect
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

#: Upper bounds (seconds) of the buckets of the per-write lag histogram.
LAG_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
#: Upper bounds (seconds) of the buckets of the stream duration histogram.
DURATION_BUCKETS: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0, 14400.0)
#: Distinct drop strategies (stage names) counted apart; further names count as
#: :data:`OTHER_STRATEGY`, so a stage named per request cannot grow the metrics without bound.
MAX_STRATEGIES = 16
#: The strategy label of drops beyond :data:`MAX_STRATEGIES` names, and of
#: :meth:`StreamRegistry.count_dropped` calls that name none.
OTHER_STRATEGY = "other"


class EndReason(enum.Enum):
    """Why a stream ended."""

    #: The source completed and every item was written.
    COMPLETED = "completed"
    #: The source (or its encoder) failed: a real status before the headers, else an error frame.
    FAILED = "failed"
    #: The client disconnected (noticed by a write, by the disconnect watcher, or by aiohttp's
    #: handler cancellation).
    CLIENT_GONE = "client_gone"
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


@dataclass(frozen=True, slots=True)
class HistogramSnapshot:
    """A histogram at one instant, in Prometheus' terms.

    >>> h = Histogram((1.0, 2.0)); h.observe(0.5); h.observe(1.5); h.observe(9.0)
    >>> h.snapshot().cumulative, h.snapshot().sum
    ((1, 2, 3), 11.0)
    """

    #: The buckets' upper bounds (the last bucket, +Inf, is implied).
    bounds: tuple[float, ...]
    #: Observations ``<=`` each bound, then the total (the +Inf bucket): ``len(bounds) + 1``.
    cumulative: tuple[int, ...]
    #: The sum of every observed value.
    sum: float

    @property
    def count(self) -> int:
        """How many values were observed."""
        return self.cumulative[-1]


class Histogram:
    """Fixed buckets, observed in O(log buckets): cheap enough for every write."""

    __slots__ = ("_bounds", "_counts", "_sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError(f"histogram bounds must be increasing and distinct, got {bounds!r}")
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value

    def snapshot(self) -> HistogramSnapshot:
        return HistogramSnapshot(self._bounds, tuple(itertools.accumulate(self._counts)), self._sum)


class Tally:
    """What the streams of one registry wrote, added to by each writer as it writes.

    Writers call :meth:`wrote` once per write (not per item). The counts include the open
    streams, so the registry's aggregates never have to visit them.
    """

    __slots__ = ("bytes", "items", "lag", "writes")

    def __init__(self) -> None:
        #: Items written to sockets.
        self.items = 0
        #: Body bytes written to sockets (before compression and chunked framing).
        self.bytes = 0
        #: Writes issued.
        self.writes = 0
        #: Per write: how long its oldest frame waited in the writer's queue.
        self.lag = Histogram(LAG_BUCKETS)

    def wrote(self, items: int, size: int, lag: float | None = None) -> None:
        """One write of ``items`` items, ``size`` bytes; ``lag``: its oldest frame's wait
        (``None``: a writer with no queue, nothing to observe)."""
        self.items += items
        self.bytes += size
        self.writes += 1
        if lag is not None:
            self.lag.observe(lag)


@dataclass(frozen=True, slots=True)
class Aggregates:
    """Everything a registry counted, over every stream, at one instant: what a monitoring
    scrape exports. Labels are bounded: end reasons and at most :data:`MAX_STRATEGIES`
    strategies, never a stream."""

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
    #: Writes issued, by ended and open streams.
    writes: int
    #: Items dropped upstream, by strategy (stage name), ended and open streams.
    drops: Mapping[str, int]
    #: Per write, how long its oldest frame waited in the writer's queue.
    lag: HistogramSnapshot
    #: Per ended stream, how long it lived.
    duration: HistogramSnapshot


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
        #: The open streams that report drops (have stages): the only ones a read visits.
        self._staged: dict[int, RegisteredStream] = {}
        self._started = 0
        self._ended = dict.fromkeys((reason.value for reason in EndReason), 0)
        self._tally = Tally()
        self._durations = Histogram(DURATION_BUCKETS)
        #: Drops of ended streams (and count_dropped), by strategy.
        self._drops: dict[str, int] = {}
        self._recent: deque[StreamStats] = deque(maxlen=keep_recent)
        self._closing = False

    @property
    def closing(self) -> bool:
        """True once :meth:`shutdown` began: new streams end at once with ``shutdown``."""
        return self._closing

    @property
    def tally(self) -> Tally:
        """Where the registry's streams add each write (see :class:`Tally`)."""
        return self._tally

    def next_id(self) -> int:
        return next(self._ids)

    def add(self, stream: RegisteredStream) -> None:
        """Count ``stream`` open; it adds its writes to :attr:`tally` itself."""
        self._started += 1
        self._open[stream.id] = stream
        if stream.stats().drops:  # once per stream: does it have stages to read?
            self._staged[stream.id] = stream
        if self._closing:
            stream.stop(EndReason.SHUTDOWN)

    def remove(self, stream: RegisteredStream) -> None:
        if self._open.pop(stream.id, None) is None:
            return
        self._staged.pop(stream.id, None)
        stats = stream.stats()
        self._ended[stats.reason.value if stats.reason else EndReason.CANCELLED.value] += 1
        self._durations.observe(stats.duration)
        self._add_drops(self._drops, stats.drops)
        self._recent.append(stats)

    def count_dropped(self, count: int = 1, strategy: str = OTHER_STRATEGY) -> None:
        """Add ``count`` dropped items that no stream reports (an ``on_dropped`` callback)."""
        self._add_drops(self._drops, {strategy: count})

    @staticmethod
    def _add_drops(into: dict[str, int], drops: Mapping[str, int]) -> None:
        for name, count in drops.items():
            label = OTHER_STRATEGY if name not in into and len(into) >= MAX_STRATEGIES else name
            into[label] = into.get(label, 0) + count

    def aggregates(self) -> Aggregates:
        """Every count over every stream, without visiting the open streams (except those
        with stages, for their drops so far)."""
        drops = dict(self._drops)
        for stream in self._staged.values():
            self._add_drops(drops, stream.stats().drops)
        tally = self._tally
        return Aggregates(
            open=len(self._open),
            started=self._started,
            ended=MappingProxyType(dict(self._ended)),
            items=tally.items,
            bytes=tally.bytes,
            writes=tally.writes,
            drops=MappingProxyType(drops),
            lag=tally.lag.snapshot(),
            duration=self._durations.snapshot(),
        )

    def totals(self) -> Totals:
        """The aggregates as the JSON view reports them (see :meth:`aggregates`)."""
        found = self.aggregates()
        return Totals(
            open=found.open,
            started=found.started,
            ended=found.ended,
            items=found.items,
            bytes=found.bytes,
            dropped=sum(found.drops.values()),
        )

    def open_count(self) -> int:
        """How many streams are open."""
        return len(self._open)

    def open_streams(self, offset: int = 0, limit: int | None = None) -> list[StreamStats]:
        """A snapshot of each open stream, oldest first; ``offset`` and ``limit`` take one
        page of them (only that page's snapshots are built)."""
        if offset < 0 or (limit is not None and limit < 0):
            raise ValueError(
                f"open_streams(offset, limit) must be >= 0, got offset={offset!r}, limit={limit!r}"
            )
        stop = None if limit is None else offset + limit
        page = itertools.islice(self._open.values(), offset, stop)
        return [stream.stats() for stream in page]

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
