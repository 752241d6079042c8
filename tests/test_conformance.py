"""Every Reactive Streams rule of rxspike.testing against every source and operator.

The cases live in tests/conformance_cases.py (its docstring says how to add one).
"""

from __future__ import annotations

import pytest

from rxspike.testing import PublisherVerification, SubscriberVerification

from .conformance_cases import CASES, SUBSCRIBERS, Case, SubscriberCase


@pytest.mark.parametrize("rule", PublisherVerification.rule_ids())
@pytest.mark.parametrize("case", CASES, ids=str)
def test_publisher_rule(case: Case, rule: str) -> None:
    case.verification().check(rule)


@pytest.mark.parametrize("rule", PublisherVerification.rule_ids())
async def test_publisher_rule_on_the_callers_loop(rule: str) -> None:
    # The same rules through acheck(): the publisher runs on the test's own event loop.
    case = next(c for c in CASES if c.name == "from_async_iterable")
    await case.verification().acheck(rule)


@pytest.mark.parametrize("rule", SubscriberVerification.rule_ids())
@pytest.mark.parametrize("case", SUBSCRIBERS, ids=str)
async def test_subscriber_rule(case: SubscriberCase, rule: str) -> None:
    # Async only so that subscribers which need the running loop (async for) can be made.
    case.verification().check(rule)
