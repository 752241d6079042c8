"""The demand-aware flow operators: observe_on, delay, flat_map, concat_map, merge."""

from __future__ import annotations

import asyncio
import itertools
import threading
from typing import Any

import pytest
import reactivex
from reactivex.scheduler import EventLoopScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.testing import TestScheduler

import rxspike
from rxspike import MissingBackpressureError, RequestSubscriber
from rxspike.operators import concat_map, delay, flat_map, merge, observe_on, take

from ._flow_support import Recorder
from ._support import Spy, counting, spy


def test_observe_on_delivers_on_the_scheduler_and_keeps_a_bounded_queue() -> None:
    worker = EventLoopScheduler()
    try:
        flow, seen = spy(rxspike.range_(1_000))
        threads: set[int] = set()
        done = threading.Event()
        items: list[int] = []

        def on_next(item: int) -> None:
            threads.add(threading.get_ident())
            items.append(item)
            # Never more requested upstream than delivered plus the queue's bound.
            assert sum(seen.requests) <= len(items) + 8
            if len(items) % 4 == 0:
                subscriber.request(4)

        subscriber = RequestSubscriber(on_next, on_completed=done.set, initial_request=4)
        flow.pipe(observe_on(worker, prefetch=8)).subscribe(subscriber)
        assert done.wait(10)
        assert items == list(range(1_000))
        assert threads and threading.get_ident() not in threads
        assert seen.requests[0] == 8 and set(seen.requests[1:]) == {6}
    finally:
        worker.dispose()


async def test_observe_on_an_event_loop_lets_other_tasks_run() -> None:
    loop = asyncio.get_running_loop()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    ticking = loop.create_task(ticker())
    seen = Spy()
    flow = rxspike.from_iterable(counting(seen)).pipe(
        observe_on(AsyncIOScheduler(loop), prefetch=16)
    )
    got = []
    async for item in flow.iterate(prefetch=16):
        got.append(item)
        if len(got) == 2_000:
            break
    ticking.cancel()
    assert got == list(range(2_000))
    assert ticks > 10  # the refills are separate loop callbacks
    for _ in range(3):  # the cancel's drain runs on the loop too
        await asyncio.sleep(0)
    assert seen.finalized == 1


def test_delay_asks_upstream_for_exactly_what_was_requested() -> None:
    clock = TestScheduler()
    flow, seen = spy(rxspike.from_iterable(itertools.count()))
    recorder = Recorder(initial_request=2)
    flow.pipe(delay(10.0, clock)).subscribe(recorder)
    assert seen.requests == [2] and seen.emitted == 2
    clock.advance_to(9.0)
    assert recorder.items == []
    clock.advance_to(10.0)
    assert recorder.items == [0, 1]
    recorder.request(1)
    assert seen.requests == [2, 1]
    clock.advance_to(25.0)
    assert recorder.items == [0, 1, 2]
    recorder.cancel()


def test_delay_delays_completion_and_signals_an_error_at_once() -> None:
    clock = TestScheduler()
    recorder = Recorder(initial_request=10)
    rxspike.range_(2).pipe(delay(5.0, clock)).subscribe(recorder)
    assert recorder.events == []
    clock.advance_to(5.0)
    assert recorder.events == [0, 1, "done"]

    failing = Recorder(initial_request=10)
    rxspike.error(TimeoutError("late")).pipe(delay(5.0, clock)).subscribe(failing)
    assert isinstance(failing.error, TimeoutError)


def test_flat_map_asks_an_endless_inner_only_for_what_is_taken() -> None:
    inner_seen = Spy()
    recorder = Recorder(initial_request=1)
    rxspike.range_(5).pipe(
        flat_map(lambda _: rxspike.from_iterable(counting(inner_seen)), prefetch=4)
    ).subscribe(recorder)
    assert recorder.items == [0]
    recorder.request(3)
    assert recorder.items == [0, 1, 2, 3]
    recorder.cancel()
    assert inner_seen.finalized >= 1


def test_flat_map_runs_at_most_max_concurrency_inners() -> None:
    active = 0
    most = 0
    lock = threading.Lock()

    def inner(x: int) -> rxspike.Flowable[int]:
        def track(state: int, sink: rxspike.GenerateSink[int]) -> int:
            nonlocal active, most
            if state == 0:
                with lock:
                    active += 1
                    most = max(most, active)
            if state == 3:
                with lock:
                    active -= 1
                sink.complete()
            else:
                sink.next(x * 10 + state)
            return state + 1

        return rxspike.generate(lambda: 0, track)

    recorder = Recorder(initial_request=1)
    rxspike.range_(10).pipe(flat_map(inner, max_concurrency=2, prefetch=1)).subscribe(recorder)
    assert most == 2 and active == 2  # the first inner waits for demand; the second started
    recorder.request(100)
    assert sorted(recorder.items) == sorted(x * 10 + s for x in range(10) for s in range(3))
    assert recorder.events[-1] == "done"
    assert most == 2


def test_concat_map_keeps_order_and_normalises_inner_sources() -> None:
    sources: list[Any] = [[1, 2], reactivex.of(3, 4), rxspike.just(5)]

    def inner(index: int) -> Any:
        return sources[index]

    items = rxspike.range_(3).pipe(concat_map(inner, prefetch=1)).collect()
    assert items == [1, 2, 3, 4, 5]


def test_a_pushing_observable_inner_that_outruns_its_prefetch_fails_clearly() -> None:
    recorder = Recorder(initial_request=1)
    rxspike.just(1).pipe(
        flat_map(lambda _: reactivex.from_iterable(itertools.count()), prefetch=8)
    ).subscribe(recorder)
    assert recorder.items == [0]
    error = recorder.error
    assert isinstance(error, MissingBackpressureError)
    assert "rxspike.from_observable" in str(error)


def test_flat_map_fails_on_a_raising_or_wrong_fn() -> None:
    def explode(x: int) -> list[int]:
        raise ArithmeticError(f"no {x}")

    failing = Recorder(initial_request=5)
    rxspike.range_(3).pipe(flat_map(explode)).subscribe(failing)
    assert isinstance(failing.error, ArithmeticError)

    wrong = Recorder(initial_request=5)
    rxspike.range_(3).pipe(flat_map(lambda x: x)).subscribe(wrong)
    assert isinstance(wrong.error, TypeError)
    assert "fn(item) must be a Flowable" in str(wrong.error)


def test_merge_interleaves_every_source_and_ends_with_the_last() -> None:
    flow = rxspike.range_(3).pipe(merge([10, 11], reactivex.of(20), prefetch=1))
    assert sorted(flow.collect()) == [0, 1, 2, 10, 11, 20]
    endless = rxspike.from_iterable(itertools.count()).pipe(merge([10], prefetch=2), take(50))
    items = endless.collect()
    assert len(items) == 50 and 10 in items


def test_merge_fails_with_the_first_error() -> None:
    recorder = Recorder(initial_request=100)
    rxspike.range_(3).pipe(merge(rxspike.error(KeyError("gone")))).subscribe(recorder)
    assert isinstance(recorder.error, KeyError)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (
            lambda: observe_on(EventLoopScheduler(), prefetch=0),
            ValueError,
            r"observe_on\(prefetch\)",
        ),
        (
            lambda: observe_on("loop"),  # type: ignore[arg-type]
            TypeError,
            "must be a reactivex scheduler",
        ),
        (lambda: delay(-1), ValueError, r"delay\(duration\) must be a positive number"),
        (
            lambda: flat_map(3),  # type: ignore[arg-type]
            TypeError,
            r"flat_map\(fn\) must be callable",
        ),
        (lambda: flat_map(str, max_concurrency=0), ValueError, "max_concurrency"),
        (
            lambda: concat_map(str, prefetch=1.5),  # type: ignore[arg-type]
            ValueError,
            r"concat_map\(prefetch\)",
        ),
        (lambda: merge(42), TypeError, r"merge\(others\[0\]\) must be a Flowable"),
    ],
)
def test_bad_arguments_are_named(make: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make()
