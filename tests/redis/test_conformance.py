"""The Reactive Streams publisher rules of ``rxspike.testing`` against the Redis sources,
on the test's own event loop with request and cancel from the checking thread.

One test per source runs every rule (``averify``) against one redis-server, which is
started once per test: a server per rule would cost more than the rules."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from rxspike.redis import group_source, stream_source
from rxspike.testing import PublisherVerification

from .test_stream_source import add

ENTRIES = 2000

#: The rules that need a publisher that completes: a Redis stream never does.
NEEDS_COMPLETION = {"1.2", "1.5", "1.5-empty", "1.6", "1.7"}


async def test_stream_source_follows_the_publisher_rules(client: Redis) -> None:
    await add(client, "k", ENTRIES)
    await client.set("text", "not a stream")
    verification = PublisherVerification(
        lambda n: stream_source(client, "k", after="0", block=0.05),
        failing_factory=lambda: stream_source(client, "text", after="0"),
        infinite=True,  # a stream never completes; this one holds ENTRIES entries
        max_elements=ENTRIES,
        on_loop=True,
    )
    report = await verification.averify()
    assert report.ok, report.failed
    assert {rule for rule, _ in report.skipped} <= NEEDS_COMPLETION, report.skipped
    assert "1.4" in report.passed  # WRONGTYPE is signalled as an error


async def test_group_source_follows_the_publisher_rules(client: Redis) -> None:
    await add(client, "jobs", ENTRIES)
    made = 0

    def fresh(_: int) -> Any:  # a new group per publisher: each sees every entry
        nonlocal made
        made += 1
        return group_source(client, "jobs", f"g{made}", "c", start="0", claim_idle=None)

    verification = PublisherVerification(
        fresh,
        failing_factory=lambda: group_source(client, "jobs", "absent", "c", create=False),
        infinite=True,
        max_elements=ENTRIES,
        on_loop=True,
    )
    report = await verification.averify()
    assert report.ok, report.failed
    assert {rule for rule, _ in report.skipped} <= NEEDS_COMPLETION, report.skipped
