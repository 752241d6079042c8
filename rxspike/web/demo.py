"""The demo server: one endpoint per streaming design, side by side (``rxspike serve``).

``GET /stream`` streams ``count`` items of ``size`` bytes, one every ``interval_ms`` (0: as
fast as possible), through the design named by ``approach``:

- ``pull``: a source that produces only what the socket asked for;
- ``push-buffer``: a source that cannot be slowed down, through a bounded buffer
  (``overflow=`` chooses what a full buffer drops);
- ``push-throttle``: the same push source, through a bounded buffer and a token bucket that
  shapes it to ``rate`` items per second;
- ``push-unbounded``: the naive bridge, an unbounded queue between the push source and a
  write loop. It grows without bound behind a slow client and keeps its source running
  after the client left; it is here to be measured against the others;
- ``async-iterator``: a plain async generator.

Every item carries its sequence number (the SSE ``id``, the NDJSON ``seq``, the first 8
bytes, big-endian, of a ``bytes`` record of exactly ``size`` bytes), so a client can check
order and loss. ``drop_after=K`` closes each connection under its stream after K items, as a
proxy or a crash would, so resuming can be watched. A client that reconnects with
``Last-Event-ID: N`` (what ``EventSource`` sends) gets the stream from ``N + 1`` on, in every
approach and format (the push designs still drop what their ``overflow`` drops); when
nothing is left, SSE answers ``204`` and the browser stops reconnecting. ``GET /metrics``
reports the open streams (with per-stream statistics), the recently ended ones and the
totals. ``GET /`` is a live page that shows one stream in
the browser (:mod:`rxspike.web.live`). Every response names its process in ``X-Worker-Pid``.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import reactivex
import reactivex.operators as ops
from aiohttp import web
from multidict import MultiMapping
from reactivex import Observable, abc
from reactivex.disposable import Disposable

import rxspike
from rxspike.bridges import ObservableFlowable
from rxspike.operators import Overflow, ThrottleMode, throttle

from .application import REGISTRY_KEY, setup
from .encoders import NDJSON, SSE, Encoder, Raw, ServerSentEvent
from .live import live_page
from .metrics import EndReason, StreamRegistry, StreamStats
from .options import StreamOptions
from .responses import stream

FORMATS = ("sse", "ndjson", "bytes")
APPROACHES = ("pull", "push-buffer", "push-throttle", "push-unbounded", "async-iterator")
OVERFLOWS = {
    "error": Overflow.ERROR,
    "drop-oldest": Overflow.DROP_OLDEST,
    "drop-incoming": Overflow.DROP_INCOMING,
}

#: Upper bounds that keep one request from taking the server down.
MAX_COUNT = 10_000_000
MIN_SIZE, MAX_SIZE = 16, 1024 * 1024
MAX_TOTAL_BYTES = 1024**3
MAX_INTERVAL_MS = 60_000
MAX_CAPACITY = 100_000
MAX_RATE = 1_000_000.0

#: Items a fast push source emits between two turns it gives the event loop.
PUSH_BATCH = 64


class SourceFailed(Exception):
    """The demo source failed on purpose (``fail_after``)."""


class BadParameter(web.HTTPBadRequest):
    """A query parameter is missing its mark: 400 with a JSON body that says how."""

    def __init__(self, parameter: str, error: str, allowed: Any) -> None:
        super().__init__(
            text=web.json_response(
                {"error": error, "parameter": parameter, "allowed": allowed}
            ).text,
            content_type="application/json",
        )


@dataclass(frozen=True, slots=True)
class Params:
    """The validated query of ``GET /stream``."""

    format: str = "sse"
    count: int = 10
    size: int = 64
    interval_ms: float = 0.0
    approach: str = "pull"
    fail_after: int | None = None
    overflow: str = "error"
    capacity: int = 1024
    rate: float = 1000.0
    burst: int = 100
    drop_after: int | None = None
    #: The first sequence number: one past the ``Last-Event-ID`` header (not a query
    #: parameter; see :func:`resume_point`).
    start: int = 0

    @property
    def interval(self) -> float:
        """Seconds between two items."""
        return self.interval_ms / 1000


_DEFAULT = Params()


def _integer(query: Mapping[str, str], name: str, low: int, high: int, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadParameter(
            name, f"{name} must be an integer, got {text!r}", f"integer {low}..{high}"
        ) from None
    if not low <= value <= high:
        raise BadParameter(
            name, f"{name} must be in {low}..{high}, got {value}", f"integer {low}..{high}"
        )
    return value


def _number(
    query: Mapping[str, str],
    name: str,
    low: float,
    high: float,
    default: float,
    *,
    open_low: bool = False,
) -> float:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    allowed = f"number {'>' if open_low else '>='} {low:g} and <= {high:g}"
    if not (low < value <= high if open_low else low <= value <= high):
        raise BadParameter(name, f"{name} must be a {allowed}, got {text!r}", allowed)
    return value


def _choice(query: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = query.get(name, default)
    if value not in allowed:
        raise BadParameter(
            name, f"{name} must be one of {', '.join(allowed)}, got {value!r}", list(allowed)
        )
    return value


def parse_params(query: MultiMapping[str]) -> Params:
    """Validate every parameter of ``GET /stream``.

    Raises:
        BadParameter: (400) an unknown parameter, a repeated one, or a value of the wrong
            type, out of range, or not among the allowed ones.
    """
    known = Params.__dataclass_fields__.keys() - {"start"}
    for name in query:
        if name not in known:
            raise BadParameter(name, f"unknown parameter {name!r}", sorted(known))
        if len(query.getall(name)) > 1:
            raise BadParameter(name, f"{name} given more than once", "one value")
    count = _integer(query, "count", 0, MAX_COUNT, _DEFAULT.count)
    size = _integer(query, "size", MIN_SIZE, MAX_SIZE, _DEFAULT.size)
    if count * size > MAX_TOTAL_BYTES:
        raise BadParameter(
            "count",
            f"count * size must be <= {MAX_TOTAL_BYTES} bytes, got {count} * {size}",
            f"count * size <= {MAX_TOTAL_BYTES}",
        )
    fail_after = query.get("fail_after")
    drop_after = query.get("drop_after")
    return Params(
        format=_choice(query, "format", FORMATS, _DEFAULT.format),
        count=count,
        size=size,
        interval_ms=_number(query, "interval_ms", 0, MAX_INTERVAL_MS, _DEFAULT.interval_ms),
        approach=_choice(query, "approach", APPROACHES, _DEFAULT.approach),
        fail_after=None if fail_after is None else _integer(query, "fail_after", 0, count, 0),
        overflow=_choice(query, "overflow", tuple(OVERFLOWS), _DEFAULT.overflow),
        capacity=_integer(query, "capacity", 1, MAX_CAPACITY, _DEFAULT.capacity),
        rate=_number(query, "rate", 0, MAX_RATE, _DEFAULT.rate, open_low=True),
        burst=_integer(query, "burst", 1, MAX_CAPACITY, _DEFAULT.burst),
        drop_after=None if drop_after is None else _integer(query, "drop_after", 1, MAX_COUNT, 1),
    )


def resume_point(headers: Mapping[str, str], params: Params) -> Params:
    """``params`` starting one past the ``Last-Event-ID`` header, if the client sent one.

    Raises:
        BadParameter: (400) the header is not an integer in ``0..count-1``, the ids this
            stream hands out.
    """
    text = headers.get("Last-Event-ID")
    if not text:  # absent, or empty: a browser sends none when the last id was empty
        return params
    last = _integer({"Last-Event-ID": text}, "Last-Event-ID", 0, params.count - 1, 0)
    return replace(params, start=last + 1)


# -- items ------------------------------------------------------------------------------------


def payload(seq: int, size: int) -> str:
    """``size`` characters: the sequence number, a space, then padding."""
    head = f"{seq} "
    return head + "x" * (size - len(head))


def item_maker(params: Params) -> Callable[[int], Any]:
    """Item number ``seq`` in the requested format, carrying ``seq``."""
    size = params.size
    if params.format == "sse":
        return lambda seq: ServerSentEvent(payload(seq, size), id=seq)
    if params.format == "ndjson":
        return lambda seq: {"seq": seq, "data": payload(seq, size)}
    filler = b"x" * (size - 8)
    return lambda seq: seq.to_bytes(8, "big") + filler


def encoder_for(params: Params) -> Encoder[Any]:
    if params.format == "sse":
        return SSE()
    if params.format == "ndjson":
        return NDJSON()
    return Raw()


def dropping(request: web.BaseRequest, after: int) -> Callable[[Observable[Any]], Observable[Any]]:
    """The operator behind ``drop_after``: the item that follows the first ``after`` closes
    the connection under the stream, with no terminal frame and no final chunk. Items not yet
    written are lost with it (a paced stream has none); a client resumes from the last id it
    got. The writer sees the connection closed on its side: reason ``server_closed``."""
    passed = 0

    def count(_: Any) -> None:
        nonlocal passed
        passed += 1
        if passed > after and request.transport is not None:
            request.transport.close()

    return ops.do_action(count)


def _failure(params: Params) -> SourceFailed:
    return SourceFailed(f"source failed after {params.fail_after} items (fail_after)")


# -- the sources, one per approach ------------------------------------------------------------


def pull_source(params: Params) -> rxspike.Flowable[Any]:
    """Demand-driven: item ``n`` is made only once the socket asked for it."""
    make, count, fail_after = item_maker(params), params.count, params.fail_after

    def step(seq: int, sink: rxspike.GenerateSink[Any]) -> int:
        if seq == fail_after:
            sink.error(_failure(params))
        elif seq == count:
            sink.complete()
        else:
            sink.next(make(seq))
        return seq + 1

    flow = rxspike.generate(lambda: params.start, step)
    if params.interval:  # pace it: still produced on demand, at most one per interval
        flow = flow.pipe(throttle(1 / params.interval, 1, ThrottleMode.SHAPE, prefetch=1))
    return flow


def push_source(params: Params) -> Observable[Any]:
    """Pushes at its own pace and cannot be slowed down: one item per interval, or as fast
    as it can, giving the event loop a turn every :data:`PUSH_BATCH` items."""
    make, fail_after = item_maker(params), params.fail_after
    end = params.count if fail_after is None else fail_after

    def subscribe(
        observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        async def produce() -> None:
            for seq in range(params.start, end):
                observer.on_next(make(seq))
                if params.interval:
                    await asyncio.sleep(params.interval)
                elif seq % PUSH_BATCH == PUSH_BATCH - 1:
                    await asyncio.sleep(0)
            if fail_after is None:
                observer.on_completed()
            else:
                observer.on_error(_failure(params))

        task = asyncio.get_running_loop().create_task(produce())

        def stop() -> None:
            task.cancel()

        return Disposable(stop)

    return reactivex.create(subscribe)


def push_buffer_source(params: Params) -> ObservableFlowable[Any]:
    """Push through a bounded buffer: ``overflow`` says what a full buffer drops (the
    stream's ``drops`` count them, read from the buffer's statistics)."""
    return rxspike.from_observable(push_source(params), params.capacity, OVERFLOWS[params.overflow])


def push_throttle_source(
    params: Params, buffer: rxspike.Flowable[Any] | None = None
) -> rxspike.Flowable[Any]:
    """Push through a bounded buffer, shaped by a token bucket to ``rate`` items/s."""
    buffer = push_buffer_source(params) if buffer is None else buffer
    return buffer.pipe(throttle(params.rate, params.burst, ThrottleMode.SHAPE))


async def async_iterator_source(params: Params) -> AsyncIterator[Any]:
    """A plain async generator: pulled one item per unit of demand."""
    make = item_maker(params)
    for seq in range(params.start, params.count):
        if seq == params.fail_after:
            raise _failure(params)
        if params.interval:
            await asyncio.sleep(params.interval)
        yield make(seq)


async def push_unbounded(
    request: web.Request, params: Params, sent: Callable[[int], None]
) -> web.StreamResponse:
    """The naive bridge, kept for comparison: it grows without bound behind a slow client."""
    encode = encoder_for(params).encode
    queue: asyncio.Queue[Any] = asyncio.Queue()  # unbounded: the flaw on display
    end = object()
    source = push_source(params)
    if params.drop_after is not None:
        source = source.pipe(dropping(request, params.drop_after))
    subscription = source.subscribe(
        queue.put_nowait, queue.put_nowait, lambda: queue.put_nowait(end)
    )
    response = web.StreamResponse(headers={"Content-Type": encoder_for(params).media_type})
    await response.prepare(request)
    try:
        while (item := await queue.get()) is not end:
            if isinstance(item, Exception):
                raise item
            data = encode(item)
            await response.write(data)
            sent(len(data))
    finally:
        subscription.dispose()
    await response.write_eof()
    return response


class _NaiveStream:
    """Counts the naive handler in the registry (open, items, bytes, end reason) so that
    ``/metrics`` shows it too, e.g. still open after its client left."""

    def __init__(self, request: web.Request, registry: StreamRegistry) -> None:
        self._registry = registry
        self._request = f"{request.method} {request.path}"
        self._id = registry.next_id()
        self._items = self._bytes = 0
        self._started = time.monotonic()
        self._reason: EndReason | None = None
        self._error: BaseException | None = None
        self._task = asyncio.current_task()
        self._closed = asyncio.Event()

    @property
    def id(self) -> int:
        return self._id

    def sent(self, size: int) -> None:
        self._items += 1
        self._bytes += size

    def stats(self) -> StreamStats:
        return StreamStats(
            self._id,
            self._request,
            "",
            self._items,
            self._bytes,
            self._items,
            0,
            True,
            time.monotonic() - self._started,
            self._reason,
            None if self._error is None else repr(self._error),
        )

    def stop(self, reason: EndReason) -> None:
        if self._reason is None and self._task is not None:
            self._reason = reason
            self._task.cancel()

    def abort(self) -> None:
        self.stop(EndReason.SHUTDOWN)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def __enter__(self) -> _NaiveStream:
        self._registry.add(self)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        if self._reason is None:
            if error is None:
                self._reason = EndReason.COMPLETED
            elif isinstance(error, (ConnectionError, asyncio.CancelledError)):
                self._reason = EndReason.CLIENT_GONE
            else:
                self._reason, self._error = EndReason.FAILED, error
        self._registry.remove(self)
        self._closed.set()


# -- the application --------------------------------------------------------------------------

#: Options of every demo stream: the demo's failure is public, a frozen client is let go.
DEMO_OPTIONS = StreamOptions(statuses={SourceFailed: 500}, send_timeout=60.0)


async def stream_handler(request: web.Request) -> web.StreamResponse:
    params = resume_point(request.headers, parse_params(request.query))
    registry = request.app[REGISTRY_KEY]
    source: rxspike.Flowable[Any]
    stages: dict[str, ObservableFlowable[Any]] = {}
    if params.approach == "push-unbounded":
        with _NaiveStream(request, registry) as naive:
            return await push_unbounded(request, params, naive.sent)
    if params.approach == "pull":
        source = pull_source(params)
    elif params.approach in ("push-buffer", "push-throttle"):
        buffer = stages[params.overflow] = push_buffer_source(params)
        source = (
            buffer if params.approach == "push-buffer" else push_throttle_source(params, buffer)
        )
    else:
        source = rxspike.from_async_iterable(async_iterator_source(params))
    if params.drop_after is not None:
        source = source.pipe(dropping(request, params.drop_after))
    return await stream(
        request,
        source,
        encoder_for(params),
        options=DEMO_OPTIONS,
        stages=stages,
        resumed_from=request.headers.get("Last-Event-ID") if params.start else None,
    )


async def metrics_handler(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY_KEY]
    body = registry.totals().as_json()
    body["streams"] = [s.as_json() for s in registry.open_streams()]
    body["recent"] = [s.as_json() for s in registry.recent()]
    return web.json_response(body)


async def _name_the_worker(_: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Worker-Pid"] = str(os.getpid())  # which of ``--workers N`` answered


def create_app() -> web.Application:
    """The demo application: ``GET /stream``, ``GET /metrics`` and the live page ``GET /``."""
    app = web.Application()
    setup(app)
    app.on_response_prepare.append(_name_the_worker)
    app.router.add_get("/", live_page)
    app.router.add_get("/stream", stream_handler)
    app.router.add_get("/metrics", metrics_handler)
    return app


def approach_sources() -> dict[str, str]:
    """Each approach's core, as source text, for reports that quote them."""
    return {
        "pull": inspect.getsource(pull_source),
        "push-buffer": inspect.getsource(push_buffer_source),
        "push-throttle": inspect.getsource(push_throttle_source),
        "push-unbounded": inspect.getsource(push_unbounded),
        "async-iterator": inspect.getsource(async_iterator_source),
        "(push source)": inspect.getsource(push_source),
    }
