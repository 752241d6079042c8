"""Fused push segments and the native flow operators ``take`` and ``limit_rate``."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
import reactivex
import reactivex.operators as ops
from reactivex.scheduler import CurrentThreadScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler

import rxspike
from rxspike import UNBOUNDED, MissingBackpressureError, RequestSubscriber
from rxspike.operators import fuse, limit_rate, take

from ._support import Spy, counting, spy


def _bounded(flow: rxspike.Flowable[Any], batch: int = 3) -> dict[str, Any]:
    """Consume with a demand of ``batch`` at a time, as a slow sink does."""
    result: dict[str, Any] = {"items": [], "errors": [], "completed": False}

    def on_next(item: Any) -> None:
        result["items"].append(item)
        if len(result["items"]) % batch == 0:
            subscriber.request(batch)

    subscriber = RequestSubscriber(
        on_next,
        result["errors"].append,
        lambda: result.__setitem__("completed", True),
        initial_request=batch,
    )
    flow.subscribe(subscriber)
    return result


def _add(acc: int, x: int) -> int:
    return acc + x


def _mirror(x: int) -> reactivex.Observable[int]:
    return reactivex.of(x, -x)


PIPELINES: dict[str, tuple[Any, ...]] = {
    "map-filter-map": (
        ops.map(lambda x: x + 1),
        ops.filter(lambda x: x % 3 != 0),
        ops.map(lambda x: x * 2),
    ),
    "scan": (ops.scan(_add, 0),),
    "distinct-until-changed": (ops.map(lambda x: x // 4), ops.distinct_until_changed()),
    "buffer-with-count": (ops.buffer_with_count(4),),
    "flat-map-small": (ops.flat_map(_mirror),),
    "take-inside": (ops.take(7),),
    "reduce": (ops.reduce(_add, 0),),
}


@pytest.mark.parametrize("operators", PIPELINES.values(), ids=PIPELINES.keys())
def test_segment_matches_plain_reactivex_with_any_demand(operators: Any) -> None:
    expected: list[Any] = []
    reactivex.from_iterable(range(50)).pipe(*operators).subscribe(expected.append)
    assert rxspike.range_(50).pipe(*operators).collect() == expected
    for prefetch in (1, 2, 16):
        result = _bounded(rxspike.range_(50).pipe(fuse(*operators, prefetch=prefetch)))
        assert result["items"] == expected
        assert result["completed"]
        assert result["errors"] == []


@pytest.mark.parametrize("demand", ["unbounded", "bounded"])
def test_a_completing_operator_inside_a_segment_cancels_upstream(demand: str) -> None:
    seen = Spy()
    flow = rxspike.from_iterable(counting(seen)).pipe(ops.take(5))
    items = flow.collect() if demand == "unbounded" else _bounded(flow)["items"]
    assert items == [0, 1, 2, 3, 4]
    assert seen.finalized == 1


def test_a_segment_that_multiplies_items_beyond_its_bound_fails_clearly() -> None:
    seen = Spy()
    flow = rxspike.from_iterable(counting(seen)).pipe(
        fuse(ops.flat_map(lambda x: reactivex.from_iterable(range(100))), prefetch=16)
    )
    result: dict[str, Any] = {"items": [], "errors": []}
    subscriber = RequestSubscriber(
        result["items"].append, result["errors"].append, initial_request=5
    )
    flow.subscribe(subscriber)  # asks for 5, gets 5, then 16 more are held: the 17th fails
    assert len(result["errors"]) == 1
    error = result["errors"][0]
    assert isinstance(error, MissingBackpressureError)
    assert "flat_map" in str(error)
    assert "on_backpressure_buffer" in str(error)
    assert result["items"] == [0, 1, 2, 3, 4]
    assert seen.finalized == 1, "upstream was not cancelled after the overflow"


def test_an_operator_error_fails_the_stream_and_cancels_upstream() -> None:
    seen = Spy()

    def explode(x: int) -> int:
        if x == 3:
            raise ArithmeticError("bad item")
        return x

    for consume in (_bounded, None):
        flow = rxspike.from_iterable(counting(seen)).pipe(ops.map(explode))
        if consume is None:
            errors: list[Exception] = []
            items: list[int] = []
            flow.subscribe(items.append, errors.append)
        else:
            result = consume(flow)
            items, errors = result["items"], result["errors"]
        assert items == [0, 1, 2]
        assert [type(e) for e in errors] == [ArithmeticError]
    assert seen.finalized == 2


def test_reactivex_operators_applied_directly_see_an_observable() -> None:
    flow = rxspike.range_(5)
    out: list[int] = []
    ops.map(lambda x: x * 10)(flow).subscribe(out.append)  # type: ignore[operator]
    reactivex.merge(flow, reactivex.of(99)).subscribe(out.append)
    assert out == [0, 10, 20, 30, 40, 0, 1, 2, 3, 4, 99]


async def test_time_based_operators_work_inside_a_bounded_segment() -> None:
    scheduler = AsyncIOScheduler(asyncio.get_running_loop())
    flow: rxspike.Flowable[str] = rxspike.range_(20).pipe(
        ops.delay(0.001, scheduler=scheduler), ops.map(str)
    )
    items = [item async for item in flow.iterate(prefetch=4)]
    assert items == [str(i) for i in range(20)]


def test_take_never_asks_for_more_than_it_will_take() -> None:
    flow, seen = spy(rxspike.range_(1_000))
    assert flow.pipe(take(5)).collect() == [0, 1, 2, 3, 4]
    assert sum(seen.requests) == 5
    assert seen.cancels == 1

    flow, seen = spy(rxspike.range_(1_000))
    result = _bounded(flow.pipe(take(7)), batch=3)
    assert result["items"] == list(range(7))
    assert result["completed"]
    assert sum(seen.requests) == 7


def test_take_zero_completes_without_subscribing_demand() -> None:
    seen = Spy()
    assert rxspike.from_iterable(counting(seen)).pipe(take(0)).collect() == []


def test_limit_rate_caps_every_request_upstream() -> None:
    flow, seen = spy(rxspike.range_(100))
    assert flow.pipe(limit_rate(10, 4)).collect() == list(range(100))
    assert seen.requests[0] == 10
    assert set(seen.requests[1:]) == {4}
    assert UNBOUNDED not in seen.requests


def test_limit_rate_default_low_tide_is_three_quarters() -> None:
    flow, seen = spy(rxspike.range_(100))
    flow.pipe(limit_rate(8)).collect()
    assert seen.requests[:2] == [8, 6]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: take(-1), r"take\(count\) needs an int >= 0, got -1"),
        (
            lambda: take(2.5),  # type: ignore[arg-type]
            r"take\(count\) needs an int >= 0, got 2.5",
        ),
        (lambda: limit_rate(0), r"limit_rate\(high\) must be a positive int, got 0"),
        (lambda: limit_rate(4, 5), r"limit_rate\(low\) must be an int in 1..4 \(high\), got 5"),
        (lambda: fuse(ops.map(str), prefetch=0), "prefetch must be a positive int, got 0"),
    ],
)
def test_bad_operator_arguments_are_named(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_a_segment_inside_a_reactivex_trampoline_does_not_run_away() -> None:
    """Inside reactivex's trampoline, inner sources are deferred; the segment must wait for
    them instead of feeding an infinite upstream forever."""
    items: list[int] = []

    def inside(_: Any, __: Any = None) -> None:
        subscriber = RequestSubscriber(items.append, initial_request=10)
        rxspike.from_iterable(itertools.count()).pipe(
            fuse(ops.flat_map(_mirror), prefetch=8)
        ).subscribe(subscriber)

    CurrentThreadScheduler.singleton().schedule(inside)
    assert items == [0, 0, 1, -1, 2, -2, 3, -3, 4, -4]


def test_an_upstream_error_comes_after_the_items_queued_before_it() -> None:
    def two_then_fail(state: int, sink: rxspike.GenerateSink[int]) -> int:
        if state == 2:
            sink.error(TimeoutError("source gave up"))
        else:
            sink.next(state)
        return state + 1

    def tenfold(x: int) -> int:
        return x * 10

    flow = rxspike.generate(lambda: 0, two_then_fail).pipe(ops.map(tenfold))
    result = _bounded(flow, batch=1)
    assert result["items"] == [0, 10]
    assert [type(e) for e in result["errors"]] == [TimeoutError]
