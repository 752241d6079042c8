"""Heartbeats: written only when the stream is idle, by the same writer as the frames (so
they never split one), an SSE comment or NDJSON's opt-in record, and a source silent before
its first item still gets its headers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

import rxspike.web as rw

from ._sse import parse
from .conftest import ServeFactory, read_all

KEEPALIVE = b": keep-alive\n\n"


async def test_heartbeats_only_while_idle(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """A burst, a pause the test ends after two heartbeats, a burst: the heartbeats all sit in
    the pause, between whole events."""
    resume = asyncio.Event()

    async def bursts() -> AsyncIterator[str]:
        for n in range(50):
            yield f"a{n}"
        await resume.wait()
        for n in range(50):
            yield f"b{n}"

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, bursts(), options=rw.StreamOptions(heartbeat=0.2))

    served = await serve(handle)
    async with session.get(served.url) as response:
        received = b""
        async with asyncio.timeout(10):
            for _ in range(1000):  # reads, until two heartbeats came
                received += await response.content.readuntil(b"\n\n")
                if received.count(KEEPALIVE) == 2:
                    break
        resume.set()
        rest, error = await read_all(response)
    assert error is None
    body = received + rest
    before, _, after = body.partition(b"data: a49\n\n")
    pause, _, later = after.partition(b"data: b0\n\n")
    assert KEEPALIVE not in before and KEEPALIVE not in later  # none inside the bursts
    assert pause == KEEPALIVE * pause.count(KEEPALIVE)  # whole frames, nothing else between
    assert pause.count(KEEPALIVE) >= 2
    assert [e.data for e in parse(body).events] == [f"a{n}" for n in range(50)] + [
        f"b{n}" for n in range(50)
    ]
    [stats] = await served.wait_ended()
    assert stats.heartbeats == body.count(KEEPALIVE)


async def test_a_steady_stream_gets_no_heartbeat(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """Items every 10 ms for longer than the heartbeat interval (250 ms): it is never idle
    that long, so no heartbeat is due. (Heartbeats are about silence, not a period.)"""

    async def steady() -> AsyncIterator[int]:
        for n in range(60):
            await asyncio.sleep(0.01)
            yield n

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, steady(), options=rw.StreamOptions(heartbeat=0.25))

    served = await serve(handle)
    async with session.get(served.url) as response:
        body = await response.read()
    assert KEEPALIVE not in body
    assert [e.data for e in parse(body).events] == [str(n) for n in range(60)]
    [stats] = await served.wait_ended()
    assert stats.heartbeats == 0


async def test_ndjson_keepalive_is_opt_in(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def pause() -> AsyncIterator[dict[str, int]]:
        yield {"n": 0}
        await asyncio.sleep(0.35)
        yield {"n": 1}

    options = rw.StreamOptions(heartbeat=0.1)

    async def handle(request: web.Request) -> web.StreamResponse:
        keepalive = {"type": "keepalive"} if request.query.get("keepalive") else None
        return await rw.ndjson(request, pause(), keepalive=keepalive, options=options)

    served = await serve(handle)
    async with session.get(served.url) as response:
        plain = await response.read()
    assert plain == b'{"n":0}\n{"n":1}\n'  # NDJSON has no frame a client ignores
    async with session.get(served.url, params={"keepalive": "1"}) as response:
        records = [json.loads(line) for line in (await response.read()).splitlines()]
    assert records[0] == {"n": 0} and records[-1] == {"n": 1}
    assert records[1:-1] == [{"type": "keepalive"}] * (len(records) - 2)
    assert len(records) - 2 >= 1


async def test_a_source_silent_before_its_first_item_still_gets_headers(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """EventSource and proxies wait for the headers: after one heartbeat of silence they are
    sent (200) with a keep-alive, before any item exists."""
    release = asyncio.Event()

    async def late() -> AsyncIterator[str]:
        await release.wait()
        yield "finally"

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, late(), options=rw.StreamOptions(heartbeat=0.1))

    served = await serve(handle)
    async with asyncio.timeout(10), session.get(served.url) as response:
        assert response.status == 200
        assert await response.content.readuntil(b"\n\n") == KEEPALIVE
        release.set()
        rest = await response.read()
    assert rest.endswith(b"data: finally\n\n")
    assert set(rest.removesuffix(b"data: finally\n\n").split(KEEPALIVE)) <= {b""}
