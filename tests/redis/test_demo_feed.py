"""The demo's Redis feed: its publisher task, ``POST /publish``, and the CLI's options;
the reconnect policy's validation."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from click.testing import CliRunner
from redis.asyncio import Redis

from rxspike.cli import main
from rxspike.demo import make_app
from rxspike.demo.redis_feed import FEED_KEY
from rxspike.redis import Reconnect

from .server import RedisServer


async def test_the_publisher_task_and_publish_endpoint_make_one_sequence(
    client: Redis, redis_server: RedisServer
) -> None:
    runner = web.AppRunner(make_app(redis_url=redis_server.url, publish_rate=500), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as session:
            url = f"http://{host}:{port}/publish"
            async with session.post(url, params={"count": "50"}) as response:
                assert response.status == 200 and (await response.json())["key"] == FEED_KEY
            async with session.post(url, params={"count": "0"}) as response:
                assert response.status == 400
                assert (await response.json())["parameter"] == "count"
        for _ in range(300):  # the task publishes too (within 3 s)
            if await client.xlen(FEED_KEY) >= 100:
                break
            await asyncio.sleep(0.01)
    finally:
        await runner.cleanup()
    entries: Any = await client.xrange(FEED_KEY)
    seqs = [int(fields["seq"]) for _, fields in entries]
    assert len(seqs) >= 100 and seqs == list(range(len(seqs)))  # one sequence, in id order


def test_publish_rate_needs_a_redis_url() -> None:
    result = CliRunner().invoke(main, ["serve", "--publish-rate", "5"])
    assert result.exit_code == 2 and "--publish-rate needs --redis-url" in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"attempts": -1}, "attempts"), ({"first_delay": 3.0, "max_delay": 1.0}, "first_delay"),
     ({"read_timeout": 0.0}, "read_timeout")],
)  # fmt: skip
def test_a_bad_reconnect_policy_is_refused(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Reconnect(**arguments)
