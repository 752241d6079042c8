"""Item types flow through ``Flowable.pipe``: checked by ``mypy --strict`` over tests/ (as
``make test`` runs it), and run by pytest so every pipeline here is also a working one.

``assert_type`` fails the type check when the inferred type differs; at run time it returns
its argument. Each pipeline mixes reactivex operators (``Observable[T] -> Observable[R]``)
with rxspike's flow operators (``Flowable[T] -> Flowable[R]``).
"""

from __future__ import annotations

from typing import assert_type

import reactivex.operators as ops
from reactivex.testing import TestScheduler

import rxspike
from rxspike import Flowable
from rxspike.operators import (
    Overflow,
    batch,
    limit_rate,
    on_backpressure_buffer,
    on_backpressure_latest,
    take,
    throttle,
)


def label(n: int) -> str:
    return f"#{n}"


def even(n: int) -> bool:
    return n % 2 == 0


def size(text: str) -> int:
    return len(text)


def test_reactivex_operators_carry_the_type() -> None:
    flow = rxspike.range_(5).pipe(ops.map(label))
    assert_type(flow, Flowable[str])
    assert flow.collect() == ["#0", "#1", "#2", "#3", "#4"]


def test_flow_operators_keep_the_type() -> None:
    flow = rxspike.range_(10).pipe(
        take(6),
        limit_rate(4),
        on_backpressure_buffer(8, Overflow.ERROR),
        throttle(1e6, 100, scheduler=TestScheduler()),
    )
    assert_type(flow, Flowable[int])
    assert_type(rxspike.range_(3).pipe(on_backpressure_latest()), Flowable[int])


def test_batch_makes_lists_of_the_item_type() -> None:
    flow = rxspike.range_(5).pipe(ops.map(label), batch(2))
    assert_type(flow, Flowable[list[str]])
    assert flow.collect() == [["#0", "#1"], ["#2", "#3"], ["#4"]]


def test_types_flow_through_a_mixed_chain() -> None:
    flow = rxspike.range_(12).pipe(
        ops.filter(even),
        take(8),
        ops.map(label),
        batch(3),
        ops.map(len),
        ops.map(str),
        take(2),
        ops.map(size),
    )
    assert_type(flow, Flowable[int])
    assert flow.collect() == [1, 1]


def test_a_wrong_annotation_is_a_type_error() -> None:
    # The defect: pipe returned Flowable[Any], so this passed mypy --strict. Now mypy
    # reports it (at the operator that cannot produce ints), and the ignore is needed.
    wrong: Flowable[int] = rxspike.range_(3).pipe(ops.map(label))  # type: ignore[arg-type]
    assert [str(item) for item in wrong.collect()] == ["#0", "#1", "#2"]


def test_an_empty_pipe_is_the_flowable_itself() -> None:
    assert_type(rxspike.range_(2).pipe(), Flowable[int])


def test_flow_operators_on_both_sides_of_a_reactivex_operator() -> None:
    assert_type(rxspike.range_(3).pipe(take(2), ops.map(label), take(4)), Flowable[str])
    flow = rxspike.range_(3).pipe(on_backpressure_latest(), ops.map(label), batch(2))
    assert_type(flow, Flowable[list[str]])
    assert flow.collect() == [["#0", "#1"], ["#2"]]
