"""Per-stage statistics while a stream runs: buffered, capacity, requested, delivered,
dropped, high-water mark."""

from __future__ import annotations

import dataclasses

import pytest
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

import rxspike
from rxspike import UNBOUNDED
from rxspike.operators import (
    Overflow,
    StageOperator,
    StageStats,
    batch,
    on_backpressure_buffer,
    throttle,
)

from ._flow_support import Recorder


def test_stats_are_a_frozen_snapshot() -> None:
    stats = StageStats(1, 2, 3, 4, 5, 6, 7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.buffered = 9  # type: ignore[misc]
    assert not hasattr(stats, "__dict__")


def test_before_subscription_everything_is_zero_but_the_capacity() -> None:
    op: StageOperator[int, int] = on_backpressure_buffer(8, max_bytes=100)
    assert op.statistics() == StageStats(0, 8, 0, 0, 0, 0, 0, 0, 100)
    assert rxspike.emitter(3, Overflow.ERROR).statistics().capacity == 3


def test_buffer_stats_follow_the_stream() -> None:
    subject: Subject[int] = Subject()
    op: StageOperator[int, int] = on_backpressure_buffer(4, Overflow.DROP_OLDEST)
    sub = Recorder(initial_request=2)
    rxspike.from_observable(subject, 100, Overflow.ERROR).pipe(op).subscribe(sub)
    for i in range(9):
        subject.on_next(i)
    stats = op.statistics()
    assert stats == StageStats(
        buffered=4, capacity=4, requested=0, delivered=2, dropped=3, high_water=4, received=9
    )
    sub.request(10)
    stats = op.statistics()
    assert (stats.buffered, stats.requested, stats.delivered, stats.high_water) == (0, 6, 6, 4)


def test_unbounded_demand_is_reported_as_unbounded() -> None:
    em = rxspike.emitter(4, Overflow.ERROR)
    em.flowable.subscribe(lambda _: None)
    em.try_emit(1)
    assert em.statistics().requested == UNBOUNDED


def test_byte_bound_is_reported() -> None:
    em = rxspike.emitter(10, Overflow.DROP_INCOMING, max_bytes=10)
    em.flowable.subscribe(Recorder())
    for chunk in (b"abcd", b"efgh", b"ijkl"):
        em.try_emit(chunk)
    stats = em.statistics()
    assert (stats.buffered, stats.buffered_cost, stats.max_cost, stats.dropped) == (2, 8, 10, 1)


def test_throttle_and_batch_report_too() -> None:
    clock = TestScheduler()
    shaper: StageOperator[int, int] = throttle(1, 1, scheduler=clock, prefetch=4)
    rxspike.range_(10).pipe(shaper).subscribe(lambda _: None)
    stats = shaper.statistics()
    assert (stats.capacity, stats.delivered, stats.buffered) == (4, 1, 3)  # asked for 4
    assert stats.received == stats.delivered + stats.buffered

    batcher: StageOperator[int, list[int]] = batch(5)
    sub = Recorder(initial_request=1)
    rxspike.range_(100).pipe(batcher).subscribe(sub)
    stats = batcher.statistics()
    assert (stats.delivered, stats.requested, stats.capacity) == (5, 0, 10)
    assert stats.received == stats.delivered + stats.buffered


def test_stats_of_the_latest_subscription_survive_its_end() -> None:
    op: StageOperator[int, int] = on_backpressure_buffer(4)
    assert rxspike.range_(3).pipe(op).collect() == [0, 1, 2]
    stats = op.statistics()
    assert (stats.received, stats.delivered, stats.buffered) == (3, 3, 0)
