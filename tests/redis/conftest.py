"""Fixtures of the Redis tests: a real redis-server per test, and clients of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from .server import RedisServer, redis_server_binary


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(redis_server_binary(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A decoding client (fields are ``str``); closed after the test."""
    redis = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield redis
    finally:
        await redis.aclose()
