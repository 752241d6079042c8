"""The connection's end, seen the moment it happens and told apart by who ended it.

An idle stream (its source waiting for its next item) learns of the client's FIN from the
connection itself, not from a periodic look at ``request.transport``: its source's finalizer
runs at once. The latency figures are in ``make bench``; here a bound a periodic check could
not meet for every one of several clients leaving at different moments.

A connection the server closes under a stream (a proxy's or the application's cut) is not a
client that left: its reason is ``server_closed``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
import reactivex.operators as ops
from aiohttp import web

import rxspike
import rxspike.web as rw
from rxspike.operators import ThrottleMode, throttle

from .conftest import ServeFactory, eventually

CLIENTS = 8
#: Between two clients leaving: the departures cover the phases of any periodic check up to
#: CLIENTS * SPACING seconds long, so a poll would leave at least one finalizer waiting long.
SPACING = 0.04
#: Well above what an event-driven notice takes on a loaded machine (about 1 ms unloaded);
#: well below what a 250 ms poll leaves for one of the 8 spaced departures (at least 210 ms).
BOUND = 0.15


@pytest.mark.parametrize("handler_cancellation", [False], ids=["production"])
async def test_an_idle_streams_finalizer_runs_as_its_client_leaves(
    serve: ServeFactory,
) -> None:
    loop = asyncio.get_running_loop()
    finalized: dict[int, float] = {}
    streaming = asyncio.Semaphore(0)

    async def one_then_silence(key: int) -> AsyncIterator[str]:
        try:
            yield "first"
            await asyncio.Event().wait()  # nothing more, ever
        finally:
            finalized[key] = loop.time()

    async def handle(request: web.Request) -> web.StreamResponse:
        streaming.release()
        return await rw.sse(
            request,
            one_then_silence(int(request.query["k"])),
            options=rw.StreamOptions(heartbeat=None),
        )

    served = await serve(handle)
    connections = []
    for key in range(CLIENTS):
        reader, writer = await asyncio.open_connection(*served.url[7:].split(":"))
        writer.write(f"GET /?k={key} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await reader.readuntil(b"data: first\n\n")
        connections.append(writer)
    async with asyncio.timeout(5):
        for _ in range(CLIENTS):
            await streaming.acquire()
    left: dict[int, float] = {}
    for key, writer in enumerate(connections):
        writer.close()  # a FIN while the stream waits for an item that never comes
        left[key] = loop.time()
        await asyncio.sleep(SPACING)
    await eventually(lambda: len(finalized) == CLIENTS)
    late = {key: round(finalized[key] - left[key], 3) for key in left}
    assert max(late.values()) < BOUND, late
    for stats in await served.wait_ended(CLIENTS):
        assert stats.reason is rw.EndReason.CLIENT_GONE


async def test_a_connection_the_server_closes_is_not_a_client_gone(
    serve: ServeFactory, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rxspike.web")
    closed = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        def close_after_three(seq: int) -> int:
            if seq == 3 and request.transport is not None:
                request.transport.close()  # what a proxy, or the demo's drop_after, does
                closed.set()
            return seq

        flow = rxspike.from_iterable(range(100)).pipe(
            throttle(200, 1, ThrottleMode.SHAPE), ops.map(close_after_three)
        )
        return await rw.sse(request, flow)

    served = await serve(handle)
    async with session.get(served.url) as response:
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert closed.is_set()
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.SERVER_CLOSED
    assert any("server_closed" in r.getMessage() for r in caplog.records)
