"""Demand from the socket: bounded memory behind a slow reader, coalesced writes, bounds kept."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

import rxspike
import rxspike.web as rw
from rxspike import demo

from .._support import spy
from .conftest import ServeFactory

#: 8 MiB through a reader that takes 8 KiB per millisecond at most.
SLOW_COUNT, SLOW_SIZE = 8192, 1024


async def read_slowly(url: str, params: dict[str, str]) -> list[int]:
    """Read NDJSON in 8 KiB pieces with a pause after each; the sequence numbers seen."""
    seqs: list[int] = []
    async with (
        aiohttp.ClientSession(read_bufsize=4096) as session,
        session.get(url, params=params) as response,
    ):
        assert response.status == 200
        pending = b""
        while chunk := await response.content.read(8192):
            *lines, pending = (pending + chunk).split(b"\n")
            seqs.extend(json.loads(line)["seq"] for line in lines)
            await asyncio.sleep(0.001)
    return seqs


# Measured: the whole test (server, client, 8 MiB streamed) peaks at about 1.0 MiB of heap
# with `pull`; the naive push-unbounded handler peaked at 3.6 MiB in the same setup (and
# grows with the stream's length and the client's slowness).
@pytest.mark.limit_memory("2 MB")
@pytest.mark.parametrize("handler_cancellation", [False], ids=["production"])
async def test_slow_reader_keeps_server_memory_bounded(serve: ServeFactory) -> None:
    served = await serve(app=demo.make_app())
    params = {
        "format": "ndjson",
        "count": str(SLOW_COUNT),
        "size": str(SLOW_SIZE),
        "approach": "pull",
    }
    seqs = await read_slowly(f"{served.url}/stream", params)
    assert seqs == list(range(SLOW_COUNT))  # every item, in order


async def test_demand_never_exceeds_the_item_bound(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    flow, seen = spy(rxspike.range_(5000))
    options = rw.StreamOptions(max_items_ahead=16)

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.ndjson(request, flow, options=options)

    served = await serve(handle)
    async with session.get(served.url) as response:
        body = await response.read()
    assert body.count(b"\n") == 5000
    [stats] = await served.wait_ended()
    assert seen.requests[0] == 1  # one item first: its size sets the byte budget
    assert max(seen.requests) <= 16
    assert sum(seen.requests) <= 5000 + 16
    assert stats.queued_high_water <= 16


async def test_byte_bound_sizes_the_requests(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """Items of ~10 KiB with a 32 KiB budget: a few at a time, never the whole item window."""
    flow, seen = spy(rxspike.from_iterable([b"x" * 10_000] * 50))
    options = rw.StreamOptions(max_items_ahead=256, max_bytes_ahead=32 * 1024)

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.raw(request, flow, options=options)

    served = await serve(handle)
    async with session.get(served.url) as response:
        assert len(await response.read()) == 500_000
    assert max(seen.requests) <= 4


async def test_fast_source_is_coalesced_slow_source_is_not_delayed(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def ticks() -> AsyncIterator[str]:
        for n in range(5):
            await asyncio.sleep(0.02)
            yield str(n)

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.query["kind"] == "fast":
            return await rw.sse(request, rxspike.range_(10_000))
        return await rw.sse(request, ticks())

    served = await serve(handle)
    async with session.get(served.url, params={"kind": "fast"}) as response:
        assert (await response.read()).count(b"\n\n") == 10_000
    [fast] = await served.wait_ended()
    assert fast.writes * 20 < fast.items  # queued frames went out together
    async with session.get(served.url, params={"kind": "slow"}) as response:
        assert await response.read() == b"".join(b"data: %d\n\n" % n for n in range(5))
    slow = (await served.wait_ended(2))[-1]
    assert slow.writes == slow.items == 5  # each item went out on its own, when it came


async def test_send_timeout_lets_a_frozen_client_go(serve: ServeFactory) -> None:
    cleanups: list[int] = []

    def forever(n: int, sink: rxspike.GenerateSink[str]) -> int:
        sink.next("x" * 1000)
        return n + 1

    flow = rxspike.generate(lambda: 0, forever, cleanup=cleanups.append)

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, flow, options=rw.StreamOptions(send_timeout=0.3))

    served = await serve(handle)
    host, port = served.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")  # headers came; from now on, read nothing
    try:
        [stats] = await served.wait_ended(within=10)
    finally:
        writer.close()
    assert stats.reason is rw.EndReason.TIMEOUT
    assert len(cleanups) == 1
