"""Robust signals at every boundary of the stage kit: bad demand, raising clean-up, finite
sources that know they are done, bad callback results, retention, raising on_subscribe."""

from __future__ import annotations

import gc
import math
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import reactivex
import reactivex.operators as ops
from reactivex.testing import TestScheduler

import rxspike
from rxspike import Flowable, InvalidDemandError, Subscriber, Subscription
from rxspike.core.errors import InvalidCallbackResultError
from rxspike.operators import (
    Overflow,
    StageOperator,
    ThrottleMode,
    batch,
    on_backpressure_buffer,
    on_backpressure_latest,
    take,
    throttle,
)
from rxspike.testing import capture_undeliverable


class Recorder:
    """A plain Reactive Streams subscriber that records what it got and asks when told."""

    def __init__(self, initial: Any = None) -> None:
        self.initial = initial
        self.subscription: Subscription | None = None
        self.subscriptions = 0
        self.values: list[Any] = []
        self.errors: list[Exception] = []
        self.completions = 0

    def on_subscribe(self, subscription: Subscription) -> None:
        self.subscriptions += 1
        self.subscription = subscription
        if self.initial is not None:
            subscription.request(self.initial)

    def on_next(self, value: Any) -> None:
        self.values.append(value)

    def on_error(self, error: Exception) -> None:
        self.errors.append(error)

    def on_completed(self) -> None:
        self.completions += 1

    def request(self, n: Any) -> None:
        assert self.subscription is not None
        self.subscription.request(n)

    def cancel(self) -> None:
        assert self.subscription is not None
        self.subscription.cancel()


def _clock() -> TestScheduler:
    return TestScheduler()


#: Every boundary the stage kit stands under, each a fresh Flowable of 0..4 (or so).
BOUNDARIES: dict[str, Callable[[], Flowable[Any]]] = {
    "range_": lambda: rxspike.range_(5),
    "just": lambda: rxspike.just(0, 1, 2, 3, 4),
    "from_iterable(generator)": lambda: rxspike.from_iterable(x for x in range(5)),
    "on_backpressure_buffer": lambda: rxspike.range_(5).pipe(on_backpressure_buffer(8)),
    "on_backpressure_latest": lambda: rxspike.range_(5).pipe(on_backpressure_latest()),
    "batch": lambda: rxspike.range_(5).pipe(batch(2)),
    "throttle(SHAPE)": lambda: rxspike.range_(5).pipe(throttle(1e6, 1e6, scheduler=_clock())),
    "throttle(ENFORCE_DROP)": lambda: rxspike.range_(5).pipe(
        throttle(1e6, 1e6, ThrottleMode.ENFORCE_DROP, scheduler=_clock())
    ),
    "take": lambda: rxspike.range_(5).pipe(take(3)),
    "from_observable": lambda: rxspike.from_observable(reactivex.of(0, 1, 2), 8, Overflow.ERROR),
}


# -- non-int demand -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [1.5, 2.0, "3", None, True], ids=repr)
@pytest.mark.parametrize("name", BOUNDARIES)
def test_demand_that_is_not_a_positive_int_is_an_error_naming_it(name: str, bad: Any) -> None:
    subscriber = Recorder()
    BOUNDARIES[name]().subscribe(subscriber)
    subscriber.request(bad)  # returns normally (rule 3.16), whatever it was given
    assert subscriber.values == []  # 1.5 is not "unbounded", True is not 1
    assert len(subscriber.errors) == 1, subscriber.errors
    error = subscriber.errors[0]
    assert isinstance(error, InvalidDemandError)
    assert repr(bad) in str(error) and "positive int" in str(error)


def test_a_segment_answers_non_int_demand_too() -> None:
    subscriber = Recorder()
    rxspike.range_(5).pipe(ops.map(str)).subscribe(subscriber)
    subscriber.request("3")
    assert subscriber.values == [] and isinstance(subscriber.errors[0], InvalidDemandError)


# -- finite sources complete with exactly the demand they need ------------------------------


def _generator(n: int) -> Iterator[int]:
    yield from range(n)


@pytest.mark.parametrize(
    "make",
    [
        lambda: rxspike.range_(5),
        lambda: rxspike.just(0, 1, 2, 3, 4),
        lambda: rxspike.from_iterable([0, 1, 2, 3, 4]),
        lambda: rxspike.from_iterable(range(5)),
        lambda: rxspike.from_iterable(iter(range(5))),
        lambda: rxspike.from_iterable(_generator(5)),
        lambda: rxspike.from_iterable(map(int, "01234")),
    ],
    ids=["range_", "just", "list", "range", "iterator", "generator", "map"],
)
@pytest.mark.parametrize("steps", [(5,), (2, 3), (1, 1, 1, 1, 1)], ids=str)
def test_finite_source_completes_after_exactly_its_items(
    make: Callable[[], Flowable[int]], steps: tuple[int, ...]
) -> None:
    subscriber = Recorder()
    make().subscribe(subscriber)
    for n in steps:
        subscriber.request(n)
    assert subscriber.values == [0, 1, 2, 3, 4]
    assert subscriber.completions == 1 and subscriber.errors == []


def test_look_ahead_keeps_the_item_it_read_for_the_next_request() -> None:
    produced: list[int] = []

    def numbers() -> Iterator[int]:
        for i in range(10):
            produced.append(i)
            yield i

    subscriber = Recorder()
    rxspike.from_iterable(numbers()).subscribe(subscriber)
    subscriber.request(2)
    assert subscriber.values == [0, 1] and produced == [0, 1, 2]  # one read ahead
    subscriber.request(2)
    assert subscriber.values == [0, 1, 2, 3] and subscriber.completions == 0


def test_take_makes_a_generator_produce_nothing_that_is_thrown_away() -> None:
    produced: list[int] = []

    def numbers() -> Iterator[int]:
        for i in range(10):
            produced.append(i)
            yield i

    assert rxspike.from_iterable(numbers()).pipe(take(3)).collect() == [0, 1, 2]
    assert produced == [0, 1, 2]


# -- clean-up that raises -------------------------------------------------------------------


class _CancelRaises:
    """An upstream whose cancel() raises (it breaks rule 3.15); emits on request."""

    def __init__(self, subscriber: Subscriber[Any]) -> None:
        self.subscriber = subscriber
        self.sent = 0

    def request(self, n: int) -> None:
        for _ in range(min(n, 100)):
            self.sent += 1
            self.subscriber.on_next(self.sent)

    def cancel(self) -> None:
        raise RuntimeError("cancel failed")


def _cancel_raises() -> Flowable[Any]:
    return Flowable(lambda subscriber: subscriber.on_subscribe(_CancelRaises(subscriber)))


@pytest.mark.parametrize(
    "operator",
    [
        lambda: batch(2, max_bytes=10, cost=lambda x: -1),
        lambda: throttle(1e6, 1e6, cost=lambda x: -1, scheduler=_clock()),
    ],
    ids=["batch", "throttle"],
)
def test_failing_stage_whose_upstream_cancel_raises_still_signals_its_error(
    operator: Callable[[], Any],
) -> None:
    subscriber = Recorder()
    with capture_undeliverable() as hook:
        _cancel_raises().pipe(operator()).subscribe(subscriber)
        subscriber.request(1)  # returns normally
    assert len(subscriber.errors) == 1
    assert isinstance(subscriber.errors[0], InvalidCallbackResultError)
    assert [str(e) for e in hook.errors] == ["cancel failed"]


@pytest.mark.parametrize(
    "operator",
    [lambda: batch(2), lambda: throttle(1e6, 1e6, scheduler=_clock())],
    ids=["batch", "throttle"],
)
def test_cancel_returns_normally_when_upstream_cancel_raises(operator: Callable[[], Any]) -> None:
    subscriber = Recorder(initial=1)
    with capture_undeliverable() as hook:
        _cancel_raises().pipe(operator()).subscribe(subscriber)
        subscriber.cancel()
    assert [str(e) for e in hook.errors] == ["cancel failed"]


def test_a_generator_whose_finally_raises_on_cancel_reports_it() -> None:
    def numbers() -> Iterator[int]:
        try:
            yield from range(10)
        finally:
            raise RuntimeError("finally failed")

    subscriber = Recorder(initial=2)
    with capture_undeliverable() as hook:
        rxspike.from_iterable(numbers()).subscribe(subscriber)
        subscriber.cancel()
    assert subscriber.values == [0, 1]
    assert [str(e) for e in hook.errors] == ["finally failed"]


# -- callback results and arguments out of range ------------------------------------------------


@pytest.mark.parametrize("cost", [None, "3", -1, math.inf, math.nan], ids=repr)
@pytest.mark.parametrize(
    "mode", [ThrottleMode.SHAPE, ThrottleMode.ENFORCE_DROP, ThrottleMode.ENFORCE_FAIL]
)
def test_throttle_cost_out_of_range_is_an_error_naming_it(cost: Any, mode: ThrottleMode) -> None:
    subscriber = Recorder()
    operator: StageOperator[int, int] = throttle(
        10, 10, mode, cost=lambda _: cost, scheduler=_clock()
    )
    rxspike.range_(5).pipe(operator).subscribe(subscriber)
    subscriber.request(5)  # never a TypeError out of request()
    assert subscriber.values == []
    assert len(subscriber.errors) == 1
    error = subscriber.errors[0]
    assert isinstance(error, InvalidCallbackResultError)
    assert repr(cost) in str(error) and ">= 0" in str(error)


@pytest.mark.parametrize("cost", [None, "3", -1, 1.5], ids=repr)
def test_batch_cost_out_of_range_is_an_error_naming_it(cost: Any) -> None:
    subscriber = Recorder()
    rxspike.range_(5).pipe(batch(max_bytes=10, cost=lambda _: cost)).subscribe(subscriber)
    subscriber.request(5)
    assert subscriber.values == []
    assert len(subscriber.errors) == 1
    assert isinstance(subscriber.errors[0], InvalidCallbackResultError)
    assert repr(cost) in str(subscriber.errors[0])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: throttle(1e-300, 1), r"throttle\(rate\) must refill the burst of 1 within"),
        (lambda: throttle(1, 1e300), r"throttle\(rate\) must refill the burst"),
        (lambda: throttle(math.inf, 1), r"throttle\(rate\) must be finite"),
        (lambda: throttle(1, math.nan), r"throttle\(burst\) must be a positive number"),
        (lambda: batch(max_time=math.inf), r"batch\(max_time\) must be finite"),
        (lambda: batch(max_time=1e300), r"batch\(max_time\) must be at most 1e\+09 seconds"),
    ],
)
def test_rates_and_times_out_of_range_fail_at_construction(
    make: Callable[[], Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_a_cost_too_large_for_the_rate_is_an_error_not_an_overflow() -> None:
    subscriber = Recorder()
    operator: StageOperator[int, int] = throttle(1, 1, cost=lambda _: 1e300, scheduler=_clock())
    rxspike.range_(3).pipe(operator).subscribe(subscriber)
    subscriber.request(3)  # no OverflowError out of request()
    assert subscriber.values == [0]  # the first goes into debt, the second would wait for ever
    assert isinstance(subscriber.errors[0], InvalidCallbackResultError)
    assert "would have to wait" in str(subscriber.errors[0])


# -- retention ------------------------------------------------------------------------------------


def _failing_cost(_: Any) -> int:
    raise RuntimeError("cost failed")


RETAINING: dict[str, Callable[[], Any]] = {
    "batch": lambda: batch(max_bytes=10, cost=_failing_cost),
    "throttle(SHAPE)": lambda: throttle(10, 10, cost=_failing_cost, scheduler=_clock()),
    "throttle(ENFORCE_DROP)": lambda: throttle(
        10, 10, ThrottleMode.ENFORCE_DROP, cost=_failing_cost, scheduler=_clock()
    ),
    "on_backpressure_buffer": lambda: on_backpressure_buffer(4, max_bytes=10, cost=_failing_cost),
}


@pytest.mark.parametrize("name", RETAINING)
def test_a_failed_stage_keeps_no_subscriber_alive(name: str) -> None:
    operator = RETAINING[name]()  # the operator object lives on, as in a module-level pipeline
    subscriber = Recorder()
    rxspike.range_(100).pipe(operator).subscribe(subscriber)
    subscriber.request(5)
    assert len(subscriber.errors) == 1
    alive = weakref.ref(subscriber)
    del subscriber
    gc.collect()
    assert alive() is None, f"{name} keeps its failed subscriber alive"
    assert operator.statistics().delivered == 0


@pytest.mark.parametrize("name", ["batch", "throttle(SHAPE)", "on_backpressure_buffer"])
def test_a_completed_stage_keeps_no_subscriber_alive(name: str) -> None:
    makers: dict[str, Callable[[], StageOperator[Any, Any]]] = {
        "batch": lambda: batch(2),
        "throttle(SHAPE)": lambda: throttle(1e6, 1e6, scheduler=_clock()),
        "on_backpressure_buffer": lambda: on_backpressure_buffer(8),
    }
    operator = makers[name]()
    subscriber = Recorder(initial=100)
    rxspike.range_(5).pipe(operator).subscribe(subscriber)
    assert subscriber.completions == 1
    alive = weakref.ref(subscriber)
    del subscriber
    gc.collect()
    assert alive() is None


# -- an on_subscribe that raises ------------------------------------------------------------------


class RaisingOnSubscribe:
    """Raises from on_subscribe after recording the subscription it got."""

    def __init__(self) -> None:
        self.subscriptions: list[Subscription] = []
        self.errors: list[Exception] = []
        self.values: list[Any] = []

    def on_subscribe(self, subscription: Subscription) -> None:
        self.subscriptions.append(subscription)
        raise RuntimeError("on_subscribe failed")

    def on_next(self, value: Any) -> None:
        self.values.append(value)

    def on_error(self, error: Exception) -> None:
        self.errors.append(error)

    def on_completed(self) -> None:
        pass


@pytest.mark.parametrize("name", BOUNDARIES)
def test_a_raising_on_subscribe_gets_one_subscription_cancelled(name: str) -> None:
    subscriber = RaisingOnSubscribe()
    with capture_undeliverable() as hook:
        BOUNDARIES[name]().subscribe(subscriber)
        assert len(subscriber.subscriptions) == 1, "on_subscribe was called again (rule 2.13)"
        subscriber.subscriptions[0].request(10)  # cancelled: nothing flows
    assert subscriber.values == [] and subscriber.errors == []
    assert [str(e) for e in hook.errors] == ["on_subscribe failed"]
