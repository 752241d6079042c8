"""The emitter: immediate answers, waiting emits, threads, and the end of the stream."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref

import pytest

import rxspike
from rxspike.bridges import (
    EmitterClosedError,
    EmitterState,
    SubscriberCancelledError,
    WouldBlock,
)
from rxspike.operators import BufferOverflowError, EmitResult, Overflow

from ._flow_support import Recorder


def test_try_emit_answers_for_every_state() -> None:
    em = rxspike.emitter(2, Overflow.DROP_INCOMING)
    states = [em.state]
    assert em.try_emit(0) is EmitResult.NO_SUBSCRIBER
    sub = Recorder(initial_request=1)
    em.flowable.subscribe(sub)
    states.append(em.state)
    assert [em.try_emit(i) for i in range(1, 5)] == [
        EmitResult.OK,  # delivered at once
        EmitResult.OK,
        EmitResult.OK,
        EmitResult.DROPPED,  # buffer (2) full
    ]
    sub.cancel()
    assert em.try_emit(5) is EmitResult.CANCELLED
    states.append(em.state)
    assert states == [EmitterState.WAITING, EmitterState.ACTIVE, EmitterState.CANCELLED]


def test_overflow_under_error_fails_the_stream_at_once() -> None:
    em = rxspike.emitter(2, Overflow.ERROR)
    sub = Recorder()
    em.flowable.subscribe(sub)
    assert em.try_emit(1) is EmitResult.OK
    assert em.try_emit(2) is EmitResult.OK
    assert em.try_emit(3) is EmitResult.OVERFLOW
    assert isinstance(sub.error, BufferOverflowError)
    assert em.try_emit(4) is EmitResult.TERMINATED
    assert em.state is EmitterState.TERMINATED
    sub.request(10)
    assert len(sub.events) == 1  # nothing after the error


def test_drop_oldest_answers_ok_and_reports_the_evicted_item() -> None:
    dropped: list[int] = []
    em = rxspike.emitter(2, Overflow.DROP_OLDEST, on_dropped=dropped.append)
    sub = Recorder()
    em.flowable.subscribe(sub)
    assert [em.try_emit(i) for i in range(4)] == [EmitResult.OK] * 4
    assert dropped == [0, 1]
    em.complete()
    sub.request(5)
    assert sub.events == [2, 3, "done"]


def test_complete_before_subscribe_completes_the_subscriber() -> None:
    em = rxspike.emitter(2, Overflow.ERROR)
    em.complete()
    em.complete()  # idempotent
    assert em.try_emit(1) is EmitResult.TERMINATED
    sub = Recorder()
    em.flowable.subscribe(sub)
    assert sub.events == ["done"]


def test_error_overtakes_buffered_items_and_late_errors_are_reported() -> None:
    seen: list[BaseException] = []
    previous = rxspike.set_undeliverable_hook(seen.append)
    try:
        em = rxspike.emitter(4, Overflow.ERROR)
        sub = Recorder()
        em.flowable.subscribe(sub)
        em.try_emit(1)
        boom = ValueError("boom")
        em.error(boom)
        assert sub.events == [("error", boom)]
        late = RuntimeError("late")
        em.error(late)
        assert seen == [late]
    finally:
        rxspike.set_undeliverable_hook(previous)


def test_second_subscriber_is_refused() -> None:
    em = rxspike.emitter(2, Overflow.ERROR)
    em.flowable.subscribe(Recorder())
    second = Recorder()
    em.flowable.subscribe(second)
    assert isinstance(second.error, rxspike.ProtocolViolationError)


def test_emit_nowait_raises_instead_of_dropping() -> None:
    em = rxspike.emitter(1, Overflow.DROP_INCOMING)
    with pytest.raises(WouldBlock, match="no subscriber"):
        em.emit_nowait(0)
    sub = Recorder()
    em.flowable.subscribe(sub)
    em.emit_nowait(1)
    with pytest.raises(WouldBlock, match="no room"):
        em.emit_nowait(2)
    assert em.statistics().dropped == 0
    sub.cancel()
    with pytest.raises(SubscriberCancelledError):
        em.emit_nowait(3)


def test_emit_nowait_after_complete_raises_closed() -> None:
    em = rxspike.emitter(1, Overflow.ERROR)
    em.flowable.subscribe(Recorder())
    em.complete()
    with pytest.raises(EmitterClosedError):
        em.emit_nowait(1)


def test_oversize_item_waits_to_go_straight_through() -> None:
    em = rxspike.emitter(4, Overflow.ERROR, max_bytes=4)
    sub = Recorder()
    em.flowable.subscribe(sub)
    with pytest.raises(WouldBlock):
        em.emit_nowait(b"too long")  # nobody asks: it could only be buffered
    sub.request(1)
    em.emit_nowait(b"too long")
    assert sub.events == [b"too long"]


async def test_await_emit_is_lossless_with_a_slow_consumer() -> None:
    em = rxspike.emitter(3, Overflow.ERROR)

    async def produce() -> None:
        for i in range(200):
            await em.emit(i)
        em.complete()

    async def consume() -> list[int]:
        out = []
        async for x in em.flowable.iterate(prefetch=1):
            out.append(x)
            if x % 7 == 0:
                await asyncio.sleep(0)
        return out

    _, got = await asyncio.wait_for(asyncio.gather(produce(), consume()), timeout=10)
    assert got == list(range(200))
    stats = em.statistics()
    assert stats.dropped == 0
    assert stats.high_water <= 3


async def test_await_emit_waits_for_the_subscriber() -> None:
    em = rxspike.emitter(2, Overflow.ERROR)
    producer = asyncio.create_task(em.emit("first"))
    await asyncio.sleep(0)
    assert not producer.done()
    sub = Recorder(initial_request=5)
    em.flowable.subscribe(sub)
    await asyncio.wait_for(producer, timeout=5)
    assert sub.events == ["first"]


async def test_cancel_wakes_a_waiting_producer() -> None:
    em = rxspike.emitter(1, Overflow.ERROR)
    sub = Recorder()
    em.flowable.subscribe(sub)
    await em.emit(1)
    producer = asyncio.create_task(em.emit(2))
    await asyncio.sleep(0)
    sub.cancel()
    with pytest.raises(SubscriberCancelledError):
        await asyncio.wait_for(producer, timeout=5)


async def test_cancelling_a_waiting_emit_leaves_nothing_behind() -> None:
    em = rxspike.emitter(1, Overflow.ERROR)
    sub = Recorder()
    em.flowable.subscribe(sub)
    await em.emit(1)
    producer = asyncio.create_task(em.emit(2))
    await asyncio.sleep(0)
    producer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await producer
    sub.request(5)
    assert sub.events == [1]  # the cancelled emit did not emit
    assert em.try_emit(3) is EmitResult.OK
    assert sub.events == [1, 3]


async def test_task_cancellation_cancels_the_subscription() -> None:
    em = rxspike.emitter(4, Overflow.DROP_OLDEST)
    got: list[int] = []

    async def consume() -> None:
        async for x in em.flowable:
            got.append(x)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    em.try_emit(1)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert got == [1]
    assert em.try_emit(2) is EmitResult.CANCELLED


async def test_a_cancelled_subscription_ends_async_for_cleanly() -> None:
    em = rxspike.emitter(4, Overflow.DROP_OLDEST)
    iterator = em.flowable.iterate(prefetch=2)
    em_items: list[int] = []

    async def consume() -> None:
        async for x in iterator:
            em_items.append(x)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    em.try_emit(1)
    await asyncio.sleep(0)
    iterator.cancel()  # e.g. a disconnect watcher
    await asyncio.wait_for(task, timeout=5)  # no exception: the loop just ends
    assert em_items == [1]


async def test_producer_threads_emit_safely_into_async_for() -> None:
    em = rxspike.emitter(8, Overflow.ERROR)
    threads_count, per_thread = 4, 500

    def producer(base: int) -> None:
        for i in range(per_thread):
            em.emit_blocking(base + i, timeout=30)

    async def consume() -> list[int]:
        return [x async for x in em.flowable.iterate(prefetch=4)]

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    threads = [
        threading.Thread(target=producer, args=(n * per_thread,)) for n in range(threads_count)
    ]
    for t in threads:
        t.start()

    def join_all() -> None:
        for t in threads:
            t.join(30)

    await asyncio.wait_for(asyncio.to_thread(join_all), 60)
    em.complete()
    got = await asyncio.wait_for(consumer, timeout=30)
    assert sorted(got) == list(range(threads_count * per_thread))
    for n in range(threads_count):  # each producer's items keep their order
        mine = [x for x in got if n * per_thread <= x < (n + 1) * per_thread]
        assert mine == sorted(mine)
    assert em.statistics().high_water <= 8


def test_emit_blocking_times_out_without_emitting() -> None:
    em = rxspike.emitter(1, Overflow.ERROR)
    sub = Recorder()
    em.flowable.subscribe(sub)
    em.emit_blocking(1)
    with pytest.raises(TimeoutError):
        em.emit_blocking(2, timeout=0.01)
    assert em.statistics().received == 1


def test_cancel_releases_the_subscriber() -> None:
    em = rxspike.emitter(4, Overflow.DROP_OLDEST)
    sub = Recorder(initial_request=1)
    ref = weakref.ref(sub)
    em.flowable.subscribe(sub)
    em.try_emit(1)
    em.try_emit(2)
    sub.cancel()
    del sub
    gc.collect()
    assert ref() is None
    assert em.statistics().buffered == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, Overflow.ERROR), r"emitter\(capacity\) must be a positive int, got 0"),
        ((4, "error"), r"emitter\(overflow\) must be one of Overflow.ERROR"),
        ((4, None), "got None"),
    ],
)
def test_arguments_are_checked_at_call_time(args: tuple[object, ...], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        rxspike.emitter(*args)  # type: ignore[arg-type]


def test_error_needs_an_exception() -> None:
    with pytest.raises(TypeError, match="needs an Exception"):
        rxspike.emitter(1, Overflow.ERROR).error("boom")  # type: ignore[arg-type]
