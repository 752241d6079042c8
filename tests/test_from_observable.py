"""from_observable: the push-to-pull boundary, hot or cold, always bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import reactivex
import reactivex.operators as ops
from reactivex.subject import Subject

import rxspike
from rxspike import from_observable
from rxspike.operators import (
    BufferOverflowError,
    Overflow,
    batch,
    on_backpressure_latest,
    take,
    throttle,
)

from ._flow_support import Recorder


def test_hot_subject_with_drop_oldest() -> None:
    subject: Subject[int] = Subject()
    flow = from_observable(subject, 3, Overflow.DROP_OLDEST)
    sub = Recorder(initial_request=1)
    flow.subscribe(sub)
    for i in range(10):
        subject.on_next(i)
    subject.on_completed()
    assert sub.events == [0]
    sub.request(10)
    assert sub.events == [0, 7, 8, 9, "done"]
    stats = flow.statistics()
    assert (stats.received, stats.delivered, stats.dropped) == (10, 4, 6)


def test_cold_observable_pushes_everything_at_subscribe() -> None:
    flow = from_observable(reactivex.range(100), 5, Overflow.DROP_INCOMING)
    sub = Recorder()
    flow.subscribe(sub)
    sub.request(100)
    assert sub.events == [0, 1, 2, 3, 4, "done"]


def test_error_strategy_fails_and_disposes_the_source() -> None:
    subject: Subject[int] = Subject()
    sub = Recorder()
    from_observable(subject, 2, Overflow.ERROR).subscribe(sub)
    for i in range(3):
        subject.on_next(i)
    assert isinstance(sub.error, BufferOverflowError)
    assert not subject.observers
    subject.on_next(99)
    assert len(sub.events) == 1


def test_cancel_disposes_the_reactivex_subscription() -> None:
    subject: Subject[int] = Subject()
    sub = Recorder(initial_request=1)
    from_observable(subject, 2, Overflow.ERROR).subscribe(sub)
    assert subject.observers
    sub.cancel()
    assert not subject.observers


def test_observable_error_overtakes_buffered_items() -> None:
    boom = ValueError("boom")
    subject: Subject[int] = Subject()
    sub = Recorder()
    from_observable(subject, 4, Overflow.ERROR).subscribe(sub)
    subject.on_next(1)
    subject.on_error(boom)
    assert sub.events == [("error", boom)]


def test_take_downstream_disposes_the_source() -> None:
    subject: Subject[int] = Subject()
    got: list[int] = []
    from_observable(subject, 4, Overflow.ERROR).pipe(take(2)).subscribe(got.append)
    for i in range(5):
        subject.on_next(i)
    assert got == [0, 1]
    assert not subject.observers


def test_composes_with_reactivex_operators_and_flow_operators() -> None:
    def double(x: int) -> int:
        return x * 2

    def multiple_of_3(x: int) -> bool:
        return x % 3 == 0

    flow = from_observable(reactivex.range(10), 16, Overflow.ERROR).pipe(
        ops.map(double), ops.filter(multiple_of_3), on_backpressure_latest()
    )
    assert flow.collect() == [0, 6, 12, 18]


def test_subscribing_twice_subscribes_the_observable_twice() -> None:
    flow = from_observable(reactivex.of(1, 2), 4, Overflow.ERROR)
    assert flow.collect() == [1, 2]
    assert flow.collect() == [1, 2]


async def test_async_for_over_a_hot_interval_with_a_slow_consumer() -> None:
    source = reactivex.interval(0.001)
    flow = from_observable(source, 8, Overflow.DROP_OLDEST)
    got: list[int] = []

    async def consume() -> None:
        async for tick in flow.iterate(prefetch=1):
            got.append(tick)
            await asyncio.sleep(0.005)
            if len(got) == 5:
                break

    await asyncio.wait_for(consume(), timeout=10)
    assert got == sorted(got)
    stats = flow.statistics()
    assert stats.high_water <= 8
    assert stats.buffered == 0  # the break cancelled: buffer released


async def test_async_for_ends_with_the_observable() -> None:
    # A cold source pushes everything at subscribe: 1 item requested, 2 buffered, rest dropped.
    flow = from_observable(reactivex.range(10), 2, Overflow.DROP_INCOMING)
    got = [x async for x in flow.iterate(prefetch=1)]
    assert got == [0, 1, 2]
    assert flow.statistics().dropped == 7


async def test_async_for_raises_the_overflow_error() -> None:
    subject: Subject[int] = Subject()
    flow = from_observable(subject, 2, Overflow.ERROR)
    iterator = flow.iterate(prefetch=1)

    async def consume() -> list[int]:
        return [x async for x in iterator]

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    for i in range(10):
        subject.on_next(i)
    with pytest.raises(BufferOverflowError):
        await asyncio.wait_for(task, timeout=5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1, 2], 4, Overflow.ERROR), "needs a reactivex Observable"),
        ((reactivex.empty(), 0, Overflow.ERROR), r"from_observable\(capacity\) must be a positive"),
        ((reactivex.empty(), 4, "drop"), r"from_observable\(overflow\) must be one of"),
    ],
)
def test_arguments_are_checked_at_call_time(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        from_observable(*args)


def test_there_is_no_implicit_unbounded_path() -> None:
    with pytest.raises(TypeError):
        from_observable(reactivex.empty())  # type: ignore[call-arg]
    assert rxspike.from_observable is from_observable


# -- async generators (demand-driven sources of the core) composed with the new operators -------


async def test_async_generator_through_batch_and_throttle() -> None:
    finished: list[bool] = []

    async def numbers() -> AsyncIterator[int]:
        try:
            for i in range(100):
                yield i
        finally:
            finished.append(True)

    flow = rxspike.from_async_iterable(numbers()).pipe(batch(10), throttle(1000, 5))
    got: list[list[int]] = []

    async def consume() -> None:
        async for chunk in flow.iterate(prefetch=2):
            got.append(chunk)
            if len(got) == 3:
                break

    await asyncio.wait_for(consume(), timeout=10)
    assert got == [list(range(0, 10)), list(range(10, 20)), list(range(20, 30))]
    for _ in range(10):  # the generator is closed by its own task once cancelled
        if finished:
            break
        await asyncio.sleep(0)
    assert finished == [True]


async def test_async_generator_is_pulled_only_as_far_as_the_bound() -> None:
    pulled: list[int] = []

    async def numbers() -> AsyncIterator[int]:
        for i in range(1000):
            pulled.append(i)
            yield i

    flow = rxspike.from_async_iterable(numbers()).pipe(batch(4))
    iterator = flow.iterate(prefetch=1)
    first = await asyncio.wait_for(iterator.__anext__(), timeout=10)
    for _ in range(20):
        await asyncio.sleep(0)
    assert first == [0, 1, 2, 3]
    # Taken (4) + the iterator's one-batch prefetch (4) + the batcher's window (2 * 4).
    assert len(pulled) <= 4 + 4 + 8
    await iterator.aclose()
