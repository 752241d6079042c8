"""asyncio at both ends: async iterables as sources, ``async for`` as the consumer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
import reactivex.operators as ops

import rxspike
from rxspike import Flowable, MissingBackpressureError, RequestSubscriber, Subscriber
from rxspike.operators import take


class Tape:
    """An async generator factory that records what was pulled and whether it was closed."""

    def __init__(self, count: int | None = None, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.pulled = 0
        self.closed = False

    async def items(self) -> AsyncIterator[int]:
        try:
            n = 0
            while self.count is None or n < self.count:
                if n == self.fail_at:
                    raise ConnectionResetError(f"failed at {n}")
                self.pulled += 1
                yield n
                n += 1
                await asyncio.sleep(0)
        finally:
            self.closed = True


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _double(x: int) -> int:
    return x * 2


def _triple(x: int) -> int:
    return x * 3


def _non_negative(x: int) -> bool:
    return x >= 0


async def test_from_async_iterable_pulls_only_what_was_requested() -> None:
    tape = Tape()
    seen: list[int] = []
    subscriber = RequestSubscriber(seen.append)
    rxspike.from_async_iterable(tape.items()).subscribe(subscriber)
    await _settle()
    assert tape.pulled == 0
    subscriber.request(3)
    await _settle()
    assert seen == [0, 1, 2]
    assert tape.pulled == 3
    subscriber.request(2)
    await _settle()
    assert seen == [0, 1, 2, 3, 4]
    assert tape.pulled == 5
    subscriber.cancel()
    await _settle()
    assert tape.closed


async def test_from_async_iterable_completes_and_fails() -> None:
    assert await rxspike.from_async_iterable(Tape(4).items()).acollect() == [0, 1, 2, 3]
    tape = Tape(fail_at=2)
    with pytest.raises(ConnectionResetError, match="failed at 2"):
        await rxspike.from_async_iterable(tape.items()).acollect()
    assert tape.closed


def test_from_async_iterable_outside_a_loop_fails_clearly() -> None:
    errors: list[Exception] = []
    rxspike.from_async_iterable(Tape(1).items()).subscribe(lambda _: None, errors.append)
    assert isinstance(errors[0], RuntimeError)
    assert "event loop" in str(errors[0])


@pytest.mark.parametrize("with_operators", [False, True])
async def test_breaking_out_of_async_for_cancels_and_runs_finally(with_operators: bool) -> None:
    tape = Tape()
    flow = rxspike.from_async_iterable(tape.items())
    if with_operators:
        flow = flow.pipe(ops.map(_double), ops.filter(_non_negative))
    async for item in flow.iterate(prefetch=8):
        if item >= 6:
            break
    await _settle()
    assert tape.closed
    pulled = tape.pulled
    await _settle()
    assert tape.pulled == pulled, "the source kept running after the loop was left"


async def test_cancelling_the_consuming_task_cancels_upstream() -> None:
    tape = Tape()
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in rxspike.from_async_iterable(tape.items()).pipe(ops.map(str)):
            started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _settle()
    assert tape.closed


async def test_async_for_raises_the_stream_error_after_the_items_before_it() -> None:
    seen: list[int] = []
    with pytest.raises(ConnectionResetError):
        async for item in rxspike.from_async_iterable(Tape(fail_at=3).items()):
            seen.append(item)
    assert seen == [0, 1, 2]


async def test_async_for_keeps_at_most_prefetch_requested_ahead() -> None:
    tape = Tape()
    iterator = rxspike.from_async_iterable(tape.items()).iterate(prefetch=4)
    assert await iterator.__anext__() == 0
    await _settle()
    assert tape.pulled == 4
    await iterator.aclose()
    await _settle()
    assert tape.closed


async def test_items_from_another_thread_reach_the_loop() -> None:
    def subscribe(subscriber: Subscriber[int]) -> None:
        class FromThread:
            def request(self, n: int) -> None:
                def emit() -> None:
                    for i in range(n):
                        subscriber.on_next(i)
                    subscriber.on_completed()

                threading.Thread(target=emit).start()

            def cancel(self) -> None:
                pass

        subscriber.on_subscribe(FromThread())

    items = await asyncio.wait_for(Flowable(subscribe).iterate(prefetch=64).__anext__(), 10)
    assert items == 0
    collected = await asyncio.wait_for(Flowable(subscribe).pipe(take(5)).acollect(), 10)
    assert collected == [0, 1, 2, 3, 4]


async def test_async_for_turns_an_overflowing_upstream_into_an_error() -> None:
    def subscribe(subscriber: Subscriber[int]) -> None:
        class Flood:
            def request(self, n: int) -> None:
                for i in range(n + 5):  # ignores demand (rule 1.1)
                    subscriber.on_next(i)

            def cancel(self) -> None:
                pass

        subscriber.on_subscribe(Flood())

    with pytest.raises(MissingBackpressureError, match="more than the 4 items"):
        async for _ in Flowable(subscribe).iterate(prefetch=4):
            pass


async def test_acollect_gathers_everything_in_order() -> None:
    flow: Flowable[Any] = rxspike.range_(1000).pipe(ops.map(_triple))
    assert await flow.acollect() == [x * 3 for x in range(1000)]


def test_iterate_rejects_a_bad_prefetch() -> None:
    with pytest.raises(ValueError, match="prefetch must be a positive int, got 0"):
        rxspike.range_(3).iterate(prefetch=0)
