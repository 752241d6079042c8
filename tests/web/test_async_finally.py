"""A real server's stream over an async generator whose ``finally`` awaits (a cursor's
``await close()``): a client that leaves, and a server that shuts down, both let that
clean-up run to its end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

import rxspike
import rxspike.web as rw

from .conftest import ServeFactory, eventually


class Cursor:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        await asyncio.sleep(0.01)
        await asyncio.sleep(0)
        self.closed = True


async def rows(cursor: Cursor) -> AsyncIterator[dict[str, int]]:
    try:
        n = 0
        while True:
            yield {"row": n, "pad": 10**30}
            n += 1
            await asyncio.sleep(0)
    finally:
        await cursor.close()


def endpoint(cursor: Cursor) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.ndjson(request, rxspike.from_async_iterable(rows(cursor)))

    app = web.Application()
    rw.setup(app)
    app.router.add_get("/", handle)
    return app


async def test_a_client_that_leaves_lets_the_finally_finish(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    cursor = Cursor()
    served = await serve(app=endpoint(cursor))
    response = await session.get(served.url)
    await response.content.readexactly(64 * 1024)  # the server is busy writing
    response.close()
    await eventually(lambda: cursor.closed)
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.CLIENT_GONE


async def test_a_shutdown_lets_the_finally_finish(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    cursor = Cursor()
    served = await serve(app=endpoint(cursor))
    response = await session.get(served.url)
    await response.content.readexactly(16 * 1024)
    cleanup = asyncio.create_task(served.runner.cleanup())
    await response.read()  # the goodbye record, then the end of the body
    await cleanup
    await eventually(lambda: cursor.closed)
