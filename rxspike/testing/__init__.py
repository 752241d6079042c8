"""rxspike's Reactive Streams conformance kit: check any publisher, or subscriber, of yours.

A Python port of the publisher rules of the Reactive Streams TCK, plus the subscriber rules
for rxspike-style subscribers, and the test doubles they are built from:

- :class:`PublisherVerification` / :func:`verify_publisher`: every automated publisher rule
  against ``factory(n) -> publisher``; each rule also runs on its own (``check(rule_id)``), so
  pytest can parametrize rule x publisher.
- :class:`SubscriberVerification` / :func:`verify_subscriber`: the subscriber rules against
  ``factory() -> subscriber``.
- :class:`TestSubscriber`: records values, errors and completions with time and thread,
  requests when told, waits with timeouts (blocking or ``await``), asserts with clear
  messages, and flags every rule the publisher breaks while it watches.
- :class:`ManualPublisher`, :class:`ProbeSubscription`: a publisher and a subscription your
  test drives by hand.
- :class:`MisbehavingPublisher`: a publisher that breaks one rule on purpose, to check that a
  consumer turns that into a clear error instead of growing or hanging.
- :func:`capture_undeliverable`: collect what reaches rxspike's undeliverable-error hook.

In a test suite::

    import pytest
    from rxspike.testing import PublisherVerification

    verification = PublisherVerification(
        lambda n: my_publisher(n), failing_factory=lambda: my_failing_publisher()
    )

    @pytest.mark.parametrize("rule", PublisherVerification.rule_ids())
    def test_my_publisher(rule):
        verification.check(rule)   # skipped rules raise RuleSkipped, a unittest.SkipTest

>>> from rxspike import range_
>>> verify_publisher(lambda n: range_(n)).passed[:3]
('1.1', '1.2', '1.3')
"""

from ._capture import UndeliverableErrors, capture_undeliverable
from ._doubles import ManualPublisher, ProbeSubscription
from ._errors import RuleSkipped, RuleViolation
from ._misbehaving import MisbehavingPublisher, Misbehaviour
from ._publisher_rules import (
    PublisherRule,
    PublisherVerification,
    VerificationReport,
    verify_publisher,
)
from ._runner import Publisher
from ._subscriber_rules import SubscriberRule, SubscriberVerification, verify_subscriber
from ._test_subscriber import DEFAULT_TIMEOUT, Signal, SignalKind, TestSubscriber, Violation

__all__ = [
    "DEFAULT_TIMEOUT",
    "ManualPublisher",
    "MisbehavingPublisher",
    "Misbehaviour",
    "ProbeSubscription",
    "Publisher",
    "PublisherRule",
    "PublisherVerification",
    "RuleSkipped",
    "RuleViolation",
    "Signal",
    "SignalKind",
    "SubscriberRule",
    "SubscriberVerification",
    "TestSubscriber",
    "UndeliverableErrors",
    "VerificationReport",
    "Violation",
    "capture_undeliverable",
    "verify_publisher",
    "verify_subscriber",
]
