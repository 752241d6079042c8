"""Application shutdown with open streams: they end at once (reason ``shutdown``) instead of
holding aiohttp's shutdown for its timeout, and their clients see a failed stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

import rxspike.web as rw

from .conftest import ServeFactory, read_all


async def test_shutdown_ends_open_streams(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    finalized = asyncio.Event()

    async def endless() -> AsyncIterator[dict[str, int]]:
        try:
            yield {"n": 0}
            await asyncio.Event().wait()
        finally:
            finalized.set()

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.ndjson(request, endless())

    served = await serve(handle)
    response = await session.get(served.url)
    assert await response.content.readline() == b'{"n":0}\n'
    async with asyncio.timeout(10):  # aiohttp alone would wait its shutdown_timeout (5 s here)
        _, (body, error), _ = await asyncio.gather(
            served.runner.cleanup(), read_all(response), finalized.wait()
        )
    response.close()
    assert body == (
        b'{"error":{"error":"Service Unavailable: the server is shutting down",'
        b'"status":503,"stream":1}}\n'
    )
    assert isinstance(error, aiohttp.ClientPayloadError)
    [stats] = served.registry.recent()
    assert stats.reason is rw.EndReason.SHUTDOWN
