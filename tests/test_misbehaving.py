"""A publisher that breaks the rules meets rxspike's boundaries: a clear error, never growth
or a hang.

Each boundary (a fused segment in bounded mode, ``limit_rate``, ``take``, ``async for``)
faces each :class:`Misbehaviour` of :class:`MisbehavingPublisher`:

- more items than requested: the boundary fails the stream with ``MissingBackpressureError``
  and cancels the publisher;
- signals after ``on_completed``: the stream ends once, normally; the late signals are
  reported to the undeliverable hook as ``ProtocolViolationError`` (rule 1.7);
- cancel ignored: nothing more reaches the consumer, nothing is kept, and the items beyond
  the demand are reported as ``ProtocolViolationError`` (rules 1.1, 3.12).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest
import reactivex.operators as ops

from rxspike import UNBOUNDED, Flowable, MissingBackpressureError, ProtocolViolationError
from rxspike.operators import fuse, limit_rate, take
from rxspike.testing import (
    ManualPublisher,
    MisbehavingPublisher,
    Misbehaviour,
    ProbeSubscription,
    TestSubscriber,
    UndeliverableErrors,
    capture_undeliverable,
)

Boundary = Callable[[Flowable[int]], Flowable[Any]]

#: The synchronous boundaries, each as ``source -> flowable``.
BOUNDARIES: dict[str, Boundary] = {
    "fuse(map, prefetch=8)": lambda source: source.pipe(fuse(ops.map(lambda x: x), prefetch=8)),
    "limit_rate(8)": lambda source: source.pipe(limit_rate(8)),
    "take(40)": lambda source: source.pipe(take(40)),
}


def _violations(seen: UndeliverableErrors, rule: str) -> list[BaseException]:
    """The ProtocolViolationErrors reported that name ``rule`` ("rule 1.7", "rules 1.1, 3.12")."""
    names_rule = re.compile(rf"rules? (?:[\d.]+, )*{re.escape(rule)}\b")
    return [e for e in seen.of_type(ProtocolViolationError) if names_rule.search(str(e))]


# -- the test double itself --------------------------------------------------------------------


def test_the_misbehaving_publisher_is_caught_by_a_test_subscriber() -> None:
    excess = MisbehavingPublisher(Misbehaviour.EXCESS_ITEMS, size=10, excess=3)
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=2)
    excess.subscribe(subscriber)
    assert subscriber.values == [0, 1, 2, 3, 4]
    assert {v.rule for v in subscriber.violations} == {"1.1"}

    late = MisbehavingPublisher(Misbehaviour.SIGNALS_AFTER_TERMINAL, size=2)
    subscriber = TestSubscriber(initial_request=5)
    late.subscribe(subscriber)
    assert [v.rule for v in subscriber.violations] == ["1.7", "1.7", "1.7"]

    ignoring = MisbehavingPublisher(Misbehaviour.IGNORES_CANCEL, size=100, excess=4)
    subscriber = TestSubscriber(initial_request=3)
    ignoring.subscribe(subscriber)
    subscriber.cancel()
    assert len(subscriber.values) == 7  # bounded: excess items, then it stops
    assert ignoring.cancels == 1
    assert {v.rule for v in subscriber.violations} == {"1.1"}


def test_the_misbehaving_publisher_is_bounded_whatever_the_demand() -> None:
    for misbehaviour in Misbehaviour:
        publisher = MisbehavingPublisher(misbehaviour, size=20, excess=5)
        subscriber: TestSubscriber[int] = TestSubscriber(initial_request=UNBOUNDED)
        publisher.subscribe(subscriber)
        subscriber.cancel()
        assert publisher.emitted <= 20


# -- more items than requested -----------------------------------------------------------------


@pytest.mark.parametrize("name", BOUNDARIES)
def test_excess_items_fail_the_stream_with_missing_backpressure(name: str) -> None:
    publisher = MisbehavingPublisher(Misbehaviour.EXCESS_ITEMS, size=100, excess=20)
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=5)
    with capture_undeliverable() as seen:
        BOUNDARIES[name](publisher).subscribe(subscriber)
    subscriber.assert_error(MissingBackpressureError, match=r"rule 1\.1")
    subscriber.assert_no_violations()  # the consumer never saw more than it asked for
    assert len(subscriber.values) <= 5
    assert publisher.cancels >= 1, "the broken publisher must be cancelled"
    assert publisher.emitted < 100
    assert not seen.errors


async def test_excess_items_fail_async_iteration() -> None:
    publisher = MisbehavingPublisher(Misbehaviour.EXCESS_ITEMS, size=100, excess=20)
    received = []
    with pytest.raises(MissingBackpressureError, match=r"rule 1\.1"):
        async with asyncio.timeout(5):
            async for item in publisher.iterate(prefetch=8):
                received.append(item)
    assert len(received) <= 8
    assert publisher.cancels == 1


# -- signals after on_completed ----------------------------------------------------------------


@pytest.mark.parametrize("name", BOUNDARIES)
def test_signals_after_completion_are_reported_not_delivered(name: str) -> None:
    publisher = MisbehavingPublisher(Misbehaviour.SIGNALS_AFTER_TERMINAL, size=5)
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=UNBOUNDED)
    with capture_undeliverable() as seen:
        BOUNDARIES[name](publisher).subscribe(subscriber)
    subscriber.assert_result([0, 1, 2, 3, 4]).assert_no_violations()
    reported = _violations(seen, "1.7")
    assert reported, f"the late signals were lost silently: {seen.errors!r}"
    assert any("on_next" in str(e) for e in reported)
    late_error = [e for e in reported if isinstance(e.__cause__, RuntimeError)]
    assert late_error, "the late on_error must not be lost"


async def test_signals_after_completion_end_async_iteration_once() -> None:
    publisher = MisbehavingPublisher(Misbehaviour.SIGNALS_AFTER_TERMINAL, size=5)
    with capture_undeliverable() as seen:
        async with asyncio.timeout(5):
            received = [item async for item in publisher.iterate(prefetch=8)]
    assert received == [0, 1, 2, 3, 4]
    assert _violations(seen, "1.7")


# -- cancel ignored ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", BOUNDARIES)
def test_items_after_cancel_beyond_demand_are_dropped_and_reported(name: str) -> None:
    publisher = MisbehavingPublisher(Misbehaviour.IGNORES_CANCEL, size=1000, excess=50)
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=3)
    with capture_undeliverable() as seen:
        BOUNDARIES[name](publisher).subscribe(subscriber)
        subscriber.wait_for_values(3)
        subscriber.cancel()
    subscriber.assert_values([0, 1, 2]).assert_no_violations()
    assert publisher.cancels >= 1
    reported = _violations(seen, "3.12")
    assert len(reported) == 1, f"expected one report, got {seen.errors!r}"
    assert "1.1" in str(reported[0])


def test_take_reports_a_publisher_that_keeps_going_after_take_is_done() -> None:
    publisher = MisbehavingPublisher(Misbehaviour.IGNORES_CANCEL, size=1000, excess=50)
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=UNBOUNDED)
    with capture_undeliverable() as seen:
        publisher.pipe(take(3)).subscribe(subscriber)
    subscriber.assert_result([0, 1, 2]).assert_no_violations()
    assert len(_violations(seen, "3.12")) == 1


async def test_leaving_async_for_does_not_hang_on_a_publisher_that_ignores_cancel() -> None:
    publisher = MisbehavingPublisher(Misbehaviour.IGNORES_CANCEL, size=1000, excess=50)
    received = []
    with capture_undeliverable() as seen:
        async with asyncio.timeout(5):
            async for item in publisher.iterate(prefetch=8):
                received.append(item)
                if len(received) == 3:
                    break
    assert received == [0, 1, 2]
    assert publisher.cancels == 1
    assert len(_violations(seen, "3.12")) == 1


@pytest.mark.parametrize("name", BOUNDARIES)
def test_items_still_requested_may_arrive_after_cancel(name: str) -> None:
    # A publisher may deliver what was requested before cancel() (rule 2.8): a boundary drops
    # those quietly, and reports only what goes beyond.
    upstream: ManualPublisher[int] = ManualPublisher()
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=3)
    BOUNDARIES[name](upstream).subscribe(subscriber)
    link = upstream.subscriber
    probe = ProbeSubscription()
    with capture_undeliverable() as seen:
        link.on_subscribe(probe)
        requested = probe.requested
        for item in range(3):
            link.on_next(item)
        subscriber.cancel()
        assert probe.cancelled
        for item in range(3, requested):
            link.on_next(item)
        assert not seen.errors, "items requested before cancel() are not a violation"
        link.on_next(requested)
        link.on_next(requested + 1)
    subscriber.assert_values([0, 1, 2]).assert_no_violations()
    assert len(_violations(seen, "3.12")) == 1


async def test_async_iteration_drops_items_still_requested_after_break() -> None:
    upstream: ManualPublisher[int] = ManualPublisher()
    iterator = upstream.iterate(prefetch=8)
    probe = ProbeSubscription()
    with capture_undeliverable() as seen:
        first = asyncio.ensure_future(iterator.__anext__())
        await asyncio.sleep(0)
        link = upstream.subscriber
        link.on_subscribe(probe)
        link.on_next(0)
        assert await asyncio.wait_for(first, 5) == 0
        await iterator.aclose()
        assert probe.cancelled
        for item in range(1, 8):
            link.on_next(item)
        assert not seen.errors
        link.on_next(8)
    assert len(_violations(seen, "3.12")) == 1
