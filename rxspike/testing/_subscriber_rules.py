"""The subscriber rules of Reactive Streams 1.0.4 as checks (the TCK's black-box verification)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.types import Subscriber
from ._capture import UndeliverableErrors, capture_undeliverable
from ._doubles import ProbeSubscription
from ._errors import RuleSkipped, RuleViolation
from ._publisher_rules import VerificationReport, make_report, run_outcome

SubscriberFactory = Callable[[], Subscriber[Any]]


@dataclass(frozen=True, slots=True)
class SubscriberRule:
    """One automated check of a subscriber rule."""

    #: Unique id: the spec's rule number, plus a suffix where one rule has several checks.
    id: str
    #: What a compliant subscriber does, in one line.
    title: str
    #: The check itself.
    check: Callable[[_SubscriberCheck], None] = field(repr=False)
    #: Needs a subscriber with a ``cancel()`` method.
    needs_cancel: bool = False


class _SubscriberCheck:
    """What a running subscriber check uses: a fresh subscriber, probes, guarded calls."""

    def __init__(self, verification: SubscriberVerification, rule: SubscriberRule) -> None:
        self.verification = verification
        self.rule = rule

    def subscriber(self) -> Subscriber[Any]:
        return self.verification.factory()

    def call(self, subscriber: Subscriber[Any], method: str, *args: Any) -> None:
        """Call a subscriber method; it must return normally (rule 2.13)."""
        try:
            getattr(subscriber, method)(*args)
        except Exception as error:
            raise RuleViolation(
                "2.13", f"{method}{args!r} raised {error!r}; it must return normally"
            ) from error

    def subscribe(self, subscriber: Subscriber[Any]) -> ProbeSubscription:
        """``on_subscribe`` with a fresh probe, then whatever makes the subscriber ask."""
        probe = ProbeSubscription()
        self.call(subscriber, "on_subscribe", probe)
        trigger = self.verification.trigger_request
        if trigger is not None:
            trigger(subscriber)
        return probe

    def cancel(self, subscriber: Subscriber[Any]) -> None:
        self.call(subscriber, "cancel")

    def fail(self, message: str) -> RuleViolation:
        return RuleViolation(self.rule.id.split("-")[0], message)

    def require(self, condition: bool, message: str) -> None:
        if not condition:
            raise self.fail(message)


def _check_2_1(c: _SubscriberCheck) -> None:
    probe = c.subscribe(c.subscriber())
    c.require(
        probe.requested > 0,
        f"after on_subscribe the subscriber must signal demand, got {probe!r} (pass "
        "trigger_request if your code drives its demand)",
    )


def _check_2_3(c: _SubscriberCheck) -> None:
    for signal, args in (("on_completed", ()), ("on_error", (_Failure("2.3 check"),))):
        subscriber = c.subscriber()
        probe = c.subscribe(subscriber)
        before = len(probe.calls)
        c.call(subscriber, signal, *args)
        calls = probe.calls[before:]
        c.require(
            not calls,
            f"{signal} must not call the subscription, but it called {calls!r}",
        )


def _check_2_4(c: _SubscriberCheck) -> None:
    for signal, args in (("on_completed", ()), ("on_error", (_Failure("2.4 check"),))):
        subscriber = c.subscriber()
        probe = c.subscribe(subscriber)
        c.call(subscriber, signal, *args)
        before = len(probe.calls)
        trigger = c.verification.trigger_request
        if trigger is not None:
            trigger(subscriber)
        if hasattr(subscriber, "cancel"):
            c.cancel(subscriber)
        calls = probe.calls[before:]
        c.require(
            not calls,
            f"after {signal} the subscription counts as cancelled, but it was called: {calls!r}",
        )


def _check_2_5(c: _SubscriberCheck) -> None:
    subscriber = c.subscriber()
    first = c.subscribe(subscriber)
    second = ProbeSubscription()
    c.call(subscriber, "on_subscribe", second)
    c.require(second.cancelled, "a second on_subscribe must cancel that second subscription")
    c.require(not first.cancelled, "a second on_subscribe must leave the first subscription alone")


def _check_2_8(c: _SubscriberCheck) -> None:
    subscriber = c.subscriber()
    probe = c.subscribe(subscriber)
    c.cancel(subscriber)
    c.require(probe.cancelled, "cancel() must reach the subscription")
    for i in range(min(probe.requested, 3)):
        c.call(subscriber, "on_next", c.verification.element(i))  # in flight
    c.call(subscriber, "on_completed")


def _check_2_9(c: _SubscriberCheck) -> None:
    subscriber = c.subscriber()
    c.call(subscriber, "on_subscribe", ProbeSubscription())
    c.call(subscriber, "on_completed")  # no request, no item
    subscriber = c.subscriber()
    probe = c.subscribe(subscriber)
    for i in range(min(probe.requested, 3)):
        c.call(subscriber, "on_next", c.verification.element(i))
    c.call(subscriber, "on_completed")


def _check_2_10(c: _SubscriberCheck) -> None:
    subscriber = c.subscriber()
    c.call(subscriber, "on_subscribe", ProbeSubscription())
    c.call(subscriber, "on_error", _Failure("2.10 check"))  # no request, no item


class _Failure(Exception):
    """The error the subscriber checks signal."""


SUBSCRIBER_RULES: tuple[SubscriberRule, ...] = (
    SubscriberRule("2.1", "signals demand after on_subscribe", _check_2_1),
    SubscriberRule("2.3", "on_completed / on_error do not call the subscription", _check_2_3),
    SubscriberRule("2.4", "after on_completed / on_error the subscription is done", _check_2_4),
    SubscriberRule("2.5", "a second on_subscribe is cancelled", _check_2_5),
    SubscriberRule("2.8", "on_next after cancel (in flight) is accepted", _check_2_8, True),
    SubscriberRule("2.9", "on_completed with or without a request is accepted", _check_2_9),
    SubscriberRule("2.10", "on_error without a request is accepted", _check_2_10),
)

_BY_ID = {rule.id: rule for rule in SUBSCRIBER_RULES}


class SubscriberVerification:
    """Checks a subscriber against the Reactive Streams subscriber rules.

    ``factory()`` must return a fresh, unsubscribed subscriber. The checks act as its
    publisher: they call ``on_subscribe`` with a :class:`ProbeSubscription`, which records
    what the subscriber asks for, then ``on_next`` / ``on_completed`` / ``on_error``
    directly, on the calling thread. Every call must return normally (rule 2.13).

    To check the subscriber an operator puts upstream (a segment, ``take``, an async
    iterator), subscribe the operator to a :class:`ManualPublisher` in the factory and
    return its ``subscriber``.

    Errors that reach rxspike's undeliverable hook during a check are captured, not logged
    (a subscriber without ``on_error`` reports errors there, and a rule 2.5 violation), and
    kept in :attr:`undeliverable` until the next check; they do not fail it.

    Args:
        factory: ``() -> subscriber``.
        trigger_request: makes the subscriber signal demand, for subscribers whose demand
            your code drives (``lambda s: s.request(1)`` for :class:`RequestSubscriber`);
            ``None`` if it asks on its own from ``on_subscribe``.
        element: the item for the ``i``-th ``on_next`` (default: ``i``).
        skip: ids of checks not to run, or a mapping of id to the reason.

    >>> from rxspike import LambdaSubscriber
    >>> SubscriberVerification(lambda: LambdaSubscriber(lambda item: None)).verify().ok
    True
    """

    def __init__(
        self,
        factory: SubscriberFactory,
        *,
        trigger_request: Callable[[Any], None] | None = None,
        element: Callable[[int], Any] = lambda i: i,
        skip: Iterable[str] | Mapping[str, str] = (),
    ) -> None:
        skips = dict(skip) if isinstance(skip, Mapping) else dict.fromkeys(skip, "skipped")
        unknown = sorted(set(skips) - set(_BY_ID))
        if unknown:
            raise ValueError(f"unknown rule ids in skip: {unknown}; known: {list(_BY_ID)}")
        self.factory = factory
        self.trigger_request = trigger_request
        self.element = element
        self.skip: dict[str, str] = skips
        #: What reached the undeliverable hook during the last check.
        self.undeliverable: UndeliverableErrors = UndeliverableErrors()

    @staticmethod
    def rule_ids() -> list[str]:
        """The ids of every check, for ``pytest.mark.parametrize``."""
        return [rule.id for rule in SUBSCRIBER_RULES]

    def check(self, rule_id: str) -> None:
        """Run one check.

        Raises:
            RuleViolation: the subscriber broke a rule.
            RuleSkipped: the check does not apply (switched off, or no ``cancel()``).
            ValueError: ``rule_id`` is not one of :meth:`rule_ids`.
        """
        try:
            rule = _BY_ID[rule_id]
        except KeyError:
            raise ValueError(f"unknown rule id {rule_id!r}; known: {list(_BY_ID)}") from None
        if rule.id in self.skip:
            raise RuleSkipped(rule.id, self.skip[rule.id])
        if rule.needs_cancel and not hasattr(self.factory(), "cancel"):
            raise RuleSkipped(rule.id, "the subscriber has no cancel() to call")
        with capture_undeliverable() as self.undeliverable:
            rule.check(_SubscriberCheck(self, rule))

    def verify(self) -> VerificationReport:
        """Run every check; raise if any rule was broken.

        Raises:
            RuleViolation: listing every broken rule.
        """
        return make_report([run_outcome(rule.id, self.check) for rule in SUBSCRIBER_RULES])


def verify_subscriber(factory: SubscriberFactory, **options: Any) -> VerificationReport:
    """Check ``factory``'s subscribers against every subscriber rule and return the report.

    Takes the options of :class:`SubscriberVerification`.

    Raises:
        RuleViolation: listing every broken rule.

    >>> from rxspike import RequestSubscriber
    >>> verify_subscriber(RequestSubscriber, trigger_request=lambda s: s.request(1)).ok
    True
    """
    return SubscriberVerification(factory, **options).verify()
