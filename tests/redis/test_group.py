"""``group_source``: a consumer group hands every entry to one consumer; what a dead
consumer left unacknowledged is claimed by the others, so every entry is acknowledged once."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from redis.asyncio import Redis

from rxspike.redis import GroupEntry, GroupNotFoundError, group_source
from rxspike.testing import TestSubscriber

from .test_stream_source import add


async def test_every_entry_is_acknowledged_exactly_once_though_a_consumer_dies(
    client: Redis,
) -> None:
    ids = await add(client, "jobs", 300)
    acked: Counter[str] = Counter()
    claimed: list[str] = []
    all_acked = asyncio.Event()

    async def work(name: str, stop_after: int | None = None) -> None:
        """Handle entries until the group has nothing left; ``stop_after``: die (no ack)."""
        flow = group_source(
            client, "jobs", "g", name, start="0", claim_idle=0.2, batch=10, block=0.05
        )
        handled = 0
        async for entry in flow.iterate(prefetch=5):
            if stop_after is not None and handled == stop_after:
                return  # dies holding the entries it read (and prefetched) unacknowledged
            await asyncio.sleep(0)  # the work
            await entry.ack()
            acked[entry.id] += 1
            if acked.total() == len(ids):
                all_acked.set()
            handled += 1
            if entry.claimed:
                claimed.append(entry.id)

    await asyncio.wait_for(work("doomed", stop_after=20), 10)
    pending = await client.xpending("jobs", "g")
    assert pending["pending"] > 0  # what it read and never acknowledged
    survivors = [asyncio.create_task(work(name)) for name in ("a", "b")]
    try:
        await asyncio.wait_for(all_acked.wait(), 20)
        await asyncio.sleep(0.3)  # more than claim_idle: a second delivery would show now
    finally:
        for task in survivors:
            task.cancel()
        await asyncio.gather(*survivors, return_exceptions=True)
    assert sorted(acked) == sorted(ids) and set(acked.values()) == {1}
    assert claimed, "the dead consumer's entries were claimed by the survivors"
    assert (await client.xpending("jobs", "g"))["pending"] == 0


async def test_demand_is_the_count_of_xreadgroup(client: Redis) -> None:
    await add(client, "jobs", 100)
    first = TestSubscriber[GroupEntry](initial_request=7)
    second = TestSubscriber[GroupEntry](initial_request=100)
    group_source(client, "jobs", "g", "one", start="0", claim_idle=None).subscribe(first)
    await first.await_values(7, timeout=5)
    await asyncio.sleep(0.05)
    group_source(client, "jobs", "g", "two", claim_idle=None).subscribe(second)
    await second.await_values(93, timeout=5)  # what "one" did not ask for stayed available
    consumers = {c["name"]: c["pending"] for c in await client.xinfo_consumers("jobs", "g")}
    assert consumers == {"one": 7, "two": 93}
    first.cancel()
    second.cancel()
    first.assert_no_violations()


async def test_a_restarted_consumer_gets_its_own_pending_entries_first(client: Redis) -> None:
    ids = await add(client, "jobs", 10)
    before = TestSubscriber[GroupEntry](initial_request=4)
    group_source(client, "jobs", "g", "w", start="0", claim_idle=None).subscribe(before)
    await before.await_values(4, timeout=5)
    await before.values[0].ack()
    before.cancel()
    after = TestSubscriber[GroupEntry](initial_request=10)
    group_source(client, "jobs", "g", "w", claim_idle=None).subscribe(after)
    await after.await_values(9, timeout=5)
    # the three read and not acknowledged come back first, then the six never read
    assert [entry.id for entry in after.values] == ids[1:4] + ids[4:]
    after.cancel()


async def test_a_missing_group_is_a_clear_error_without_create(client: Redis) -> None:
    await add(client, "jobs", 1)
    subscriber = TestSubscriber[GroupEntry](initial_request=1)
    group_source(client, "jobs", "absent", "w", create=False).subscribe(subscriber)
    await subscriber.await_done(timeout=5)
    subscriber.assert_error(GroupNotFoundError, "create=True")


@pytest.mark.parametrize(
    ("option", "message"),
    [({"group": ""}, "group must be"), ({"consumer": ""}, "consumer must be"),
     ({"claim_idle": -1.0}, "claim_idle"), ({"start": "x"}, "invalid stream entry id")],
)  # fmt: skip
def test_bad_group_options_are_refused(option: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"group": "g", "consumer": "c", **option}
    with pytest.raises(ValueError, match=message):
        group_source(Redis(), "jobs", **arguments)  # type: ignore[arg-type]
