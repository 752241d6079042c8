"""The publisher rules of Reactive Streams 1.0.4 as checks, and the verification that runs them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.flowable import Flowable
from ..core.types import UNBOUNDED
from ._capture import UndeliverableErrors, capture_undeliverable
from ._errors import RuleSkipped, RuleViolation
from ._runner import LoopRunner, Publisher, Runner, SyncRunner, loop_in_thread
from ._test_subscriber import DEFAULT_TIMEOUT, SignalKind, TestSubscriber

PublisherFactory = Callable[[int], Publisher]
FailingFactory = Callable[[], Publisher]


@dataclass(frozen=True, slots=True)
class PublisherRule:
    """One automated check of a publisher rule."""

    #: Unique id: the spec's rule number, plus a suffix where one rule has several checks.
    id: str
    #: The spec's rule number(s) the check is about.
    spec: str
    #: What a compliant publisher does, in one line.
    title: str
    #: The check itself.
    check: Callable[[_Check], None] = field(repr=False)
    #: Fewest elements the factory must be able to make for the check to run.
    elements: int = 0
    #: Needs a publisher that completes (skipped for ``infinite=True``).
    needs_completion: bool = False
    #: Needs ``failing_factory``.
    needs_failing: bool = False
    #: Needs ``factory`` (the others make do with either factory).
    needs_factory: bool = True


@dataclass(frozen=True, slots=True)
class VerificationReport:
    """What :meth:`PublisherVerification.verify` found."""

    #: Ids of the rules that held.
    passed: tuple[str, ...]
    #: ``(rule id, reason)`` for each rule not checked.
    skipped: tuple[tuple[str, str], ...]
    #: ``(rule id, error)`` for each rule that was broken.
    failed: tuple[tuple[str, AssertionError], ...]

    @property
    def ok(self) -> bool:
        """No rule was broken."""
        return not self.failed


class _Check:
    """What a running check uses: the publisher factory, subscribing, settling, failing."""

    def __init__(
        self,
        verification: PublisherVerification,
        rule: PublisherRule,
        runner: Runner,
        undeliverable: UndeliverableErrors,
    ) -> None:
        self.verification = verification
        self.rule = rule
        self.runner = runner
        self.undeliverable = undeliverable
        self.timeout = verification.timeout
        self.finite = not verification.infinite
        self.tolerate_undeliverable = False
        self.subscribers: list[TestSubscriber[Any]] = []

    @property
    def max_elements(self) -> int:
        limit = self.verification.max_elements
        return UNBOUNDED if limit is None else limit

    def publisher(self, elements: int) -> Publisher:
        factory = self.verification.factory
        assert factory is not None  # rules that need it are skipped without it
        return factory(elements)

    def failing_publisher(self) -> Publisher:
        factory = self.verification.failing_factory
        assert factory is not None  # rules that need it are skipped without it
        return factory()

    def new_subscriber(self, *, track: bool = True, **options: Any) -> TestSubscriber[Any]:
        subscriber: TestSubscriber[Any] = TestSubscriber(timeout=self.timeout, **options)
        if track:
            self.subscribers.append(subscriber)
        return subscriber

    def subscribe(
        self, publisher: Publisher, subscriber: TestSubscriber[Any] | None = None, **options: Any
    ) -> TestSubscriber[Any]:
        """Subscribe and wait for ``on_subscribe`` (rule 1.9)."""
        if subscriber is None:
            subscriber = self.new_subscriber(**options)
        self.runner.subscribe(publisher, subscriber)
        try:
            subscriber.wait_for_subscription()
        except AssertionError:
            raise RuleViolation(
                "1.9", f"subscribe() did not lead to on_subscribe within {self.timeout} s"
            ) from None
        return subscriber

    def settle(self) -> None:
        self.runner.settle()

    def fail(self, message: str) -> RuleViolation:
        return RuleViolation(self.rule.spec, message)

    def require(self, condition: bool, message: str) -> None:
        if not condition:
            raise self.fail(message)

    def require_values(self, subscriber: TestSubscriber[Any], n: int, why: str) -> None:
        count = len(subscriber.values)
        self.require(count == n, f"{why}: expected {n} items, got {count} ({subscriber!r})")

    def require_completed(self, subscriber: TestSubscriber[Any], n: int, why: str) -> None:
        subscriber.wait_for_done()
        self.require(
            not subscriber.errors and subscriber.completions == 1,
            f"{why}: expected on_completed, got {subscriber!r}",
        )
        self.require_values(subscriber, n, why)

    def stop_at(self, n: int) -> int | None:
        """``cancel_after`` for a subscriber that keeps asking: an infinite synchronous
        publisher would otherwise emit forever inside ``subscribe``."""
        return None if self.finite else n

    def finish(self, subscriber: TestSubscriber[Any], n: int, why: str) -> None:
        """Finite: wait for ``n`` items and completion. Infinite: ``n`` items, then cancel."""
        if self.finite:
            self.require_completed(subscriber, n, why)
        else:
            subscriber.wait_for_values(n)
            if not subscriber.is_cancelled:
                subscriber.cancel()

    def collect_until_dead(self, ref: weakref.ref[Any], what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            gc.collect()
            target = ref()
            if target is None:
                return
            if time.monotonic() >= deadline:
                holders = sorted({type(r).__name__ for r in gc.get_referrers(target)})
                del target
                raise self.fail(
                    f"{what}; still referenced from objects of type {', '.join(holders)}"
                )
            del target
            self.settle()

    def cleanup(self) -> None:
        for subscriber in self.subscribers:
            if not subscriber.is_terminated and not subscriber.is_cancelled:
                with contextlib.suppress(AssertionError):  # recorded in its violations
                    subscriber.cancel()
        self.settle()

    def verify_subscribers(self) -> None:
        for subscriber in self.subscribers:
            subscriber.assert_no_violations()
        if not self.tolerate_undeliverable and len(self.undeliverable):
            raise self.fail(
                "the publisher reported errors to the undeliverable hook during a run that "
                f"should have had none: {self.undeliverable.errors!r}"
            )


# -- the checks --------------------------------------------------------------------------------


def _check_1_1(c: _Check) -> None:
    subscriber = c.subscribe(c.publisher(10))
    c.settle()
    c.require_values(subscriber, 0, "nothing was requested yet")
    total = 0
    for n in (1, 1, 2, 3):
        subscriber.request(n)
        total += n
        subscriber.wait_for_values(total)
        c.settle()
        c.require_values(subscriber, total, f"after requests adding up to {total}")


def _check_1_2(c: _Check) -> None:
    subscriber = c.subscribe(c.publisher(3), initial_request=10)
    c.require_completed(subscriber, 3, "3 items and on_completed after request(10)")


def _check_1_3(c: _Check) -> None:
    # Each on_next hands "request(1)" to a helper thread, which calls it while on_next may
    # still be running; after `cancel_at` items the helper cancels instead. The subscriber
    # flags any signal that overlaps one on another thread.
    elements = min(c.max_elements, 200)
    for cancel_at in (None, elements // 4):
        requester = _Requester(cancel_at)
        subscriber = c.new_subscriber(on_item=requester.on_item)
        requester.subscriber = subscriber
        requester.start()
        try:
            c.subscribe(c.publisher(elements), subscriber)
            requester.ask()
            if cancel_at is None:
                c.finish(subscriber, elements, "requests from another thread")
            else:
                requester.wait_cancelled(c.timeout)
                c.settle()
                count = len(subscriber.values)
                c.settle()
                c.require_values(subscriber, count, "items kept coming after cancel()")
        finally:
            requester.stop(c.timeout)
        if requester.error is not None:
            raise requester.error


class _Requester:
    """A helper thread that calls ``request(1)`` (or ``cancel()``) when asked to."""

    def __init__(self, cancel_at: int | None) -> None:
        self.cancel_at = cancel_at
        self.subscriber: TestSubscriber[Any] | None = None
        self.asks: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self.cancelled = threading.Event()
        self.error: BaseException | None = None
        self.received = 0
        self.thread = threading.Thread(target=self._run, name="rxspike-testing-requester")
        self.thread.daemon = True

    def start(self) -> None:
        self.thread.start()

    def on_item(self, _: Any) -> None:
        self.received += 1
        self.ask()
        time.sleep(0)  # let the helper's request race this on_next

    def ask(self) -> None:
        self.asks.put(True)

    def stop(self, timeout: float) -> None:
        self.asks.put(False)
        self.thread.join(timeout)

    def wait_cancelled(self, timeout: float) -> None:
        if not self.cancelled.wait(timeout):
            raise AssertionError(f"the stream did not reach {self.cancel_at} items in {timeout} s")

    def _run(self) -> None:
        subscriber = self.subscriber
        assert subscriber is not None
        try:
            while self.asks.get():
                if self.cancel_at is not None and self.received >= self.cancel_at:
                    subscriber.cancel()
                    self.cancelled.set()
                    return
                subscriber.request(1)
        except BaseException as error:
            self.error = error


def _check_1_4(c: _Check) -> None:
    subscriber = c.subscribe(c.failing_publisher(), initial_request=UNBOUNDED)
    subscriber.wait_for_done()
    c.require(
        len(subscriber.errors) == 1 and not subscriber.completions,
        f"a failing publisher must signal on_error once, got {subscriber!r}",
    )


def _check_1_5(c: _Check) -> None:
    subscriber = c.subscribe(c.publisher(3), initial_request=3)
    subscriber.wait_for_values(3)
    c.settle()
    if not subscriber.is_terminated:
        subscriber.request(1)  # some publishers learn they are done only when asked again
    c.require_completed(subscriber, 3, "a finite stream must end with on_completed")


def _check_1_5_empty(c: _Check) -> None:
    subscriber = c.subscribe(c.publisher(0), initial_request=1)
    c.require_completed(subscriber, 0, "an empty stream must end with on_completed")


def _check_1_6(c: _Check) -> None:
    subscriber = c.subscribe(c.publisher(3), track=False, initial_request=10)
    c.require_completed(subscriber, 3, "3 items and on_completed after request(10)")
    subscription = subscriber.subscription
    subscriber.request(5)
    subscriber.cancel()
    c.settle()
    subscriber.assert_no_violations()
    ref = weakref.ref(subscriber)
    del subscriber
    c.collect_until_dead(ref, "after on_completed the publisher still holds the subscriber")
    del subscription


def _check_1_7(c: _Check) -> None:
    if c.verification.factory is not None and c.max_elements >= 3:
        subscriber = c.subscribe(c.publisher(3), initial_request=10)
        c.require_completed(subscriber, 3, "3 items and on_completed after request(10)")
        subscriber.request(5)
        subscriber.cancel()
        subscriber.request(1)
        c.settle()
        c.require_completed(subscriber, 3, "requests after on_completed must change nothing")
    if c.verification.failing_factory is not None:
        failed = c.subscribe(c.failing_publisher(), initial_request=UNBOUNDED)
        failed.wait_for_done()
        count = len(failed.values)
        failed.request(5)
        failed.cancel()
        c.settle()
        c.require(
            len(failed.errors) == 1 and not failed.completions,
            f"nothing may follow on_error, got {failed!r}",
        )
        c.require_values(failed, count, "requests after on_error must change nothing")


def _check_1_9(c: _Check) -> None:
    publishers = []
    if c.verification.factory is not None:
        if c.finite:
            publishers.append(c.publisher(0))
        if c.max_elements >= 1:
            publishers.append(c.publisher(1))
    if c.verification.failing_factory is not None:
        publishers.append(c.failing_publisher())
    for publisher in publishers:
        subscriber = c.subscribe(publisher, initial_request=1)
        c.settle()
        signals = subscriber.signals
        c.require(
            signals[0].kind is SignalKind.SUBSCRIBE,
            f"the first signal must be on_subscribe, got {signals[0].kind.value}",
        )
        subscribes = sum(s.kind is SignalKind.SUBSCRIBE for s in signals)
        c.require(subscribes == 1, f"on_subscribe must come once, came {subscribes} times")


def _check_2_13(c: _Check) -> None:
    c.tolerate_undeliverable = True
    failure = RuntimeError("rxspike.testing: on_next raised on purpose (rule 2.13)")

    def explode(item: Any) -> None:
        if len(subscriber.values) == 2:
            raise failure

    subscriber = c.new_subscriber(on_item=explode)
    publisher = c.publisher(10)
    c.subscribe(publisher, subscriber)
    subscriber.request(10)  # a broken on_next must not raise out of request (rule 3.16)
    subscriber.wait_for_values(2)
    c.settle()
    c.require_values(
        subscriber, 2, "after on_next raised, the subscription counts as cancelled (2.13)"
    )
    c.require(not subscriber.completions, "after on_next raised, no on_completed may follow (2.13)")
    if isinstance(publisher, Flowable):
        reported = failure in subscriber.errors or any(
            error is failure for error in c.undeliverable.errors
        )
        c.require(
            reported,
            "the error raised by on_next was lost: an rxspike publisher must hand it to the "
            f"undeliverable hook (got {c.undeliverable.errors!r})",
        )


def _check_3_2(c: _Check) -> None:
    elements = min(c.max_elements, 10)
    subscriber = c.subscribe(
        c.publisher(elements),
        initial_request=1,
        request_per_item=1,
        cancel_after=c.stop_at(elements),
    )
    c.finish(subscriber, elements, "request(1) from on_subscribe and each on_next")


def _check_3_3(c: _Check) -> None:
    elements = min(c.max_elements, c.verification.recursion_elements)
    subscriber = c.subscribe(
        c.publisher(elements),
        initial_request=1,
        request_per_item=1,
        track_stack_depth=True,
        cancel_after=c.stop_at(elements),
    )
    c.finish(subscriber, elements, "request(1) from each on_next")
    depths = subscriber.stack_depths
    growth = max(depths) - min(depths)
    c.require(
        growth <= c.verification.max_stack_growth,
        f"the stack grew by {growth} frames over {elements} items of request(1) from "
        f"on_next (deepest {max(depths)}, shallowest {min(depths)}); recursion between "
        "request and on_next must be bounded (trampoline it)",
    )


def _check_3_6(c: _Check) -> None:
    subscriber = c.subscribe(c.publisher(10), initial_request=1)
    subscriber.wait_for_values(1)
    subscriber.cancel()
    subscriber.request(5)
    c.settle()
    c.require_values(subscriber, 1, "request() after cancel() must be a no-op")
    c.require(not subscriber.errors, f"request() after cancel() signalled {subscriber.errors!r}")


def _check_3_7(c: _Check) -> None:
    subscriber = c.subscribe(c.publisher(10), initial_request=1)
    subscriber.wait_for_values(1)
    subscriber.cancel()
    subscriber.cancel()
    c.settle()
    c.require_values(subscriber, 1, "cancel() twice")
    c.require(not subscriber.errors, f"a second cancel() signalled {subscriber.errors!r}")
    fresh = c.subscribe(c.publisher(10))
    fresh.cancel()
    fresh.cancel()
    fresh.request(3)
    c.settle()
    c.require_values(fresh, 0, "cancel() twice before any request, then request(3)")
    c.require(not fresh.errors, f"cancel() before any request signalled {fresh.errors!r}")


def _check_3_8(c: _Check) -> None:
    subscriber = c.subscribe(c.publisher(10))
    subscriber.request(2)
    subscriber.request(3)
    subscriber.wait_for_values(5)
    c.settle()
    c.require_values(subscriber, 5, "request(2) then request(3) adds up to 5")
    subscriber.request(5)
    subscriber.wait_for_values(10)
    c.settle()
    c.require_values(subscriber, 10, "another request(5)")


def _check_3_9(c: _Check, n: int) -> None:
    for first in (0, 1):
        subscriber = c.subscribe(c.publisher(10), initial_request=first)
        subscriber.wait_for_values(first)
        subscriber.request(n)
        subscriber.wait_for_done()
        errors = subscriber.errors
        c.require(
            len(errors) == 1 and isinstance(errors[0], ValueError),
            f"request({n}) must be answered with on_error(ValueError), got {subscriber!r}",
        )
        c.require(
            str(n) in str(errors[0]),
            f"the error for request({n}) must say what was wrong, naming {n}: {errors[0]!r}",
        )
        c.require_values(subscriber, first, f"items after request({n})")


def _check_3_9_zero(c: _Check) -> None:
    _check_3_9(c, 0)


def _check_3_9_negative(c: _Check) -> None:
    _check_3_9(c, -7)


def _check_3_12(c: _Check) -> None:
    elements = min(c.max_elements, 1000)
    subscriber = c.subscribe(c.publisher(elements), initial_request=UNBOUNDED, cancel_after=5)
    subscriber.wait_for_values(5)
    c.settle()
    count = len(subscriber.values)
    c.settle()
    c.require_values(subscriber, count, "items kept coming after cancel()")
    c.require(
        count < elements,
        f"cancel() after 5 of {elements} items did not stop the publisher: all arrived",
    )


def _check_3_13(c: _Check) -> None:
    subscriber = c.subscribe(c.publisher(10), track=False, initial_request=2)
    subscriber.wait_for_values(2)
    subscription = subscriber.subscription
    subscriber.cancel()
    c.settle()
    subscriber.assert_no_violations()
    ref = weakref.ref(subscriber)
    del subscriber
    c.collect_until_dead(ref, "after cancel() the publisher still holds the subscriber")
    del subscription


def _check_3_16(c: _Check) -> None:
    # TestSubscriber raises RuleViolation 3.15 / 3.16 if any of these calls raises.
    subscriber = c.subscribe(c.publisher(10))
    subscriber.request(1)
    subscriber.wait_for_values(1)
    subscriber.request(0)
    subscriber.wait_for_done()
    subscriber.request(1)
    subscriber.cancel()
    subscriber.cancel()
    fresh = c.subscribe(c.publisher(10))
    fresh.cancel()
    fresh.cancel()
    fresh.request(1)
    fresh.request(-1)
    c.settle()


def _check_3_17(c: _Check) -> None:
    elements = min(c.max_elements, 3)
    plans: list[tuple[str, list[int]]] = [
        ("request(2**63-1) twice", [UNBOUNDED, UNBOUNDED]),
        ("request(2**62) three times", [2**62, 2**62, 2**62]),
        ("request(2**63-2) then request(2)", [UNBOUNDED - 1, 2]),
        ("request(2**70), beyond the 64-bit range", [2**70]),
    ]
    for what, requests in plans:
        # An infinite publisher would emit forever inside the first request: stop it.
        subscriber = c.new_subscriber(cancel_after=c.stop_at(elements))
        for n in requests:
            subscriber.request(n)  # kept until on_subscribe, then made back to back
        c.subscribe(c.publisher(elements), subscriber)
        c.finish(subscriber, elements, f"{what} must mean unbounded, not an error")


def _rule(
    id: str,
    spec: str,
    title: str,
    check: Callable[[_Check], None],
    *,
    elements: int = 1,
    completes: bool = False,
    failing: bool = False,
    either: bool = False,
) -> PublisherRule:
    return PublisherRule(id, spec, title, check, elements, completes, failing, not either)


RULES: tuple[PublisherRule, ...] = (
    _rule("1.1", "1.1", "never more on_next than requested", _check_1_1, elements=8),
    _rule(
        "1.2",
        "1.2",
        "may end with fewer items than requested",
        _check_1_2,
        elements=3,
        completes=True,
    ),
    _rule(
        "1.3",
        "1.3",
        "signals are serial when request/cancel come from another thread",
        _check_1_3,
        elements=40,
    ),
    _rule(
        "1.4", "1.4", "a failing publisher signals on_error", _check_1_4, failing=True, either=True
    ),
    _rule(
        "1.5", "1.5", "a finite stream signals on_completed", _check_1_5, elements=3, completes=True
    ),
    _rule(
        "1.5-empty",
        "1.5",
        "an empty stream signals on_completed",
        _check_1_5_empty,
        elements=0,
        completes=True,
    ),
    _rule(
        "1.6",
        "1.6",
        "after on_completed the subscriber is released",
        _check_1_6,
        elements=3,
        completes=True,
    ),
    _rule(
        "1.7",
        "1.7",
        "no signal after on_completed / on_error",
        _check_1_7,
        elements=3,
        completes=True,
        either=True,
    ),
    _rule("1.9", "1.9", "on_subscribe comes first, once", _check_1_9, elements=0, either=True),
    _rule(
        "2.13",
        "2.13",
        "an on_next that raises cancels the subscription; the error is not lost",
        _check_2_13,
        elements=10,
    ),
    _rule("3.2", "3.2", "request may be called from on_subscribe and on_next", _check_3_2),
    _rule("3.3", "3.3", "request/on_next recursion is bounded", _check_3_3, elements=100),
    _rule("3.6", "3.6", "request after cancel is a no-op", _check_3_6, elements=2),
    _rule("3.7", "3.7", "cancel after cancel is a no-op", _check_3_7, elements=2),
    _rule("3.8", "3.8", "demand is additive", _check_3_8, elements=10),
    _rule(
        "3.9-zero",
        "3.9",
        "request(0) signals on_error(ValueError) naming 0",
        _check_3_9_zero,
        elements=2,
    ),
    _rule(
        "3.9-negative",
        "3.9",
        "request(-7) signals on_error(ValueError) naming -7",
        _check_3_9_negative,
        elements=2,
    ),
    _rule("3.12", "3.12", "cancel makes the publisher stop eventually", _check_3_12, elements=20),
    _rule(
        "3.13", "3.13", "cancel makes the publisher drop the subscriber", _check_3_13, elements=3
    ),
    _rule(
        "3.16",
        "3.5/3.15/3.16",
        "request and cancel return normally in every state",
        _check_3_16,
        elements=2,
    ),
    _rule("3.17", "3.17", "demand saturates at 2**63-1 (unbounded), never an error", _check_3_17),
)

_BY_ID = {rule.id: rule for rule in RULES}


def run_outcome(rule_id: str, run: Callable[[str], None]) -> tuple[str, str, BaseException | None]:
    try:
        run(rule_id)
    except RuleSkipped as skipped:
        return rule_id, "skipped", skipped
    except AssertionError as failure:
        return rule_id, "failed", failure
    return rule_id, "passed", None


def make_report(outcomes: list[tuple[str, str, BaseException | None]]) -> VerificationReport:
    report = VerificationReport(
        passed=tuple(rule_id for rule_id, what, _ in outcomes if what == "passed"),
        skipped=tuple(
            (rule_id, error.reason)
            for rule_id, what, error in outcomes
            if what == "skipped" and isinstance(error, RuleSkipped)
        ),
        failed=tuple(
            (rule_id, error)
            for rule_id, what, error in outcomes
            if what == "failed" and isinstance(error, AssertionError)
        ),
    )
    if report.failed:
        first = report.failed[0][1]
        rule = first.rule if isinstance(first, RuleViolation) else report.failed[0][0]
        listed = "\n".join(f"  [{rule_id}] {error}" for rule_id, error in report.failed)
        raise RuleViolation(rule, f"{len(report.failed)} check(s) failed:\n{listed}")
    return report


class PublisherVerification:
    """Checks a publisher against the Reactive Streams publisher rules (the TCK, in Python).

    ``factory(n)`` must return a fresh publisher of exactly ``n`` items that then completes
    (ignore ``n`` and pass ``infinite=True`` for a publisher that never completes);
    ``failing_factory()`` one that signals ``on_error`` (rule 1.4 is skipped without it).
    Each check subscribes :class:`TestSubscriber` instances, which also watch every signal for
    rules 1.1, 1.3, 1.7 and 1.9; a broken rule raises :class:`RuleViolation` naming it and
    what was seen, a rule that does not apply raises :class:`RuleSkipped` (a
    ``unittest.SkipTest``). Every wait is bounded by ``timeout`` seconds.

    Where the publisher runs:

    - ``on_loop=False``: it is subscribed on the checking thread, and emits from
      ``subscribe`` / ``request`` or from threads of its own (grant those ``quiet`` seconds
      before a "nothing more arrives" check).
    - ``on_loop=True``: it needs a running asyncio event loop (``from_async_iterable``, say).
      :meth:`check` / :meth:`verify` run a private loop on a helper thread for each check;
      :meth:`acheck` / :meth:`averify`, awaited in a coroutine, use the caller's loop and
      run the checking code in a worker thread. Either way ``request`` and ``cancel`` come
      from the checking thread, not the loop's, as rule 1.3 allows.

    Errors that reach rxspike's undeliverable hook while a check runs fail it (except in
    the 2.13 check, which provokes one).

    Args:
        factory: ``n -> publisher`` of ``n`` items; ``None`` for a publisher that can only
            fail (``rxspike.error``), so only the checks of ``failing_factory`` run.
        failing_factory: ``() -> publisher`` that fails.
        max_elements: the most items ``factory`` can make (``None``: any number); checks
            that need more are skipped, checks that like more make do with this many.
        infinite: the publisher never completes; checks that need completion are skipped.
        on_loop: subscribe from a running event loop (see above).
        skip: ids of checks not to run, or a mapping of id to the reason.
        timeout: seconds any single wait may take before the check fails.
        quiet: seconds to wait, on top of letting the loop turn, before concluding that
            nothing more arrives (default 0 without a loop, 0.01 with one).
        recursion_elements: items the rule 3.3 check requests one at a time from on_next.
        max_stack_growth: frames the stack may grow by over those items.

    >>> from rxspike import from_iterable
    >>> verification = PublisherVerification(lambda n: from_iterable(range(n)))
    >>> verification.check("1.1")
    >>> report = verification.verify()
    >>> report.ok, report.skipped
    (True, (('1.4', 'needs failing_factory'),))
    """

    def __init__(
        self,
        factory: PublisherFactory | None,
        *,
        failing_factory: FailingFactory | None = None,
        max_elements: int | None = None,
        infinite: bool = False,
        on_loop: bool = False,
        skip: Iterable[str] | Mapping[str, str] = (),
        timeout: float = DEFAULT_TIMEOUT,
        quiet: float | None = None,
        recursion_elements: int = 500,
        max_stack_growth: int = 64,
    ) -> None:
        skips = dict(skip) if isinstance(skip, Mapping) else dict.fromkeys(skip, "skipped")
        unknown = sorted(set(skips) - set(_BY_ID))
        if unknown:
            raise ValueError(f"unknown rule ids in skip: {unknown}; known: {list(_BY_ID)}")
        self.factory = factory
        self.failing_factory = failing_factory
        self.max_elements = max_elements
        self.infinite = infinite
        self.on_loop = on_loop
        self.skip: dict[str, str] = skips
        self.timeout = timeout
        self.quiet = (0.01 if on_loop else 0.0) if quiet is None else quiet
        self.recursion_elements = recursion_elements
        self.max_stack_growth = max_stack_growth

    @property
    def rules(self) -> tuple[PublisherRule, ...]:
        """Every check, in spec order (including those that will be skipped)."""
        return RULES

    @staticmethod
    def rule_ids() -> list[str]:
        """The ids of every check, for ``pytest.mark.parametrize``."""
        return [rule.id for rule in RULES]

    def skip_reason(self, rule_id: str) -> str | None:
        """Why the check ``rule_id`` would be skipped, or ``None`` if it runs."""
        rule = self._rule(rule_id)
        if rule.id in self.skip:
            return self.skip[rule.id]
        if rule.needs_failing and self.failing_factory is None:
            return "needs failing_factory"
        if rule.needs_factory and self.factory is None:
            return "needs factory (only failing_factory was given)"
        if rule.needs_completion and self.infinite:
            return "needs a publisher that completes"
        if (
            rule.needs_factory
            and self.max_elements is not None
            and self.max_elements < rule.elements
        ):
            return f"needs {rule.elements} elements, the publisher has at most {self.max_elements}"
        return None

    def _rule(self, rule_id: str) -> PublisherRule:
        try:
            return _BY_ID[rule_id]
        except KeyError:
            raise ValueError(f"unknown rule id {rule_id!r}; known: {list(_BY_ID)}") from None

    def check(self, rule_id: str) -> None:
        """Run one check, synchronously.

        Raises:
            RuleViolation: the publisher broke a rule (the one checked, or one the
                subscribers watch all the time).
            RuleSkipped: the check does not apply, see :meth:`skip_reason`.
            ValueError: ``rule_id`` is not one of :meth:`rule_ids`.
            RuntimeError: called from a running event loop with ``on_loop=True``; use
                :meth:`acheck`.
        """
        rule = self._start(rule_id)
        if not self.on_loop:
            self._run(rule, SyncRunner(self.quiet))
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("check() would block the running event loop; await acheck() instead")
        with loop_in_thread(self.timeout) as loop:
            self._run(rule, LoopRunner(loop, self.quiet, self.timeout))

    async def acheck(self, rule_id: str) -> None:
        """Run one check from a coroutine; an ``on_loop`` publisher uses the running loop.

        Raises the same as :meth:`check` (except the ``RuntimeError``).
        """
        rule = self._start(rule_id)
        runner: Runner
        if self.on_loop:
            runner = LoopRunner(asyncio.get_running_loop(), self.quiet, self.timeout)
        else:
            runner = SyncRunner(self.quiet)
        await asyncio.to_thread(self._run, rule, runner)

    def verify(self) -> VerificationReport:
        """Run every check; raise if any rule was broken.

        Raises:
            RuleViolation: listing every broken rule (the first one's number in ``rule``).
        """
        return make_report([run_outcome(rule.id, self.check) for rule in RULES])

    async def averify(self) -> VerificationReport:
        """:meth:`verify` from a coroutine (see :meth:`acheck`)."""
        outcomes: list[tuple[str, str, BaseException | None]] = []
        for rule in RULES:
            try:
                await self.acheck(rule.id)
            except RuleSkipped as skipped:
                outcomes.append((rule.id, "skipped", skipped))
            except AssertionError as failure:
                outcomes.append((rule.id, "failed", failure))
            else:
                outcomes.append((rule.id, "passed", None))
        return make_report(outcomes)

    def _start(self, rule_id: str) -> PublisherRule:
        rule = self._rule(rule_id)
        reason = self.skip_reason(rule_id)
        if reason is not None:
            raise RuleSkipped(rule.id, reason)
        return rule

    def _run(self, rule: PublisherRule, runner: Runner) -> None:
        with capture_undeliverable() as undeliverable:
            check = _Check(self, rule, runner, undeliverable)
            try:
                try:
                    rule.check(check)
                finally:
                    check.cleanup()
            except AssertionError as failure:
                # What the watching subscribers saw is the root cause: report it first.
                check.verify_subscribers()
                if isinstance(failure, RuleViolation):
                    raise
                raise RuleViolation(rule.spec, f"{rule.title}: {failure}") from failure
            check.verify_subscribers()


def verify_publisher(factory: PublisherFactory, **options: Any) -> VerificationReport:
    """Check ``factory``'s publishers against every publisher rule and return the report.

    Takes the options of :class:`PublisherVerification`.

    Raises:
        RuleViolation: listing every broken rule.

    >>> from rxspike import error, range_
    >>> verify_publisher(range_, failing_factory=lambda: error(OSError("disk"))).ok
    True
    """
    return PublisherVerification(factory, **options).verify()
