"""Per-stream metrics: a frozen snapshot per stream (items, bytes, buffered, drops by strategy,
heartbeats, lag, duration, status, end reason), readable in code while the stream runs and
after it ended, and through the demo server's ``/metrics``."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import pytest
import reactivex
from aiohttp import web
from reactivex.disposable import Disposable

import rxspike
import rxspike.web as rw
from rxspike import demo
from rxspike.operators import Overflow

from .conftest import ServeFactory, eventually


async def test_a_running_stream_and_its_final_snapshot(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    more = asyncio.Event()

    async def paused() -> AsyncIterator[str]:
        for n in range(3):
            yield f"item {n}"
        await more.wait()
        yield "last"

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, paused(), options=rw.StreamOptions(heartbeat=0.05))

    served = await serve(handle)
    async with session.get(served.url) as response:
        await response.content.readuntil(b"data: item 2\n\n")
        await eventually(lambda: served.registry.open_streams()[0].heartbeats >= 1)
        [running] = served.registry.open_streams()
        more.set()
        await response.read()
    [ended] = await served.wait_ended()
    assert (running.reason, running.status, running.headers_sent) == (None, 200, True)
    assert running.items == 3 and running.bytes == 3 * len(b"data: item 0\n\n")
    assert running.buffered_items == 0
    assert ended.reason is rw.EndReason.COMPLETED
    assert ended.items == 4 and ended.heartbeats >= running.heartbeats >= 1
    assert ended.duration >= running.duration > 0
    assert ended.lag >= 0 and ended.max_lag >= ended.lag
    with pytest.raises(dataclasses.FrozenInstanceError):
        ended.items = 0  # type: ignore[misc]
    assert served.registry.totals().items == 4


async def test_drops_by_strategy_from_the_named_stages(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """A push source 10x faster than a 4-item buffer can hand out: the stream reports the
    buffer's evictions under the name it was given, and the registry totals them."""
    count = 5000

    def fast(observer: reactivex.abc.ObserverBase[int], _: object = None) -> Disposable:
        for n in range(count):
            observer.on_next(n)
        observer.on_completed()
        return Disposable()

    async def handle(request: web.Request) -> web.StreamResponse:
        buffer = rxspike.from_observable(reactivex.create(fast), 4, Overflow.DROP_OLDEST)
        return await rw.ndjson(request, buffer, stages={"drop-oldest": buffer})

    served = await serve(handle)
    async with session.get(served.url) as response:
        delivered = len((await response.read()).splitlines())
    [stats] = await served.wait_ended()
    assert dict(stats.drops) == {"drop-oldest": count - delivered}
    assert count - delivered > 0
    assert served.registry.totals().dropped == count - delivered


async def test_a_plain_observable_reports_its_push_buffer(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.ndjson(request, reactivex.from_iterable(range(10)))

    served = await serve(handle)
    async with session.get(served.url) as response:
        await response.read()
    [stats] = await served.wait_ended()
    assert dict(stats.drops) == {"error": 0}  # the bounded buffer's strategy: fail, not drop


async def test_lag_shows_a_client_falling_behind(serve: ServeFactory) -> None:
    """Frames queue up behind a reader that sleeps: the oldest waited before its write."""

    async def handle(request: web.Request) -> web.StreamResponse:
        items = rxspike.from_iterable([b"z" * 4096] * 256)
        return await rw.raw(request, items, options=rw.StreamOptions(max_bytes_ahead=64 * 1024))

    served = await serve(handle)
    async with (
        aiohttp.ClientSession(read_bufsize=4096) as session,
        session.get(served.url) as response,
    ):
        for _ in range(200):
            if not await response.content.read(16384):
                break
            await asyncio.sleep(0.005)
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.COMPLETED
    assert stats.max_lag > 0
    assert stats.queued_high_water > 1


@pytest.mark.parametrize("handler_cancellation", [False], ids=["production"])
async def test_demo_metrics_shows_each_stream(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    served = await serve(app=demo.make_app())
    base = f"{served.url}/stream?format=sse&size=32"
    async with session.get(
        f"{base}&count=1000&interval_ms=20&approach=push-buffer&overflow=drop-oldest&capacity=2",
        headers={"Last-Event-ID": "4"},
    ) as open_response:
        await open_response.content.readuntil(b"\n\n")
        async with session.get(f"{served.url}/metrics") as response:
            running = await response.json()
    async with session.get(f"{base}&count=3") as response:
        await response.read()
    await served.wait_ended(2)
    async with session.get(f"{served.url}/metrics") as response:
        ended = await response.json()
    [stream] = running["streams"]
    for field in ("items_sent", "bytes_sent", "writes", "queued_high_water", "duration"):
        assert field in stream  # what /metrics said before: the harness reads these
    assert stream["drops"] == {"drop-oldest": stream["drops"]["drop-oldest"]}
    assert stream["resumed_from"] == "4" and stream["status"] == 200
    assert {"buffered_items", "buffered_bytes", "heartbeats", "lag", "max_lag"} <= set(stream)
    recent = sorted(ended["recent"], key=lambda s: s["id"])  # in the order they started
    reasons = [(s["resumed_from"], s["reason"]) for s in recent]
    assert reasons == [("4", "client_gone"), (None, "completed")]
    assert ended["items_sent"] == sum(s["items_sent"] for s in ended["recent"])
