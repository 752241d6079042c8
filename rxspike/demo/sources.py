"""The demo's items and its sources, one factory per kind of source.

Every item carries its sequence number (the SSE ``id``, the NDJSON ``seq``, the first 8 bytes,
big-endian, of a ``bytes`` record of exactly ``size`` bytes), so a client can check order and
loss. :class:`Sources` holds the three factories the approaches are built from; the
application takes one (:func:`rxspike.demo.make_app`), so a caller can hand in its own, e.g.
the scenario harness wraps each to see when its source was released.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import reactivex
import reactivex.operators as ops
from aiohttp import web
from reactivex import Observable, abc
from reactivex.disposable import Disposable

import rxspike
from rxspike.bridges import ObservableFlowable
from rxspike.operators import ThrottleMode, throttle
from rxspike.web import NDJSON, SSE, Encoder, Raw, ServerSentEvent

from .names import OVERFLOWS, Format
from .params import Params

#: Items a fast push source emits between two turns it gives the event loop.
PUSH_BATCH = 64


class SourceFailed(Exception):
    """The demo source failed on purpose (``fail_after``)."""


def payload(seq: int, size: int) -> str:
    """``size`` characters: the sequence number, a space, then padding."""
    head = f"{seq} "
    return head + "x" * (size - len(head))


def item_maker(params: Params) -> Callable[[int], Any]:
    """Item number ``seq`` in the requested format, carrying ``seq``."""
    size = params.size
    if params.format is Format.SSE:
        return lambda seq: ServerSentEvent(payload(seq, size), id=seq)
    if params.format is Format.NDJSON:
        return lambda seq: {"seq": seq, "data": payload(seq, size)}
    filler = b"x" * (size - 8)
    return lambda seq: seq.to_bytes(8, "big") + filler


def encoder_for(params: Params) -> Encoder[Any]:
    """The encoder of the requested format."""
    if params.format is Format.SSE:
        return SSE()
    if params.format is Format.NDJSON:
        return NDJSON()
    return Raw()


def dropping(request: web.BaseRequest, after: int) -> Callable[[Observable[Any]], Observable[Any]]:
    """The operator behind ``drop_after``: the item that follows the first ``after`` closes
    the connection under the stream, with no terminal frame and no final chunk. Items not yet
    written are lost with it (a paced stream has none); a client resumes from the last id it
    got. The writer sees a connection gone and ends the stream as ``client_gone``."""
    passed = 0

    def count(_: Any) -> None:
        nonlocal passed
        passed += 1
        if passed > after and request.transport is not None:
            request.transport.close()

    return ops.do_action(count)


def _failure(params: Params) -> SourceFailed:
    return SourceFailed(f"source failed after {params.fail_after} items (fail_after)")


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


def push_buffer_source(params: Params, push: Observable[Any]) -> ObservableFlowable[Any]:
    """Push through a bounded buffer: ``overflow`` says what a full buffer drops (the
    stream's ``drops`` count them, read from the buffer's statistics)."""
    return rxspike.from_observable(push, params.capacity, OVERFLOWS[params.overflow])


def push_throttle_source(params: Params, buffer: rxspike.Flowable[Any]) -> rxspike.Flowable[Any]:
    """Push through a bounded buffer, shaped by a token bucket to ``rate`` items/s."""
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


@dataclass(frozen=True, slots=True)
class Sources:
    """The factories every approach builds its stream from, each called once per request
    with the request's :class:`~rxspike.demo.params.Params`.

    >>> Sources().pull is pull_source
    True
    """

    #: The ``pull`` approach's source.
    pull: Callable[[Params], rxspike.Flowable[Any]] = pull_source
    #: The push source behind ``push-buffer``, ``push-throttle`` and ``push-unbounded``.
    push: Callable[[Params], Observable[Any]] = push_source
    #: The ``async-iterator`` approach's generator.
    async_iterator: Callable[[Params], AsyncIterator[Any]] = async_iterator_source
