"""``stream_source`` against a real redis-server: order, starting points, demand reaching
Redis as ``XREAD COUNT``, cancel ending a pending ``BLOCK``, and clear errors."""

from __future__ import annotations

import asyncio
import re

import pytest
from redis.asyncio import Redis

from rxspike.redis import (
    InvalidEntryIdError,
    StreamEntry,
    StreamNotFoundError,
    WrongKeyTypeError,
    stream_source,
)
from rxspike.testing import TestSubscriber

from .server import RedisServer


async def add(client: Redis, key: str, count: int, start: int = 0) -> list[str]:
    """XADD ``seq`` = start..start+count-1; the new ids."""
    pipe = client.pipeline(transaction=False)
    for seq in range(start, start + count):
        pipe.xadd(key, {"seq": seq})
    return [str(i) for i in await pipe.execute()]


def seqs(entries: list[StreamEntry]) -> list[int]:
    return [int(entry.fields["seq"]) for entry in entries]


async def test_reads_from_the_beginning_after_an_id_and_from_the_tail(client: Redis) -> None:
    ids = await add(client, "k", 5)
    everything = TestSubscriber[StreamEntry](initial_request=10)
    after = TestSubscriber[StreamEntry](initial_request=10)
    tail = TestSubscriber[StreamEntry](initial_request=10)
    stream_source(client, "k", after="0").subscribe(everything)
    stream_source(client, "k", after=ids[2]).subscribe(after)
    stream_source(client, "k").subscribe(tail)  # "$": only what is added from now on
    await everything.await_values(5, timeout=5)
    await after.await_values(2, timeout=5)
    await asyncio.sleep(0.05)  # the tail reader has started (it resolved "$" to an id)
    await add(client, "k", 2, start=5)
    await tail.await_values(2, timeout=5)
    await everything.await_values(7, timeout=5)
    assert seqs(everything.values) == list(range(7))
    assert [entry.id for entry in everything.values[:5]] == ids
    assert seqs(after.values) == [3, 4, 5, 6]
    assert seqs(tail.values) == [5, 6]
    for subscriber in (everything, after, tail):
        subscriber.cancel()
        subscriber.assert_not_terminated().assert_no_violations()


async def test_demand_reaches_redis_as_xread_count(
    client: Redis, redis_server: RedisServer
) -> None:
    await add(client, "k", 1000)
    seen: list[str] = []
    monitor = Redis.from_url(redis_server.url, decode_responses=True)

    async def watch() -> None:
        async with monitor.monitor() as listening:
            async for command in listening.listen():
                seen.append(str(command.get("command", "")))

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.1)
    subscriber = TestSubscriber[StreamEntry]()
    stream_source(client, "k", after="0", batch=50).subscribe(subscriber)
    await asyncio.sleep(0.1)
    assert not [c for c in seen if c.lower().startswith("xread")], "read before any demand"
    subscriber.request(3)
    await subscriber.await_values(3, timeout=5)
    subscriber.request(200)  # more than a batch: two round trips, the first a full batch
    await subscriber.await_values(203, timeout=5)
    await asyncio.sleep(0.1)
    subscriber.cancel()
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    await monitor.aclose()
    counts = [int(m[1]) for c in seen if (m := re.match(r"XREAD BLOCK \d+ COUNT (\d+)", c, re.I))]
    assert counts == [3, 50, 50, 50, 50], seen  # COUNT is the demand, up to a batch
    assert len(subscriber.values) == 203
    subscriber.assert_no_violations()


async def test_cancel_ends_a_pending_block_at_once(client: Redis) -> None:
    await client.xadd("k", {"seq": 0})
    subscriber = TestSubscriber[StreamEntry](initial_request=1)
    stream_source(client, "k", block=60.0).subscribe(subscriber)  # idle: blocks a minute
    for _ in range(200):
        if (await client.info("clients"))["blocked_clients"] == 1:
            break
        await asyncio.sleep(0.01)
    assert (await client.info("clients"))["blocked_clients"] == 1
    subscriber.cancel()
    for _ in range(100):
        if (await client.info("clients"))["blocked_clients"] == 0:
            break
        await asyncio.sleep(0.01)
    assert (await client.info("clients"))["blocked_clients"] == 0, "the XREAD still blocks"
    subscriber.assert_no_values().assert_not_terminated().assert_no_violations()


@pytest.mark.parametrize("bad", ["bogus", "12-", "-1", "1-2-3", "99999999999999999999999", ""])
def test_a_bad_start_id_is_a_value_error_that_names_the_allowed_forms(bad: str) -> None:
    with pytest.raises(InvalidEntryIdError, match=r"milliseconds.*sequence") as caught:
        stream_source(Redis(), "k", after=bad)
    assert isinstance(caught.value, ValueError) and repr(bad) in str(caught.value)


@pytest.mark.parametrize("option", [{"batch": 0}, {"block": 0.0}])
def test_bad_read_options_are_refused(option: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(option))):
        stream_source(Redis(), "k", **option)  # type: ignore[arg-type]


async def test_a_missing_key_is_an_error_when_required(client: Redis) -> None:
    subscriber = TestSubscriber[StreamEntry](initial_request=1)
    stream_source(client, "nope", must_exist=True).subscribe(subscriber)
    await subscriber.await_done(timeout=5)
    subscriber.assert_error(StreamNotFoundError, "'nope' does not exist")


async def test_a_key_of_another_type_is_a_wrong_type_error(client: Redis) -> None:
    await client.set("text", "not a stream")
    subscriber = TestSubscriber[StreamEntry](initial_request=1)
    stream_source(client, "text", after="0").subscribe(subscriber)
    await subscriber.await_done(timeout=5)
    subscriber.assert_error(WrongKeyTypeError, "'text' does not hold a stream")


def test_subscribing_without_a_loop_is_a_clear_error() -> None:
    subscriber = TestSubscriber[StreamEntry](initial_request=1)
    stream_source(Redis(), "k").subscribe(subscriber)
    subscriber.assert_error(RuntimeError, "event loop is running")
