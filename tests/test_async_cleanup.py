"""An async generator's ``finally`` runs to its end, awaits included, whatever ends the stream.

Each case ends a stream early in another way (``take``, a cancel from inside ``on_next``,
``break``, cancelling the consuming task) and checks that the generator's clean-up got past
its awaits (a fake cursor's ``await close()``), that an error it raises reaches the
undeliverable hook, and that a clean-up that never finishes is cut at the clean-up timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import rxspike
from rxspike import RequestSubscriber
from rxspike.core import AsyncCleanupTimeoutError
from rxspike.operators import take


class Cursor:
    """A database cursor stand-in: its ``close()`` awaits, like a real driver's."""

    def __init__(self) -> None:
        self.close_started = False
        self.closed = False

    async def close(self) -> None:
        self.close_started = True
        await asyncio.sleep(0.01)
        await asyncio.sleep(0)
        self.closed = True


async def rows(cursor: Cursor, fail_in_close: bool = False) -> AsyncIterator[int]:
    """Endless rows from ``cursor``, closed in ``finally`` (which may raise after awaiting)."""
    try:
        n = 0
        while True:
            yield n
            n += 1
            await asyncio.sleep(0)
    finally:
        await cursor.close()
        if fail_in_close:
            raise OSError("cursor close failed")


@pytest.fixture
def undeliverable() -> Iterator[list[BaseException]]:
    seen: list[BaseException] = []
    previous = rxspike.set_undeliverable_hook(seen.append)
    yield seen
    rxspike.set_undeliverable_hook(previous)


async def until(predicate: Any, within: float = 2.0) -> None:
    for _ in range(int(within / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    assert predicate(), f"still false after {within} s"


async def test_take_lets_the_finally_finish_its_awaits(
    undeliverable: list[BaseException],
) -> None:
    cursor = Cursor()
    assert await rxspike.from_async_iterable(rows(cursor)).pipe(take(3)).acollect() == [0, 1, 2]
    await until(lambda: cursor.closed)
    assert undeliverable == []


async def test_cancel_from_inside_on_next_lets_the_finally_finish(
    undeliverable: list[BaseException],
) -> None:
    cursor = Cursor()
    seen: list[int] = []
    subscriber: RequestSubscriber[int]

    def on_next(item: int) -> None:
        seen.append(item)
        if item == 2:
            subscriber.cancel()

    subscriber = RequestSubscriber(on_next)
    rxspike.from_async_iterable(rows(cursor)).subscribe(subscriber)
    subscriber.request(10)
    await until(lambda: cursor.closed)
    assert seen == [0, 1, 2]
    assert undeliverable == []


async def test_break_lets_the_finally_finish() -> None:
    cursor = Cursor()
    async for item in rxspike.from_async_iterable(rows(cursor)):
        if item == 3:
            break
    await until(lambda: cursor.closed)


async def test_cancelling_the_consumer_lets_the_finally_finish() -> None:
    cursor = Cursor()
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in rxspike.from_async_iterable(rows(cursor)).iterate(prefetch=4):
            started.set()
            await asyncio.sleep(0)

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: cursor.closed)


async def test_cancel_while_the_generator_waits_lets_the_finally_finish() -> None:
    """The generator is suspended inside its body (waiting for its next item) when the
    subscriber cancels: it is interrupted there, and its ``finally`` still finishes."""
    cursor = Cursor()

    async def one_then_silence() -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.Event().wait()
        finally:
            await cursor.close()

    subscriber: RequestSubscriber[int] = RequestSubscriber(lambda _: None)
    rxspike.from_async_iterable(one_then_silence()).subscribe(subscriber)
    subscriber.request(5)
    await asyncio.sleep(0.01)
    subscriber.cancel()
    await until(lambda: cursor.closed)


@pytest.mark.parametrize("prefetch", [1, 2, 256])
@pytest.mark.parametrize("end", ["take", "break"])
async def test_an_error_raised_by_the_finally_reaches_the_hook(
    prefetch: int, end: str, undeliverable: list[BaseException]
) -> None:
    cursor = Cursor()
    flow = rxspike.from_async_iterable(rows(cursor, fail_in_close=True))
    if end == "take":
        items = [x async for x in flow.pipe(take(3)).iterate(prefetch=prefetch)]
    else:
        items = []
        async for item in flow.iterate(prefetch=prefetch):
            items.append(item)
            if item == 2:
                break
    assert items == [0, 1, 2]
    await until(lambda: bool(undeliverable))
    assert cursor.closed
    [error] = undeliverable
    assert isinstance(error, OSError)
    assert str(error) == "cursor close failed"


async def test_a_finally_that_never_finishes_is_cut_at_the_cleanup_timeout(
    undeliverable: list[BaseException],
) -> None:
    interrupted = asyncio.Event()

    async def stuck() -> AsyncIterator[int]:
        try:
            while True:
                yield 0
                await asyncio.sleep(0)
        finally:
            try:
                await asyncio.Event().wait()  # a close() that hangs
            except asyncio.CancelledError:
                interrupted.set()
                raise

    flow = rxspike.from_async_iterable(stuck(), cleanup_timeout=0.05)
    assert await flow.pipe(take(2)).acollect() == [0, 0]
    async with asyncio.timeout(2):
        await interrupted.wait()
    await until(lambda: bool(undeliverable))
    [error] = undeliverable
    assert isinstance(error, AsyncCleanupTimeoutError)
    assert "0.05" in str(error)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "1", True])
def test_a_bad_cleanup_timeout_is_refused(bad: object) -> None:
    async def nothing() -> AsyncIterator[int]:
        yield 1

    with pytest.raises((TypeError, ValueError), match="cleanup_timeout"):
        rxspike.from_async_iterable(nothing(), cleanup_timeout=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, 1.5, "3", None, True])
async def test_bad_demand_is_an_error_signal_and_the_generator_is_closed(bad: object) -> None:
    cursor = Cursor()
    errors: list[Exception] = []
    subscriber: RequestSubscriber[int] = RequestSubscriber(lambda _: None, errors.append)
    rxspike.from_async_iterable(rows(cursor)).subscribe(subscriber)
    subscriber.request(1)
    await asyncio.sleep(0.01)
    subscriber.request(bad)  # type: ignore[arg-type]
    await until(lambda: bool(errors))
    assert isinstance(errors[0], rxspike.InvalidDemandError)
    assert repr(bad) in str(errors[0])
    await until(lambda: cursor.closed)
