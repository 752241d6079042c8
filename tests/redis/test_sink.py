"""``write_stream``: pipelined XADD, MAXLEN trimming, and demand paced by Redis's replies,
so a stalled Redis stalls the producer instead of filling memory."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest
import reactivex.operators as ops
from redis.asyncio import Redis

import rxspike
from rxspike.redis import write_stream

from .._support import spy
from .server import RedisServer


def numbered(count: int) -> rxspike.Flowable[Any]:
    return rxspike.range_(count).pipe(ops.map(lambda seq: {"seq": seq}))


async def test_writes_every_item_in_order_and_trims_to_about_maxlen(client: Redis) -> None:
    written = await write_stream(numbered(3000), client, "out", maxlen=500, batch=100)
    assert written == 3000
    length = await client.xlen("out")
    assert 500 <= length < 700  # "MAXLEN ~": whole nodes are trimmed, never below 500
    last: Any = await client.xrevrange("out", count=length)
    assert [int(fields["seq"]) for _, fields in reversed(last)] == list(range(3000 - length, 3000))


async def test_a_stalled_redis_stalls_the_producer(
    client: Redis, redis_server: RedisServer
) -> None:
    flow, seen = spy(numbered(6000))
    writer = Redis.from_url(redis_server.url, decode_responses=True, socket_timeout=30)
    task = asyncio.create_task(write_stream(flow, writer, "out", batch=64))
    for _ in range(10_000):  # at most 10 s
        if seen.emitted >= 1000:
            break
        await asyncio.sleep(0.001)
    redis_server.signal(signal.SIGSTOP)
    try:
        await asyncio.sleep(0.1)  # the pipeline in flight is stuck now
        requested, emitted = sum(seen.requests), seen.emitted
        await asyncio.sleep(0.4)
        assert (sum(seen.requests), seen.emitted) == (requested, emitted), "kept producing"
        assert requested - emitted <= 64 and emitted < 6000
    finally:
        redis_server.signal(signal.SIGCONT)
    assert await asyncio.wait_for(task, 20) == 6000
    await writer.aclose()
    assert sum(seen.requests) <= 6000 + 64  # never more than a batch ahead of Redis
    assert await client.xlen("out") == 6000


async def test_an_upstream_error_is_raised_after_what_came_before_it(client: Redis) -> None:
    class Boom(Exception):
        pass

    flow = rxspike.range_(10).pipe(
        ops.map(lambda seq: {"seq": seq} if seq < 7 else (_ for _ in ()).throw(Boom()))
    )
    with pytest.raises(Boom):
        await write_stream(flow, client, "out", batch=100)
    assert await client.xlen("out") <= 7


async def test_an_item_that_is_not_a_mapping_is_a_clear_error(client: Redis) -> None:
    with pytest.raises(ValueError, match="must be mappings of fields, got int"):
        await write_stream(rxspike.range_(3), client, "out")
    with pytest.raises(ValueError, match="batch must be"):
        await write_stream(numbered(1), client, "out", batch=0)
