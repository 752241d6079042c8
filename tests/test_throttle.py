"""throttle: rate and burst honoured to the tick, in virtual time."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from reactivex.scheduler import HistoricalScheduler
from reactivex.testing import TestScheduler

import rxspike
from rxspike.bridges import EmitterState
from rxspike.operators import (
    Overflow,
    StageOperator,
    ThrottleExceededError,
    ThrottleMode,
    throttle,
)

from ._flow_support import Recorder, at_time
from ._support import spy


def _timed(scheduler: TestScheduler) -> tuple[list[tuple[Any, float]], Any]:
    times: list[tuple[Any, float]] = []
    return times, lambda x: times.append((x, round(float(scheduler.clock), 6)))


def test_shape_releases_the_burst_then_one_item_per_interval() -> None:
    clock = TestScheduler()
    times, record = _timed(clock)
    done: list[float] = []
    rxspike.range_(8).pipe(throttle(10, 3, scheduler=clock)).subscribe(
        record, None, lambda: done.append(clock.clock)
    )
    clock.advance_to(5.0)
    assert times == [(0, 0), (1, 0), (2, 0), (3, 0.1), (4, 0.2), (5, 0.3), (6, 0.4), (7, 0.5)]
    assert done == [0.5]


def test_shape_with_a_byte_cost() -> None:
    clock = TestScheduler()
    times, record = _timed(clock)
    chunks = [b"x" * 50] * 5
    rxspike.from_iterable(chunks).pipe(throttle(100, 100, cost=len, scheduler=clock)).subscribe(
        lambda c: record(len(c))
    )
    clock.advance_to(10.0)
    assert [t for _, t in times] == [0, 0, 0.5, 1.0, 1.5]


def test_shape_lets_an_item_larger_than_burst_pass_into_debt() -> None:
    clock = TestScheduler()
    times, record = _timed(clock)
    rxspike.just(5, 1).pipe(throttle(1, 2, cost=lambda n: n, scheduler=clock)).subscribe(record)
    clock.advance_to(10.0)
    # 5 goes at once from a full bucket (2 tokens), leaving -3; 1 needs 4 more seconds.
    assert times == [(5, 0), (1, 4.0)]


def test_shape_refills_while_idle_but_never_beyond_burst() -> None:
    clock = TestScheduler()
    times, record = _timed(clock)
    sub = rxspike.RequestSubscriber(record, initial_request=2)
    rxspike.range_(10).pipe(throttle(1, 3, scheduler=clock)).subscribe(sub)
    clock.advance_to(100.0)  # idle for a long time: the bucket holds 3, not 100
    sub.request(10)
    clock.advance_to(200.0)
    assert [t for _, t in times] == [0, 0, 100, 100, 100, 101, 102, 103, 104, 105]


def test_shape_asks_upstream_for_at_most_prefetch_ahead() -> None:
    clock = TestScheduler()
    source, seen = spy(rxspike.range_(1000))
    op: StageOperator[int, int] = throttle(1, 1, scheduler=clock, prefetch=4)
    source.pipe(op).subscribe(lambda _: None)
    clock.advance_to(10.0)
    assert seen.requests[0] == 4
    assert seen.emitted <= 11 + 4
    assert op.statistics().buffered <= 4


def test_shape_cancel_disposes_the_timer_and_stops() -> None:
    clock = TestScheduler()
    got: list[int] = []
    disposable = rxspike.range_(100).pipe(throttle(1, 1, scheduler=clock)).subscribe(got.append)
    clock.advance_to(2.0)
    disposable.dispose()
    clock.advance_to(50.0)
    assert got == [0, 1, 2]


def _emit_at(clock: TestScheduler, emitter: Any, schedule: list[tuple[float, Any]]) -> None:
    for at, item in schedule:
        at_time(clock, at, emitter.try_emit, item)


def test_enforce_drop_drops_what_arrives_without_tokens() -> None:
    clock = TestScheduler()
    dropped: list[str] = []
    emitter = rxspike.emitter(16, Overflow.ERROR)
    times, record = _timed(clock)
    op: StageOperator[str, str] = throttle(
        2, 2, ThrottleMode.ENFORCE_DROP, scheduler=clock, on_dropped=dropped.append
    )
    emitter.flowable.pipe(op).subscribe(record)
    _emit_at(
        clock,
        emitter,
        [(0, "a"), (0, "b"), (0, "c"), (0.5, "d"), (0.6, "e"), (1.0, "f"), (3.0, "g")],
    )
    clock.advance_to(5.0)
    assert times == [("a", 0), ("b", 0), ("d", 0.5), ("f", 1.0), ("g", 3.0)]
    assert dropped == ["c", "e"]
    stats = op.statistics()
    assert (stats.delivered, stats.dropped) == (5, 2)


def test_enforce_fail_fails_at_the_first_nonconforming_item() -> None:
    clock = TestScheduler()
    emitter = rxspike.emitter(16, Overflow.ERROR)
    sub = Recorder(initial_request=100)
    emitter.flowable.pipe(throttle(1, 2, ThrottleMode.ENFORCE_FAIL, scheduler=clock)).subscribe(sub)
    _emit_at(clock, emitter, [(0, 1), (0.5, 2), (1.0, 3), (1.2, 4), (2.0, 5)])
    clock.advance_to(5.0)
    assert sub.items == [1, 2, 3]
    assert isinstance(sub.error, ThrottleExceededError)
    assert len(sub.events) == 4
    assert emitter.state is EmitterState.CANCELLED


def test_enforce_drop_requests_a_replacement_for_each_drop() -> None:
    clock = TestScheduler()
    source, seen = spy(rxspike.range_(10))
    sub = Recorder(initial_request=3)
    source.pipe(throttle(1, 1, ThrottleMode.ENFORCE_DROP, scheduler=clock)).subscribe(sub)
    # Everything arrives at t=0: item 0 conforms, the rest is dropped and replaced by demand.
    assert sub.events == [0, "done"]
    assert seen.requests[:2] == [3, 1]


def test_without_a_scheduler_or_loop_the_stream_fails_clearly() -> None:
    sub = Recorder(initial_request=1)
    rxspike.range_(3).pipe(throttle(1, 1)).subscribe(sub)
    assert isinstance(sub.error, RuntimeError)
    assert "scheduler=" in str(sub.error)


async def test_default_scheduler_is_the_running_loop() -> None:
    flow = rxspike.range_(20).pipe(throttle(10_000, 5))
    assert await asyncio.wait_for(flow.acollect(), timeout=10) == list(range(20))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 0, "burst": 1}, r"throttle\(rate\) must be a positive number, got 0"),
        ({"rate": 1, "burst": -2}, r"throttle\(burst\) must be a positive number, got -2"),
        ({"rate": float("inf"), "burst": 1}, "must be finite"),
        ({"rate": 1, "burst": 1, "mode": "shape"}, "ThrottleMode.SHAPE"),
        ({"rate": 1, "burst": 1, "scheduler": 3}, "reactivex scheduler"),
        ({"rate": 1, "burst": 1, "cost": 3}, r"cost\) must be callable"),
        ({"rate": 1, "burst": 1, "prefetch": 0}, r"prefetch\) must be a positive int"),
        ({"rate": 1, "burst": 1, "on_dropped": print}, "only used with ENFORCE_DROP"),
    ],
)
def test_arguments_are_checked_at_call_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        throttle(**kwargs)


def test_a_scheduler_with_a_datetime_clock_works_too() -> None:
    clock = HistoricalScheduler(initial_clock=datetime(2030, 1, 1))
    seen: list[float] = []
    start = clock.now
    rxspike.range_(4).pipe(throttle(2, 1, scheduler=clock)).subscribe(
        lambda _: seen.append((clock.now - start).total_seconds())
    )
    clock.advance_by(timedelta(seconds=10))
    assert seen == [0, 0.5, 1.0, 1.5]
