"""The demand rules of the core (Reactive Streams 1.0.4) on rxspike's sources and segments."""

from __future__ import annotations

import gc
import sys
import threading
import weakref
from typing import Any

import pytest
import reactivex.operators as ops

import rxspike
from rxspike import UNBOUNDED, InvalidDemandError, RequestSubscriber
from rxspike.operators import fuse

from ._support import Overlap, Spy, counting, spy

SOURCES = {
    "from_iterable": lambda n: rxspike.from_iterable(list(range(n))),
    "range_": rxspike.range_,
    "generate": lambda n: rxspike.generate(lambda: 0, _count_to(n)),
    "fused segment": lambda n: rxspike.range_(n).pipe(ops.map(lambda x: x)),
    "limit_rate": lambda n: rxspike.range_(n).pipe(rxspike.operators.limit_rate(8)),
}


def _count_to(n: int) -> Any:
    def step(state: int, sink: rxspike.GenerateSink[int]) -> int:
        if state == n:
            sink.complete()
        else:
            sink.next(state)
        return state + 1

    return step


@pytest.fixture
def undeliverable() -> Any:
    seen: list[BaseException] = []
    previous = rxspike.set_undeliverable_hook(seen.append)
    yield seen
    rxspike.set_undeliverable_hook(previous)


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
def test_emits_no_more_than_requested_and_demand_is_additive(make: Any) -> None:
    seen: list[int] = []
    subscriber = RequestSubscriber(seen.append)
    make(100).subscribe(subscriber)
    assert seen == []
    subscriber.request(3)
    assert seen == [0, 1, 2]
    subscriber.request(2)
    subscriber.request(2)
    assert seen == list(range(7))


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
def test_request_from_inside_on_next_is_trampolined(make: Any) -> None:
    """request(1) per item over 1,000,000 items: the stack must not grow (rule 3.3)."""
    depths: list[int] = []
    count = 0

    def on_next(_: int) -> None:
        nonlocal count
        count += 1
        if count % 100_000 == 1:
            depths.append(len(_stack()))
        subscriber.request(1)

    subscriber = RequestSubscriber(on_next, initial_request=1)
    make(1_000_000).subscribe(subscriber)
    assert count == 1_000_000
    assert max(depths) - min(depths) == 0


def _stack() -> list[Any]:
    frames = []
    frame = sys._getframe()
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back  # type: ignore[assignment]
    return frames


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
@pytest.mark.parametrize("bad", [0, -1, -(2**70)])
def test_non_positive_request_fails_the_stream_naming_the_value(make: Any, bad: int) -> None:
    errors: list[Exception] = []
    seen: list[int] = []
    subscriber = RequestSubscriber(seen.append, errors.append)
    make(10).subscribe(subscriber)
    subscriber.request(2)
    subscriber.request(bad)
    subscriber.request(5)  # after the error: a no-op
    assert seen == [0, 1]
    assert len(errors) == 1
    assert isinstance(errors[0], InvalidDemandError)
    assert isinstance(errors[0], ValueError)
    assert repr(bad) in str(errors[0])
    assert "3.9" in str(errors[0])


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
def test_demand_saturates_at_unbounded_without_error(make: Any) -> None:
    seen: list[int] = []
    errors: list[Exception] = []
    done: list[bool] = []
    subscriber = RequestSubscriber(seen.append, errors.append, lambda: done.append(True))
    make(5).subscribe(subscriber)
    subscriber.request(UNBOUNDED)
    subscriber.request(UNBOUNDED)
    subscriber.request(2**80)
    assert seen == [0, 1, 2, 3, 4]
    assert errors == []
    assert done == [True]


def test_cancel_is_idempotent_runs_the_finalizer_once_and_drops_the_subscriber() -> None:
    seen = Spy()
    items: list[int] = []
    subscriber = RequestSubscriber(items.append)
    rxspike.from_iterable(counting(seen)).subscribe(subscriber)
    subscriber.request(3)
    subscription = subscriber._subscription
    assert subscription is not None
    subscription.cancel()
    subscription.cancel()
    subscription.request(10)  # after cancel: a no-op (rule 3.6)
    assert items == [0, 1, 2]
    assert seen.finalized == 1
    reference = weakref.ref(subscriber)
    del subscriber
    gc.collect()
    assert reference() is None, "the cancelled subscription still holds its subscriber"


@pytest.mark.parametrize(
    "make",
    [
        rxspike.from_iterable,
        lambda it: rxspike.from_iterable(it).pipe(ops.map(lambda x: x)),
        lambda it: rxspike.from_iterable(it).pipe(ops.filter(bool), rxspike.operators.take(3)),
    ],
    ids=["source", "segment", "segment+take"],
)
def test_cancel_from_inside_on_next_stops_and_finalizes(make: Any) -> None:
    seen = Spy()
    items: list[int] = []

    def on_next(item: int) -> None:
        items.append(item)
        if len(items) == 2:
            disposable.dispose()

    disposable = make(counting(seen)).subscribe(on_next)
    assert items[:2] == [0, 1] or items[:2] == [1, 2]
    assert len(items) == 2
    assert seen.finalized == 1


def test_signals_stay_serial_when_request_and_cancel_come_from_other_threads() -> None:
    overlap = Overlap()
    received = 0

    def on_next(_: int) -> None:
        nonlocal received
        with overlap.signal():
            received += 1

    subscriber = RequestSubscriber(on_next)

    def plus_one(x: int) -> int:
        return x + 1

    rxspike.range_(1_000_000).pipe(ops.map(plus_one)).subscribe(subscriber)
    start = threading.Barrier(4)

    def hammer() -> None:
        start.wait()
        for _ in range(2_000):
            subscriber.request(50)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert received == 400_000
    assert overlap.overlaps == 0
    canceller = threading.Thread(target=subscriber.cancel)
    canceller.start()
    canceller.join(timeout=10)
    subscriber.request(10)
    assert received == 400_000


def test_errors_nobody_can_receive_go_to_the_hook(undeliverable: list[BaseException]) -> None:
    boom = RuntimeError("on_next failed")

    def on_next(_: int) -> None:
        raise boom

    flow, seen = spy(rxspike.range_(10))
    flow.subscribe(on_next)
    assert undeliverable == [boom]
    assert seen.cancels in {0, 1}

    # An error with no on_error callback is not raised into the producer either.
    rxspike.error(ValueError("nobody listens")).subscribe(lambda _: None)
    assert isinstance(undeliverable[-1], ValueError)


def test_hook_defaults_to_logging(caplog: pytest.LogCaptureFixture) -> None:
    rxspike.error(ValueError("logged")).subscribe(lambda _: None)
    assert any("logged" in record.getMessage() for record in caplog.records)
    assert all(record.name == "rxspike" for record in caplog.records)


def test_a_second_on_subscribe_is_cancelled_and_reported(
    undeliverable: list[BaseException],
) -> None:
    flow, first = spy(rxspike.range_(3))
    other, second = spy(rxspike.range_(3))
    subscriber = RequestSubscriber[int]()
    flow.subscribe(subscriber)
    other.subscribe(subscriber)
    assert second.cancels == 1
    assert first.cancels == 0
    assert isinstance(undeliverable[0], rxspike.ProtocolViolationError)
    assert "2.5" in str(undeliverable[0])


def test_fused_segment_requests_prefetch_then_replenishes_three_quarters() -> None:
    flow, seen = spy(rxspike.range_(1_000))
    subscriber = RequestSubscriber[int]()
    flow.pipe(fuse(ops.map(lambda x: x), prefetch=16)).subscribe(subscriber)
    assert seen.requests == [16]
    subscriber.request(11)
    assert seen.requests == [16]
    subscriber.request(1)  # 12 consumed = 75 % of 16
    assert seen.requests == [16, 12]
    subscriber.request(100)
    assert all(n == 12 for n in seen.requests[1:])
    assert seen.emitted - 112 <= 16, "the segment ran more than its prefetch ahead"


def test_unbounded_downstream_passes_unbounded_demand_through_a_segment() -> None:
    flow, seen = spy(rxspike.range_(10))
    assert flow.pipe(ops.map(str)).collect() == [str(i) for i in range(10)]
    assert seen.requests == [UNBOUNDED]
