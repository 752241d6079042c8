"""on_backpressure_buffer / latest / reduce: what each strategy drops, and when ERROR fires."""

from __future__ import annotations

import gc
import operator
import threading
import weakref
from typing import Any

import pytest

import rxspike
from rxspike import InvalidDemandError, RequestSubscriber
from rxspike.operators import (
    BufferOverflowError,
    Overflow,
    StageOperator,
    on_backpressure_buffer,
    on_backpressure_latest,
    on_backpressure_reduce,
    take,
)

from ._flow_support import Recorder
from ._support import spy


def test_drop_oldest_keeps_the_newest_items() -> None:
    dropped: list[int] = []
    sub = Recorder()
    rxspike.range_(10).pipe(
        on_backpressure_buffer(3, Overflow.DROP_OLDEST, dropped.append)
    ).subscribe(sub)
    assert dropped == [0, 1, 2, 3, 4, 5, 6]
    sub.request(10)
    assert sub.events == [7, 8, 9, "done"]


def test_drop_incoming_keeps_the_first_items() -> None:
    dropped: list[int] = []
    sub = Recorder()
    rxspike.range_(10).pipe(
        on_backpressure_buffer(3, Overflow.DROP_INCOMING, dropped.append)
    ).subscribe(sub)
    assert dropped == [3, 4, 5, 6, 7, 8, 9]
    sub.request(10)
    assert sub.events == [0, 1, 2, "done"]


def test_error_fires_at_once_ahead_of_buffered_items() -> None:
    dropped: list[int] = []
    source, seen = spy(rxspike.range_(100))
    sub = Recorder(initial_request=1)
    op: StageOperator[int, int] = on_backpressure_buffer(3, Overflow.ERROR, dropped.append)
    source.pipe(op).subscribe(sub)
    # 0 was delivered; 1, 2, 3 filled the buffer; 4 overflowed: error at once, no more items.
    assert sub.events[0] == 0
    assert sub.events[1][0] == "error"
    assert isinstance(sub.events[1][1], BufferOverflowError)
    assert len(sub.events) == 2
    assert dropped == [1, 2, 3, 4]
    assert seen.cancels == 1
    sub.request(5)
    assert len(sub.events) == 2
    stats = op.statistics()
    assert (stats.received, stats.delivered, stats.dropped, stats.buffered) == (5, 1, 4, 0)


def test_default_strategy_is_error() -> None:
    sub = Recorder()
    rxspike.range_(10).pipe(on_backpressure_buffer(2)).subscribe(sub)
    assert len(sub.events) == 1
    assert isinstance(sub.events[0][1], BufferOverflowError)
    assert "buffer full (2 items)" in str(sub.events[0][1])


def test_completion_waits_for_buffered_items() -> None:
    sub = Recorder()
    rxspike.range_(3).pipe(on_backpressure_buffer(5)).subscribe(sub)
    assert sub.events == []
    sub.request(2)
    assert sub.events == [0, 1]
    sub.request(1)
    assert sub.events == [0, 1, 2, "done"]


def test_upstream_error_overtakes_buffered_items() -> None:
    boom = ValueError("boom")
    dropped: list[int] = []
    sub = Recorder()
    source = rxspike.from_iterable(_fail_after(3, boom))
    source.pipe(on_backpressure_buffer(5, on_dropped=dropped.append)).subscribe(sub)
    assert sub.events == [("error", boom)]
    assert dropped == [0, 1, 2]


def _fail_after(n: int, error: Exception) -> Any:
    yield from range(n)
    raise error


def test_unbounded_downstream_passes_everything() -> None:
    assert rxspike.range_(1000).pipe(on_backpressure_buffer(1)).collect() == list(range(1000))


def test_max_bytes_bounds_the_summed_cost() -> None:
    sub = Recorder()
    op: StageOperator[bytes, bytes] = on_backpressure_buffer(
        100, Overflow.DROP_OLDEST, max_bytes=10
    )
    rxspike.just(b"aaaa", b"bbbb", b"cccc", b"dd").pipe(op).subscribe(sub)
    stats = op.statistics()
    assert stats.buffered_cost <= 10
    sub.request(10)
    assert sub.events == [b"bbbb", b"cccc", b"dd", "done"]


def test_item_larger_than_max_bytes_is_dropped_without_evicting() -> None:
    dropped: list[bytes] = []
    sub = Recorder()
    op: StageOperator[bytes, bytes] = on_backpressure_buffer(
        10, Overflow.DROP_OLDEST, dropped.append, max_bytes=4
    )
    rxspike.just(b"ab", b"toolarge", b"cd").pipe(op).subscribe(sub)
    assert dropped == [b"toolarge"]
    sub.request(5)
    assert sub.events == [b"ab", b"cd", "done"]


def test_item_larger_than_max_bytes_passes_when_asked_for() -> None:
    sub = Recorder(initial_request=5)
    op: StageOperator[bytes, bytes] = on_backpressure_buffer(10, Overflow.ERROR, max_bytes=4)
    rxspike.just(b"ab", b"toolarge").pipe(op).subscribe(sub)
    assert sub.events == [b"ab", b"toolarge", "done"]


def test_item_larger_than_max_bytes_overflows_under_error() -> None:
    sub = Recorder()
    op: StageOperator[bytes, bytes] = on_backpressure_buffer(10, Overflow.ERROR, max_bytes=4)
    rxspike.just(b"ab", b"toolarge").pipe(op).subscribe(sub)
    assert isinstance(sub.error, BufferOverflowError)


def test_on_dropped_failure_fails_the_stream() -> None:
    def refuse(_: Any) -> None:
        raise RuntimeError("no")

    sub = Recorder()
    rxspike.range_(5).pipe(on_backpressure_buffer(1, Overflow.DROP_INCOMING, refuse)).subscribe(sub)
    assert len(sub.events) == 1
    assert isinstance(sub.events[0][1], RuntimeError)


def test_cancel_discards_the_buffer_and_counts_it() -> None:
    dropped: list[int] = []
    source, seen = spy(rxspike.from_iterable(_forever()))
    op: StageOperator[int, int] = on_backpressure_buffer(4, Overflow.DROP_OLDEST, dropped.append)
    sub = Recorder(initial_request=1)
    # An infinite synchronous source would never return; take() ends it upstream.
    source.pipe(take(10), op).subscribe(sub)
    sub.cancel()
    stats = op.statistics()
    assert stats.buffered == 0
    assert stats.received == stats.delivered + stats.dropped
    assert seen.cancels >= 1


def _forever() -> Any:
    n = 0
    while True:
        yield n
        n += 1


def test_request_zero_is_an_invalid_demand_error() -> None:
    sub = Recorder()
    rxspike.range_(3).pipe(on_backpressure_buffer(4)).subscribe(sub)
    sub.request(0)
    assert isinstance(sub.events[-1][1], InvalidDemandError)


def test_cancel_drops_the_subscriber() -> None:
    sub = Recorder(initial_request=1)
    ref = weakref.ref(sub)
    emitter = rxspike.emitter(4, Overflow.DROP_OLDEST)
    emitter.flowable.pipe(on_backpressure_buffer(2)).subscribe(sub)
    emitter.try_emit(1)
    sub.cancel()
    del sub
    gc.collect()
    assert ref() is None


def test_latest_keeps_only_the_newest() -> None:
    dropped: list[int] = []
    sub = Recorder(initial_request=1)
    rxspike.range_(6).pipe(on_backpressure_latest(dropped.append)).subscribe(sub)
    assert dropped == [1, 2, 3, 4]
    sub.request(5)
    assert sub.events == [0, 5, "done"]


def test_reduce_conflates_waiting_items() -> None:
    sub = Recorder(initial_request=1)
    op: StageOperator[int, int] = on_backpressure_reduce(operator.add)
    rxspike.range_(1, 6).pipe(op).subscribe(sub)
    stats = op.statistics()
    assert (stats.received, stats.delivered, stats.dropped, stats.buffered) == (5, 1, 3, 1)
    sub.request(1)
    assert sub.events == [1, 2 + 3 + 4 + 5, "done"]


def test_reducer_failure_fails_the_stream() -> None:
    def bad(a: int, b: int) -> int:
        raise ZeroDivisionError

    sub = Recorder(initial_request=1)
    rxspike.range_(5).pipe(on_backpressure_reduce(bad)).subscribe(sub)
    assert sub.events[0] == 0
    assert isinstance(sub.events[1][1], ZeroDivisionError)
    assert len(sub.events) == 2


def _wrong(value: Any) -> Any:
    """A value of the wrong type, passed on purpose."""
    return value


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: on_backpressure_buffer(0), r"capacity\) must be a positive int, got 0"),
        (lambda: on_backpressure_buffer(True), "got True"),
        (lambda: on_backpressure_buffer(3, _wrong("drop")), "Overflow.ERROR, Overflow.DROP_OLDEST"),
        (lambda: on_backpressure_buffer(3, on_dropped=_wrong(5)), r"on_dropped\) must be callable"),
        (lambda: on_backpressure_buffer(3, max_bytes=-1), r"max_bytes\) must be a positive"),
        (lambda: on_backpressure_reduce(_wrong(None)), r"reducer\) must be callable, got None"),
        (lambda: on_backpressure_latest(_wrong(1)), r"on_dropped\) must be callable"),
    ],
)
def test_arguments_are_checked_at_call_time(call: Any, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_signals_stay_serial_with_requests_from_another_thread() -> None:
    emitter = rxspike.emitter(64, Overflow.DROP_OLDEST)
    inside = threading.Lock()
    overlaps: list[int] = []
    got: list[int] = []

    def on_next(x: int) -> None:
        if not inside.acquire(blocking=False):
            overlaps.append(x)
            return
        got.append(x)
        inside.release()

    sub = RequestSubscriber(on_next)
    emitter.flowable.pipe(on_backpressure_buffer(16, Overflow.DROP_OLDEST)).subscribe(sub)

    def requester() -> None:
        for _ in range(2000):
            sub.request(1)

    thread = threading.Thread(target=requester)
    thread.start()
    for i in range(5000):
        emitter.try_emit(i)
    thread.join(timeout=30)
    assert not overlaps
    assert got == sorted(got)
    assert len(got) <= 2000
