"""The emitter's producers are never left waiting on a stream that has ended, and a blocking
emit never blocks an event loop."""

from __future__ import annotations

import asyncio

import pytest

import rxspike
from rxspike.bridges import EmitterClosedError, SubscriberCancelledError
from rxspike.operators import Overflow

from ._flow_support import Recorder

PRODUCERS = 5


async def parked_producers(em: rxspike.Emitter[int]) -> list[asyncio.Task[None]]:
    """A full buffer (capacity 1, nothing requested) and PRODUCERS tasks waiting in emit()."""
    await em.emit(0)
    producers = [asyncio.create_task(em.emit(n)) for n in range(1, PRODUCERS + 1)]
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in producers)
    return producers


async def woken(producers: list[asyncio.Task[None]]) -> list[BaseException | None]:
    """Each producer's exception, once every one has finished (within a second)."""
    async with asyncio.timeout(1):
        await asyncio.wait(producers)
    return [task.exception() for task in producers]


async def test_complete_wakes_every_parked_producer_at_once() -> None:
    em = rxspike.emitter(1, Overflow.ERROR)
    sub = Recorder()  # never requests: without the wake-up the producers wait for good
    em.flowable.subscribe(sub)
    producers = await parked_producers(em)
    em.complete()
    errors = await woken(producers)
    assert all(isinstance(error, EmitterClosedError) for error in errors), errors
    sub.request(10)
    assert sub.events == [0, "done"]  # what was buffered before complete() still arrives


async def test_error_wakes_every_parked_producer_at_once() -> None:
    em = rxspike.emitter(1, Overflow.ERROR)
    sub = Recorder()
    em.flowable.subscribe(sub)
    producers = await parked_producers(em)
    em.error(ConnectionError("upstream gone"))
    errors = await woken(producers)
    assert all(isinstance(error, EmitterClosedError) for error in errors), errors
    assert isinstance(sub.error, ConnectionError)


async def test_cancel_wakes_every_parked_producer_at_once() -> None:
    em = rxspike.emitter(1, Overflow.ERROR)
    sub = Recorder()
    em.flowable.subscribe(sub)
    producers = await parked_producers(em)
    sub.cancel()
    errors = await woken(producers)
    assert all(isinstance(error, SubscriberCancelledError) for error in errors), errors


async def test_complete_wakes_producers_waiting_for_a_subscriber() -> None:
    em = rxspike.emitter(1, Overflow.ERROR)
    producers = [asyncio.create_task(em.emit(n)) for n in range(PRODUCERS)]
    await asyncio.sleep(0.01)
    em.complete()
    errors = await woken(producers)
    assert all(isinstance(error, EmitterClosedError) for error in errors), errors


async def test_emit_blocking_on_the_loop_thread_fails_at_once() -> None:
    em = rxspike.emitter(1, Overflow.ERROR)
    em.flowable.subscribe(Recorder())
    em.try_emit(0)  # full: a blocking emit would wait its whole timeout
    # Blocking would end in TimeoutError after 2 s; failing fast is a RuntimeError.
    with pytest.raises(RuntimeError, match=r"emit_blocking\(\).*event loop.*await emit"):
        em.emit_blocking(1, timeout=2)
    assert em.statistics().received == 1


async def test_emit_blocking_from_a_thread_still_blocks_until_there_is_room() -> None:
    em = rxspike.emitter(1, Overflow.ERROR)
    sub = Recorder()
    em.flowable.subscribe(sub)
    em.try_emit(0)
    blocked = asyncio.create_task(asyncio.to_thread(em.emit_blocking, 1, 5))
    await asyncio.sleep(0.02)
    assert not blocked.done()
    sub.request(2)
    await asyncio.wait_for(blocked, 5)
    assert sub.events == [0, 1]
