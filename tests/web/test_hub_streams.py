"""A broadcast hub behind real HTTP streams: each stream's statistics show its own
subscriber buffer's drops, found in the pipeline without naming the stage by hand, and a
client that leaves detaches its subscriber while the others go on."""

from __future__ import annotations

import asyncio

import aiohttp
import reactivex.operators as ops
from aiohttp import web

import rxspike
import rxspike.web as rw
from rxspike.operators import Overflow

from .conftest import ServeFactory, eventually

#: Items published at once, without yielding to the loop: far more than a stream takes.
BURST = 5000


def label(n: int) -> str:
    return f"tick {n}"


async def test_each_stream_reports_its_hub_buffer_drops(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    em = rxspike.emitter(4, Overflow.ERROR)
    hub = rxspike.broadcast(em, capacity=4, overflow=Overflow.DROP_OLDEST)

    async def handle(request: web.Request) -> web.StreamResponse:
        # A reactivex operator after the hub: the buffer is still found in the pipeline.
        flow = hub.flowable.pipe(ops.map(label))
        return await rw.sse(request, flow, options=rw.StreamOptions(max_items_ahead=2))

    served = await serve(handle)
    # The headers go out with the first item (its status is chosen from it): get it later.
    pending = asyncio.ensure_future(session.get(served.url))
    await eventually(lambda: hub.statistics().subscribers == 1)
    for n in range(BURST):  # a burst the stream cannot take at once: the hub buffer drops
        em.try_emit(n)
    em.complete()
    response = await pending
    body = await response.read()
    [stats] = await served.wait_ended()
    events = body.count(b"\n\n")
    assert dict(stats.drops) == {"hub-drop_oldest": BURST - events}
    assert 0 < events < BURST and stats.items == events
    assert body.endswith(b"data: tick %d\n\n" % (BURST - 1))  # DROP_OLDEST keeps the newest


async def test_a_client_that_leaves_detaches_while_the_others_go_on(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    em = rxspike.emitter(16, Overflow.ERROR)
    hub = rxspike.broadcast(em, capacity=16)

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.ndjson(request, hub)  # the hub itself: one subscriber per stream

    served = await serve(handle)
    pending = [asyncio.ensure_future(session.get(served.url)) for _ in range(2)]
    await eventually(lambda: hub.statistics().subscribers == 2)
    em.try_emit(0)
    stays, leaves = [await each for each in pending]
    assert await leaves.content.readline() == b"0\n"
    leaves.close()
    await eventually(lambda: hub.statistics().subscribers == 1)
    for n in range(1, 5):
        em.try_emit(n)
        await asyncio.sleep(0)
    em.complete()
    assert await stays.read() == b"0\n1\n2\n3\n4\n"
    ended = await served.wait_ended(2)
    assert sorted(s.reason.value for s in ended if s.reason) == ["client_gone", "completed"]
    assert [dict(s.drops) for s in ended] == [{"hub-drop_oldest": 0}] * 2  # found, not named
