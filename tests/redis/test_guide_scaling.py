"""The "Scaling out" program of docs/guide.md runs against a real redis-server and does what
the guide says: entry ids as event ids, ``Last-Event-ID`` resuming from Redis, 400 for a
malformed id."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from .server import RedisServer
from .test_sse import events

GUIDE = Path(__file__).parents[2] / "docs" / "guide.md"
PROGRAMS = [
    block
    for block in re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    if "app = web.Application()" in block and "rxspike.redis" in block
]


def test_the_guide_has_one_redis_program() -> None:
    assert len(PROGRAMS) == 1


async def test_the_scaling_out_program_resumes_from_redis(
    client: Redis, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    namespace: dict[str, Any] = {"__name__": "guide_example"}
    exec(compile(PROGRAMS[0], f"{GUIDE}:Scaling out", "exec"), namespace)
    runner = web.AppRunner(namespace["app"], access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}/prices"
        ids = [str(await client.xadd("prices", {"price": p})) for p in (101, 102, 103)]
        async with aiohttp.ClientSession() as session:
            headers = {"Last-Event-ID": ids[0]}
            async with session.get(url, headers=headers) as response:
                assert response.status == 200
                assert await events(response, 2) == [
                    (ids[1], '{"price":"102"}'),
                    (ids[2], '{"price":"103"}'),
                ]
            async with session.get(url, headers={"Last-Event-ID": "nope"}) as response:
                assert response.status == 400
                body = await response.json()
                assert body["type"] == "InvalidLastEventId" and "'nope'" in body["error"]
    finally:
        await runner.cleanup()
