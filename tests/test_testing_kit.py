"""The conformance kit itself: it catches broken publishers and subscribers by rule number,
its waits are bounded, and its messages say what was seen."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rxspike import (
    UNBOUNDED,
    Flowable,
    InvalidDemandError,
    LambdaSubscriber,
    Subscriber,
    from_async_iterable,
    from_iterable,
    range_,
)
from rxspike.testing import (
    MisbehavingPublisher,
    Misbehaviour,
    ProbeSubscription,
    PublisherVerification,
    RuleSkipped,
    RuleViolation,
    SubscriberVerification,
    TestSubscriber,
    verify_publisher,
)

# -- publishers that break one rule each -------------------------------------------------------


class _Naive:
    """Emits from inside request() with no trampoline: on_next -> request -> on_next ..."""

    def __init__(self, subscriber: Subscriber[int], size: int) -> None:
        self.subscriber = subscriber
        self.size = size
        self.next = 0
        self.done = False

    def request(self, n: int) -> None:
        if n <= 0:
            raise ValueError(f"bad request {n}")  # raises instead of signalling (3.9, 3.16)
        for _ in range(n):
            if self.done:
                return
            if self.next == self.size:
                self.done = True
                self.subscriber.on_completed()
                return
            self.next += 1
            self.subscriber.on_next(self.next - 1)

    def cancel(self) -> None:
        self.done = True


def naive(size: int) -> Flowable[int]:
    def subscribe(subscriber: Subscriber[int]) -> None:
        subscriber.on_subscribe(_Naive(subscriber, size))

    return Flowable(subscribe)


def silent(size: int) -> Flowable[int]:
    """Never calls on_subscribe."""
    return Flowable(lambda subscriber: None)


def misbehaving(misbehaviour: Misbehaviour) -> PublisherVerification:
    return PublisherVerification(lambda n: MisbehavingPublisher(misbehaviour, size=n), timeout=1.0)


def _raises(verification: PublisherVerification, rule: str) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        verification.check(rule)
    return caught.value


def test_excess_items_break_rule_1_1() -> None:
    violation = _raises(misbehaving(Misbehaviour.EXCESS_ITEMS), "1.1")
    assert violation.rule == "1.1"
    assert "were requested" in str(violation)


def test_signals_after_completion_break_rule_1_7() -> None:
    violation = _raises(misbehaving(Misbehaviour.SIGNALS_AFTER_TERMINAL), "1.7")
    assert violation.rule == "1.7"
    assert "after on_completed" in str(violation)


def test_ignoring_cancel_breaks_rules_3_12_and_3_13() -> None:
    verification = misbehaving(Misbehaviour.IGNORES_CANCEL)
    # Items after cancel beyond demand: the watching subscriber names rule 1.1.
    assert _raises(verification, "3.6").rule == "1.1"
    # A quiet one (no extra items) still keeps its subscriber after cancel.
    quiet = PublisherVerification(
        lambda n: MisbehavingPublisher(Misbehaviour.IGNORES_CANCEL, size=n, excess=0),
        timeout=0.2,
    )
    violation = _raises(quiet, "3.13")
    assert violation.rule == "3.13"
    assert "still holds the subscriber" in str(violation)


def test_unbounded_recursion_breaks_rule_3_3() -> None:
    verification = PublisherVerification(naive, recursion_elements=200)
    violation = _raises(verification, "3.3")
    assert violation.rule == "3.3"
    assert "the stack grew by" in str(violation)


def test_request_that_raises_breaks_rule_3_16() -> None:
    violation = _raises(PublisherVerification(naive), "3.9-zero")
    assert violation.rule == "3.16"
    assert "request(0) raised" in str(violation)


def test_a_publisher_that_never_subscribes_breaks_rule_1_9_within_the_timeout() -> None:
    violation = _raises(PublisherVerification(silent, timeout=0.05), "1.1")
    assert violation.rule == "1.9"


def test_verify_lists_every_broken_rule() -> None:
    with pytest.raises(RuleViolation) as caught:
        verify_publisher(naive, timeout=0.5, recursion_elements=200)
    message = str(caught.value)
    assert "[3.3]" in message
    assert "[3.9-zero]" in message


def test_the_report_names_passed_and_skipped_rules() -> None:
    report = verify_publisher(range_, max_elements=5, skip={"3.17": "not today"})
    assert report.ok
    assert "1.2" in report.passed
    skipped = dict(report.skipped)
    assert skipped["3.17"] == "not today"
    assert skipped["3.3"] == "needs 100 elements, the publisher has at most 5"
    assert "needs failing_factory" in skipped["1.4"]


def test_skipped_rules_raise_unittest_skip() -> None:
    verification = PublisherVerification(range_, skip=["3.3"])
    assert verification.skip_reason("3.3") == "skipped"
    with pytest.raises(RuleSkipped):
        verification.check("3.3")


def test_unknown_rule_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown rule ids in skip"):
        PublisherVerification(range_, skip=["9.9"])
    with pytest.raises(ValueError, match=r"unknown rule id '9\.9'"):
        PublisherVerification(range_).check("9.9")


def test_infinite_publishers_skip_the_rules_that_need_completion() -> None:
    def forever(n: int) -> Flowable[int]:
        def count() -> Any:
            i = 0
            while True:
                yield i
                i += 1

        return from_iterable(count())

    report = verify_publisher(forever, infinite=True)
    assert dict(report.skipped)["1.5"] == "needs a publisher that completes"
    assert "3.3" in report.passed


async def _agen(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i
        await asyncio.sleep(0)


async def test_averify_runs_an_async_publisher_on_the_callers_loop() -> None:
    verification = PublisherVerification(lambda n: from_async_iterable(_agen(n)), on_loop=True)
    report = await verification.averify()
    assert report.ok
    with pytest.raises(RuntimeError, match="await acheck"):
        verification.check("1.1")


# -- TestSubscriber ----------------------------------------------------------------------------


def test_waits_time_out_with_what_was_received() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=2, timeout=0.05)
    range_(10).subscribe(subscriber)
    with pytest.raises(AssertionError, match=r"timed out after 0.05 s waiting for 3 values"):
        subscriber.wait_for_values(3)
    with pytest.raises(AssertionError, match=r"values=\[0, 1\]"):
        subscriber.wait_for_done()


def test_a_wait_fails_at_once_when_the_stream_ended_short() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=UNBOUNDED)
    range_(2).subscribe(subscriber)
    with pytest.raises(AssertionError, match="expected 5 values but the stream ended"):
        subscriber.wait_for_values(5, timeout=60)


async def test_await_waits_for_a_publisher_on_the_same_loop() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=UNBOUNDED)
    from_async_iterable(_agen(5)).subscribe(subscriber)
    assert await subscriber.await_values(3) == [0, 1, 2]
    await subscriber.await_done()
    subscriber.assert_result([0, 1, 2, 3, 4]).assert_no_violations()
    assert {s.thread for s in subscriber.signals} == {subscriber.signals[0].thread}


async def test_a_blocking_wait_on_the_loop_thread_is_refused() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=1)
    from_async_iterable(_agen(5)).subscribe(subscriber)
    with pytest.raises(RuntimeError, match="use the await_"):
        subscriber.wait_for_values(1)
    await subscriber.await_values(1)
    subscriber.cancel()


async def test_an_await_times_out_too() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber()
    from_async_iterable(_agen(5)).subscribe(subscriber)
    with pytest.raises(AssertionError, match="timed out"):
        await subscriber.await_values(1, timeout=0.02)
    subscriber.cancel()


def test_assertions_say_what_was_expected_and_seen() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(initial_request=UNBOUNDED)
    range_(3).subscribe(subscriber)
    subscriber.assert_result([0, 1, 2]).assert_value_count(3).assert_no_errors()
    with pytest.raises(AssertionError, match=r"expected values \[0, 1\], got \[0, 1, 2\]"):
        subscriber.assert_values([0, 1])
    with pytest.raises(AssertionError, match="expected the stream to be still running"):
        subscriber.assert_not_terminated()
    with pytest.raises(AssertionError, match="expected exactly one error, got 0"):
        subscriber.assert_error(ValueError)

    failed: TestSubscriber[int] = TestSubscriber()
    range_(3).subscribe(failed)
    failed.request(0)
    failed.assert_error(InvalidDemandError, match="got 0").assert_no_values()
    with pytest.raises(AssertionError, match="expected an error of type KeyError"):
        failed.assert_error(KeyError)


def test_request_before_subscription_is_kept() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber()
    subscriber.request(2)
    range_(5).subscribe(subscriber)
    subscriber.assert_values([0, 1])
    assert subscriber.requested == 2


def test_stack_depth_is_recorded_on_request() -> None:
    subscriber: TestSubscriber[int] = TestSubscriber(
        initial_request=1, request_per_item=1, track_stack_depth=True
    )
    range_(50).subscribe(subscriber)
    depths = subscriber.stack_depths
    assert len(depths) == 50
    assert max(depths) - min(depths) < 10  # the trampoline keeps it flat


# -- SubscriberVerification catches broken subscribers ------------------------------------------


class _Careless:
    """Requests in on_subscribe, but cancels from on_completed and accepts any subscription."""

    def __init__(self) -> None:
        self.subscription: Any = None

    def on_subscribe(self, subscription: Any) -> None:
        self.subscription = subscription
        subscription.request(1)

    def on_next(self, item: Any) -> None:
        pass

    def on_error(self, error: Exception) -> None:
        raise error  # breaks 2.13

    def on_completed(self) -> None:
        self.subscription.cancel()  # breaks 2.3


@pytest.mark.parametrize(("rule", "broken"), [("2.3", "2.3"), ("2.5", "2.5"), ("2.10", "2.13")])
def test_subscriber_verification_names_the_broken_rule(rule: str, broken: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        SubscriberVerification(_Careless).check(rule)
    assert caught.value.rule == broken


def test_a_subscriber_without_cancel_skips_rule_2_8() -> None:
    with pytest.raises(RuleSkipped, match="no cancel"):
        SubscriberVerification(_Careless).check("2.8")


def test_a_subscriber_that_never_asks_breaks_rule_2_1() -> None:
    from rxspike import RequestSubscriber

    with pytest.raises(RuleViolation, match="must signal demand"):
        SubscriberVerification(RequestSubscriber).check("2.1")


def test_lambda_subscriber_without_on_error_hands_the_error_to_the_hook() -> None:
    verification = SubscriberVerification(lambda: LambdaSubscriber(lambda item: None))
    verification.check("2.10")
    assert [type(e).__name__ for e in verification.undeliverable.errors] == ["_Failure"]


def test_probe_subscription_records_in_order() -> None:
    probe = ProbeSubscription()
    probe.request(2)
    probe.cancel()
    probe.request(-1)
    assert probe.calls == [("request", 2), ("cancel", None), ("request", -1)]
    assert probe.requested == 2


class _ThreadPerRequest:
    """Emits each request's items from a new thread: signals from two threads can overlap."""

    def __init__(self, subscriber: Subscriber[int], size: int) -> None:
        self.subscriber = subscriber
        self.size = size
        self.next = 0
        self.threads: list[threading.Thread] = []

    def request(self, n: int) -> None:
        thread = threading.Thread(target=self._emit, args=(n,), daemon=True)
        self.threads.append(thread)
        thread.start()

    def _emit(self, n: int) -> None:
        for _ in range(n):
            if self.next >= self.size:
                return
            self.next += 1
            self.subscriber.on_next(self.next - 1)
            time.sleep(0.001)  # widen the window for the next request's thread
        if self.next >= self.size:
            self.subscriber.on_completed()

    def cancel(self) -> None:
        self.size = 0


def test_signals_from_two_threads_at_once_break_rule_1_3() -> None:
    def racy(size: int) -> Flowable[int]:
        return Flowable(lambda s: s.on_subscribe(_ThreadPerRequest(s, size)))

    violation = _raises(PublisherVerification(racy, timeout=2.0), "1.3")
    assert violation.rule == "1.3"
    assert "overlapped" in str(violation)
