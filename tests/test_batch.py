"""batch: chunks by count, bytes and time, driven by demand."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import reactivex.operators as ops
from reactivex.testing import TestScheduler

import rxspike
from rxspike.operators import Overflow, StageOperator, batch

from ._flow_support import Recorder, at_time
from ._support import spy


def test_by_count_with_a_short_last_batch() -> None:
    assert rxspike.range_(10).pipe(batch(4)).collect() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def _str(n: int) -> str:
    return str(n)


def test_completes_after_the_last_batch_behind_a_segment_with_unbounded_demand() -> None:
    # The last partial batch went out inside the drain that saw upstream done; the drain
    # then returned without completing (the stream hung after its last batch).
    signals: list[object] = []
    rxspike.range_(5).pipe(ops.map(_str), batch(2)).subscribe(
        on_next=signals.append, on_completed=lambda: signals.append("completed")
    )
    assert signals == [["0", "1"], ["2", "3"], ["4"], "completed"]


def test_empty_source_emits_no_batch() -> None:
    assert rxspike.empty().pipe(batch(4)).collect() == []


def test_by_bytes_never_exceeds_the_limit_unless_one_item_does() -> None:
    items = [b"a" * n for n in (3, 3, 3, 9, 1, 1, 12, 2)]
    batches = rxspike.from_iterable(items).pipe(batch(max_bytes=8)).collect()
    assert [sum(map(len, b)) for b in batches] == [6, 3, 9, 2, 12, 2]
    assert [x for b in batches for x in b] == items


def test_by_count_and_bytes_whichever_comes_first() -> None:
    items = [b"xx"] * 7
    assert [len(b) for b in rxspike.from_iterable(items).pipe(batch(3, max_bytes=4)).collect()] == [
        2,
        2,
        2,
        1,
    ]


def test_demand_counts_batches_and_upstream_stays_bounded() -> None:
    source, seen = spy(rxspike.range_(1000))
    op: StageOperator[int, list[int]] = batch(10)
    sub = Recorder(initial_request=1)
    source.pipe(op).subscribe(sub)
    assert sub.events == [list(range(10))]
    # Never more than the window (2 * max_items) held or asked for beyond what went out.
    assert seen.emitted - 10 <= 20
    assert op.statistics().buffered <= 20
    sub.request(2)
    assert len(sub.events) == 3
    assert seen.emitted - 30 <= 20
    assert op.statistics().high_water <= 20


def test_by_time_closes_a_partial_batch() -> None:
    clock = TestScheduler()
    emitter = rxspike.emitter(100, Overflow.ERROR)
    got: list[tuple[float, list[int]]] = []
    emitter.flowable.pipe(batch(100, max_time=1.0, scheduler=clock)).subscribe(
        lambda b: got.append((float(clock.clock), b))
    )
    for at, item in [(0.0, 1), (0.5, 2), (2.0, 3), (2.2, 4), (2.9, 5)]:
        at_time(clock, at, emitter.try_emit, item)
    at_time(clock, 4.0, emitter.complete)
    clock.advance_to(10.0)
    assert got == [(1.0, [1, 2]), (3.0, [3, 4, 5])]


def test_time_closed_batch_waits_for_demand() -> None:
    clock = TestScheduler()
    emitter = rxspike.emitter(100, Overflow.ERROR)
    sub = Recorder()
    emitter.flowable.pipe(batch(100, max_time=1.0, scheduler=clock)).subscribe(sub)
    at_time(clock, 0.0, emitter.try_emit, 1)
    clock.advance_to(5.0)
    assert sub.events == []
    sub.request(1)
    assert sub.events == [[1]]


def test_upstream_error_is_signalled_at_once() -> None:
    boom = ValueError("boom")
    sub = Recorder(initial_request=5)

    def failing() -> Any:
        yield 1
        yield 2
        raise boom

    op: StageOperator[int, list[int]] = batch(10)
    rxspike.from_iterable(failing()).pipe(op).subscribe(sub)
    assert sub.events == [("error", boom)]
    stats = op.statistics()
    assert stats.received == stats.dropped == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "at least one of max_items, max_bytes, max_time"),
        ({"max_items": 0}, r"batch\(max_items\) must be a positive int, got 0"),
        ({"max_bytes": 1.5}, r"batch\(max_bytes\) must be a positive int"),
        ({"max_time": -1}, r"batch\(max_time\) must be a positive number"),
        ({"max_items": 10, "window": 5}, r"window\) must be >= max_items \(10\), got 5"),
        ({"max_items": 1, "cost": None}, r"batch\(cost\) must be callable"),
        ({"max_items": 1, "scheduler": "loop"}, "reactivex scheduler"),
    ],
)
def test_arguments_are_checked_at_call_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        batch(**kwargs)


def test_cancel_from_on_next_behind_a_fused_segment_ends_promptly() -> None:
    # Regression: a segment cancelled from inside on_next while feeding its operators spun
    # in its drain loop forever. Run in a thread so a regression fails instead of hanging.
    got: list[list[bytes]] = []

    class CancelAtFive:
        def on_subscribe(self, subscription: rxspike.Subscription) -> None:
            self.subscription = subscription
            subscription.request(rxspike.UNBOUNDED)

        def on_next(self, chunk: list[bytes]) -> None:
            got.append(chunk)
            if len(got) == 5:
                self.subscription.cancel()

        def on_error(self, error: Exception) -> None:
            raise AssertionError(error)

        def on_completed(self) -> None:
            raise AssertionError("cancelled streams do not complete")

    def run() -> None:
        flow = rxspike.range_(1000).pipe(ops.map(lambda _: b"abcd"), batch(max_bytes=4))
        flow.subscribe(CancelAtFive())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert len(got) == 5
