"""A client that leaves, while the stream writes or while it idles: upstream is cancelled
exactly once and the source's finalizer runs, with or without handler cancellation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

import rxspike
import rxspike.web as rw

from .._support import spy
from .conftest import ServeFactory, eventually


@pytest.fixture(autouse=True)
def _no_warnings(caplog: pytest.LogCaptureFixture) -> object:
    """A client leaving is routine: nothing at WARNING or above, from us or from aiohttp."""
    caplog.set_level(logging.DEBUG)
    yield
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not loud, [r.getMessage() for r in loud]


async def test_disconnect_while_idle(serve: ServeFactory, session: aiohttp.ClientSession) -> None:
    finalized = asyncio.Event()

    async def one_then_silence() -> AsyncIterator[str]:
        try:
            yield "first"
            await asyncio.Event().wait()  # nothing more, ever
        finally:
            finalized.set()

    flow, seen = spy(rxspike.from_async_iterable(one_then_silence()))

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, flow)

    served = await serve(handle)
    response = await session.get(served.url)
    assert await response.content.readuntil(b"\n\n") == b"data: first\n\n"
    response.close()  # drop the connection while the stream waits for its next item
    async with asyncio.timeout(5):
        await finalized.wait()
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.CLIENT_GONE
    assert seen.cancels == 1


async def test_disconnect_while_writing(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    cleanups: list[int] = []

    def forever(n: int, sink: rxspike.GenerateSink[str]) -> int:
        sink.next(f"{n:08d}" * 16)
        return n + 1

    flow, seen = spy(rxspike.generate(lambda: 0, forever, cleanup=cleanups.append))

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, flow)

    served = await serve(handle)
    response = await session.get(served.url)
    await response.content.readexactly(256 * 1024)  # the server is busy writing
    response.close()
    await eventually(lambda: bool(cleanups))
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.CLIENT_GONE
    assert len(cleanups) == 1
    assert seen.cancels == 1
    assert stats.items > 0


async def test_curl_killed_mid_stream(serve: ServeFactory, curl: str) -> None:
    cleanups: list[int] = []

    def forever(n: int, sink: rxspike.GenerateSink[dict[str, int]]) -> int:
        sink.next({"n": n})
        return n + 1

    flow, seen = spy(rxspike.generate(lambda: 0, forever, cleanup=cleanups.append))

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.ndjson(request, flow)

    served = await serve(handle)
    process = await asyncio.create_subprocess_exec(
        curl, "--no-buffer", "-s", served.url, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    async with asyncio.timeout(10):
        assert await process.stdout.readline() == b'{"n":0}\n'
        await process.stdout.readexactly(64 * 1024)
    process.kill()
    await process.wait()
    await eventually(lambda: bool(cleanups))
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.CLIENT_GONE
    assert (len(cleanups), seen.cancels) == (1, 1)


async def test_disconnect_before_the_first_item(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """Still waiting for the first signal, no headers sent: the watcher notices too."""
    finalized = asyncio.Event()
    started = asyncio.Event()

    async def silence() -> AsyncIterator[str]:
        try:
            started.set()
            await asyncio.Event().wait()
            yield "never"
        finally:
            finalized.set()

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, silence())

    served = await serve(handle)
    request = asyncio.ensure_future(session.get(served.url))
    async with asyncio.timeout(5):
        await started.wait()
    request.cancel()  # the client gives up waiting for the headers
    with pytest.raises(asyncio.CancelledError):
        await request
    async with asyncio.timeout(5):
        await finalized.wait()
    [stats] = await served.wait_ended()
    assert (stats.reason, stats.headers_sent) == (rw.EndReason.CLIENT_GONE, False)
