"""Segments keep demand with every kind of reactivex operator: emitting later, multiplying,
refused; and the segment's own defects (errors behind held output, raising disposals)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import reactivex
import reactivex.operators as ops
from reactivex.scheduler import EventLoopScheduler, TimeoutScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

import rxspike
from rxspike import DEFAULT_PREFETCH, MissingBackpressureError, RequestSubscriber
from rxspike.core.errors import UnsupportedOperatorError
from rxspike.operators import fuse

from ._support import Spy, counting, spy


@pytest.fixture
def undeliverable() -> Iterator[list[BaseException]]:
    seen: list[BaseException] = []
    previous = rxspike.set_undeliverable_hook(seen.append)
    yield seen
    rxspike.set_undeliverable_hook(previous)


class Batches(RequestSubscriber[Any]):
    """Asks for ``batch`` items at a time, from whatever thread delivers them."""

    def __init__(self, batch: int) -> None:
        self.items: list[Any] = []
        self.errors: list[Exception] = []
        self.done = threading.Event()
        self.threads: set[int] = set()
        self._batch = batch
        super().__init__(self._next, self._failed, self.done.set, initial_request=batch)

    def _next(self, item: Any) -> None:
        self.items.append(item)
        self.threads.add(threading.get_ident())
        if len(self.items) % self._batch == 0:
            self.request(self._batch)

    def _failed(self, error: Exception) -> None:
        self.errors.append(error)
        self.done.set()


def _pulled(seen: Spy) -> int:
    return seen.emitted


def test_observe_on_inside_a_segment_delivers_everything_in_batches() -> None:
    scheduler = EventLoopScheduler()
    try:
        consumer = Batches(16)
        rxspike.range_(10_000).pipe(ops.observe_on(scheduler)).subscribe(consumer)
        assert consumer.done.wait(10), f"stalled after {len(consumer.items)} items"
        assert consumer.errors == []
        assert consumer.items == list(range(10_000))
    finally:
        scheduler.dispose()


def test_a_long_delay_with_request_one_pulls_a_bounded_number() -> None:
    flow, seen = spy(rxspike.from_iterable(itertools.count()))
    scheduler = TimeoutScheduler()
    consumer: RequestSubscriber[int] = RequestSubscriber(lambda _: None, initial_request=1)
    flow.pipe(ops.delay(10.0, scheduler=scheduler)).subscribe(consumer)
    time.sleep(0.2)  # the old segment pulled ~15 k items in this time
    pulled = _pulled(seen)
    consumer.cancel()
    assert 0 < pulled <= 2 * DEFAULT_PREFETCH


def test_async_for_over_an_endless_source_with_delay_leaves_the_loop_free() -> None:
    seen = Spy()
    gaps: list[float] = []

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()

        async def ticker() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.001)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticking = loop.create_task(ticker())
        flow = rxspike.from_iterable(counting(seen)).pipe(
            ops.delay(0.01, scheduler=AsyncIOScheduler(loop))
        )
        got = []
        async for item in flow.iterate(prefetch=16):
            got.append(item)
            if len(got) == 600:
                break
        ticking.cancel()
        return got

    result: list[list[int]] = []
    # On its own thread: a blocked loop must fail this test, not hang it.
    worker = threading.Thread(target=lambda: result.append(asyncio.run(main())), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "the event loop was blocked"
    assert result == [list(range(600))]
    assert gaps and max(gaps) < 0.5
    assert seen.finalized == 1


def test_debounce_over_an_endless_source_is_paced_not_run_away() -> None:
    flow, seen = spy(rxspike.from_iterable(itertools.count()))
    consumer = Batches(5)
    flow.pipe(ops.debounce(0.02, scheduler=TimeoutScheduler())).subscribe(consumer)
    deadline = time.monotonic() + 5
    while len(consumer.items) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    consumer.cancel()
    # Paced by the segment, the source pauses after a window and debounce fires.
    assert len(consumer.items) >= 2
    assert _pulled(seen) <= (len(consumer.items) + 2) * 2 * DEFAULT_PREFETCH


@pytest.mark.parametrize(
    "make",
    [
        lambda: ops.sample(0.01, scheduler=TimeoutScheduler()),
        lambda: ops.buffer_with_time(0.01, scheduler=TimeoutScheduler()),
        lambda: ops.window_with_time(0.01, scheduler=TimeoutScheduler()),
        lambda: ops.throttle_with_timeout(0.01, scheduler=TimeoutScheduler()),
        lambda: ops.observe_on(TimeoutScheduler()),
    ],
    ids=[
        "sample",
        "buffer_with_time",
        "window_with_time",
        "throttle_with_timeout",
        "observe_on",
    ],
)
def test_operators_that_emit_later_keep_an_endless_source_bounded(make: Any) -> None:
    flow, seen = spy(rxspike.from_iterable(itertools.count()))
    consumer = Batches(4)
    worker = threading.Thread(target=flow.pipe(make()).subscribe, args=(consumer,), daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "subscribe() never returned: the segment ran away"
    deadline = time.monotonic() + 5
    while len(consumer.items) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    consumer.cancel()
    assert len(consumer.items) >= 3, "nothing came out: the segment stalled"
    assert _pulled(seen) <= (len(consumer.items) + 2) * 2 * DEFAULT_PREFETCH


def _endless() -> Iterator[int]:
    yield from itertools.count()


def test_an_endless_synchronous_inner_fails_at_the_bound_and_stops() -> None:
    seen = Spy()
    result: dict[str, Any] = {"items": [], "errors": []}
    subscriber = RequestSubscriber(
        result["items"].append, result["errors"].append, initial_request=1
    )
    flow = rxspike.from_iterable(counting(seen, 5)).pipe(
        ops.flat_map(lambda x: reactivex.from_iterable(_endless()))
    )
    worker = threading.Thread(target=flow.subscribe, args=(subscriber,), daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "the endless inner source was never stopped"
    assert result["items"] == [0]
    [error] = result["errors"]
    assert isinstance(error, MissingBackpressureError)
    assert "flat_map" in str(error)
    assert "rxspike.operators.flat_map" in str(error)
    assert seen.finalized == 1


@pytest.mark.parametrize(
    ("operator", "named"),
    [
        (ops.merge(reactivex.of(1)), "rxspike.operators.merge"),
        (ops.zip(reactivex.of(1)), "zip_with_iterable"),
        (ops.share(), "subscribe each consumer"),
        (ops.subscribe_on(EventLoopScheduler()), "rxspike.operators.observe_on"),
    ],
)
def test_pipe_refuses_operators_that_cannot_keep_demand(operator: Any, named: str) -> None:
    with pytest.raises(UnsupportedOperatorError, match="cannot keep demand") as raised:
        rxspike.range_(3).pipe(ops.map(str), operator)
    assert named in str(raised.value)


def test_an_upstream_error_behind_held_output_is_never_lost(
    undeliverable: list[BaseException],
) -> None:
    def one_then_fail(state: int, sink: rxspike.GenerateSink[int]) -> int:
        if state == 1:
            sink.error(TimeoutError("source gave up"))
        else:
            sink.next(state)
        return state + 1

    # Each item becomes two items, then whatever ``other`` pushes. Downstream asked for one:
    # the second waits, and so does upstream's error behind it.
    def flow(other: Subject[int], prefetch: int) -> rxspike.Flowable[Any]:
        return rxspike.generate(lambda: 0, one_then_fail).pipe(
            fuse(
                ops.flat_map(lambda x: reactivex.concat(reactivex.of(x, x), other)),
                prefetch=prefetch,
            )
        )

    # ``other`` then pushes beyond the bound: the overflow ends the stream, and the
    # upstream error that waited goes to the hook instead of vanishing.
    other: Subject[int] = Subject()
    events: list[Any] = []
    flow(other, 2).subscribe(RequestSubscriber(events.append, events.append, initial_request=1))
    for i in range(3):
        other.on_next(100 + i)
    assert events[0] == 0
    assert [type(e) for e in events[1:]] == [MissingBackpressureError]
    assert [type(e) for e in undeliverable] == [TimeoutError]

    # Within the bound: the held items come first, then the upstream error itself.
    undeliverable.clear()
    events.clear()
    other = Subject()
    consumer = RequestSubscriber(events.append, events.append, initial_request=1)
    flow(other, 4).subscribe(consumer)
    other.on_next(100)
    consumer.request(10)
    assert events[:-1] == [0, 0, 100]
    assert isinstance(events[-1], TimeoutError)
    assert undeliverable == []


@pytest.mark.parametrize("initial", [0, 10])
def test_a_raising_finally_action_goes_to_the_hook_and_the_stream_completes(
    initial: int, undeliverable: list[BaseException]
) -> None:
    events: list[Any] = []
    consumer = RequestSubscriber(
        events.append, events.append, lambda: events.append("done"), initial_request=initial
    )

    def divide_by_zero() -> None:
        1 / 0  # noqa: B018

    rxspike.range_(3).pipe(ops.finally_action(divide_by_zero)).subscribe(consumer)
    consumer.request(10)  # must not raise into the caller
    assert events == [0, 1, 2, "done"]
    assert [type(e) for e in undeliverable] == [ZeroDivisionError]
