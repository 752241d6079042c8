"""Redis going away mid-stream: the source reconnects with backoff and continues after the
last entry it delivered (no gap, no duplicate); past its retry budget it fails clearly."""

from __future__ import annotations

import asyncio
import signal

from redis.asyncio import Redis

from rxspike.redis import Reconnect, RedisUnavailableError, StreamEntry, stream_source
from rxspike.testing import TestSubscriber

from .server import RedisServer
from .test_stream_source import add, seqs

#: Quick retries, so that the tests take fractions of a second.
QUICK = Reconnect(attempts=50, first_delay=0.01, max_delay=0.1, read_timeout=0.5)


async def kill_readers(client: Redis) -> int:
    """``CLIENT KILL`` every connection blocked in or last running an XREAD; how many."""
    killed = 0
    for info in await client.client_list():
        if info.get("cmd") == "xread":
            killed += await client.client_kill_filter(_id=info["id"])
    return killed


async def test_cut_connections_are_reopened_and_reading_continues_without_gap(
    client: Redis, redis_server: RedisServer
) -> None:
    reader = Redis.from_url(redis_server.url, decode_responses=True)
    subscriber = TestSubscriber[StreamEntry](initial_request=10**6)
    stream_source(reader, "k", after="0", batch=20, block=0.05, reconnect=QUICK).subscribe(
        subscriber
    )
    kills = 0
    for round_ in range(5):  # publish while the reader's connections are cut under it
        await add(client, "k", 200, start=round_ * 200)
        await asyncio.sleep(0.02)
        kills += await kill_readers(client)
    await subscriber.await_values(1000, timeout=10)
    subscriber.cancel()
    await reader.aclose()
    assert kills >= 3
    assert seqs(subscriber.values) == list(range(1000))  # no gap, no duplicate
    subscriber.assert_not_terminated().assert_no_violations()


async def test_a_restarted_redis_is_read_on_from_the_last_id(
    client: Redis, redis_server: RedisServer
) -> None:
    """A crash (SIGKILL) and a restart from the last save: what Redis kept is read on
    from where the subscriber was, nothing twice. (Without persistence a restart comes back
    empty: then only entries added after it arrive, and their ids are higher anyway.)"""
    await add(client, "k", 300)
    await client.save()  # dump.rdb: what the restarted server will have
    reader = Redis.from_url(redis_server.url, decode_responses=True)
    subscriber = TestSubscriber[StreamEntry](initial_request=100)
    stream_source(reader, "k", after="0", batch=50, reconnect=QUICK).subscribe(subscriber)
    await subscriber.await_values(100, timeout=5)
    redis_server.kill()
    subscriber.request(200)  # asked for while Redis is down: read once it is back
    await asyncio.sleep(0.2)
    redis_server.start()
    await subscriber.await_values(300, timeout=10)
    subscriber.cancel()
    await reader.aclose()
    assert seqs(subscriber.values) == list(range(300))
    subscriber.assert_not_terminated().assert_no_violations()


async def test_a_frozen_redis_is_given_up_on_per_read_and_read_again(
    client: Redis, redis_server: RedisServer
) -> None:
    """SIGSTOP: no error, no reply. The read times out (``read_timeout`` past its BLOCK),
    its connection is dropped, and a new one reads on once the server thaws."""
    await add(client, "k", 50)
    reader = Redis.from_url(redis_server.url, decode_responses=True)
    policy = Reconnect(attempts=50, first_delay=0.01, max_delay=0.05, read_timeout=0.2)
    subscriber = TestSubscriber[StreamEntry](initial_request=50)
    stream_source(reader, "k", after="0", block=0.05, reconnect=policy).subscribe(subscriber)
    await subscriber.await_values(50, timeout=5)
    redis_server.signal(signal.SIGSTOP)
    try:
        await asyncio.sleep(0.6)  # several read timeouts
    finally:
        redis_server.signal(signal.SIGCONT)
    await add(client, "k", 50, start=50)
    subscriber.request(50)
    await subscriber.await_values(100, timeout=10)
    subscriber.cancel()
    await reader.aclose()
    assert seqs(subscriber.values) == list(range(100))
    subscriber.assert_no_violations()


async def test_past_the_retry_budget_the_subscriber_gets_a_clear_error(
    client: Redis, redis_server: RedisServer
) -> None:
    ids = await add(client, "k", 5)
    reader = Redis.from_url(redis_server.url, decode_responses=True)
    policy = Reconnect(attempts=3, first_delay=0.01, max_delay=0.02, read_timeout=0.5)
    subscriber = TestSubscriber[StreamEntry](initial_request=5)
    stream_source(reader, "k", after="0", reconnect=policy).subscribe(subscriber)
    await subscriber.await_values(5, timeout=5)
    redis_server.kill()
    subscriber.request(1)
    await subscriber.await_done(timeout=10)
    await reader.aclose()
    subscriber.assert_error(RedisUnavailableError, r"4 attempts in a row failed")
    error = subscriber.errors[0]
    assert isinstance(error, RedisUnavailableError) and error.last_id == ids[-1]
    assert ids[-1] in str(error) and isinstance(error.__cause__, Exception)
