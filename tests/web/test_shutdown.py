"""Application shutdown with open streams, in process: each stream stops its source, says
goodbye in its format and ends its response cleanly, instead of holding aiohttp's shutdown for
its timeout; a client too slow to take the goodbye is cut when the grace runs out.
(``test_graceful_shutdown.py`` does the same with SIGTERM to a real server process.)"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web

import rxspike
import rxspike.web as rw

from .conftest import ServeFactory, eventually, read_all


def endless(finalized: asyncio.Event) -> AsyncIterator[dict[str, int]]:
    async def items() -> AsyncIterator[dict[str, int]]:
        try:
            yield {"n": 0}
            await asyncio.Event().wait()
        finally:
            finalized.set()

    return items()


async def test_ndjson_ends_with_the_503_record_and_a_complete_body(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    finalized = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.ndjson(request, endless(finalized))

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
    assert error is None  # the final chunk came: a complete response
    [stats] = served.registry.recent()
    assert stats.reason is rw.EndReason.SHUTDOWN


async def test_sse_goodbye_is_a_retry_hint(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    finalized = asyncio.Event()
    options = rw.StreamOptions(shutdown_retry=2.0)

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, endless(finalized), options=options)

    served = await serve(handle)
    response = await session.get(served.url)
    assert await response.content.readuntil(b"\n\n") == b'data: {"n":0}\n\n'
    async with asyncio.timeout(10):
        _, (body, error), _ = await asyncio.gather(
            served.runner.cleanup(), read_all(response), finalized.wait()
        )
    response.close()
    match = re.fullmatch(
        rb": Service Unavailable: the server is shutting down\nretry: (\d+)\n\n", body
    )
    assert match is not None, body
    assert 2000 <= int(match[1]) < 4000  # spread so clients do not all return at once
    assert error is None


async def test_sse_waiting_for_its_first_item_answers_200_with_the_goodbye(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """A 503 would make EventSource give up; a 200 with the goodbye makes it come back."""
    started = asyncio.Event()

    async def silent() -> AsyncIterator[str]:
        started.set()
        await asyncio.Event().wait()
        yield "never"

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, silent(), options=rw.StreamOptions(heartbeat=None))

    served = await serve(handle)
    pending = asyncio.ensure_future(session.get(served.url))
    async with asyncio.timeout(10):
        await started.wait()
        await served.runner.cleanup()
        response = await pending
        body, error = await read_all(response)
    assert (response.status, response.content_type) == (200, "text/event-stream")
    assert body.startswith(b": Service Unavailable") and b"\nretry: " in body
    assert error is None


async def test_raw_has_no_goodbye_so_it_is_cut(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """Raw bytes cannot say goodbye: a clean end would pass for a complete download."""
    finalized = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            await asyncio.Event().wait()
        finally:
            finalized.set()

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.raw(request, chunks())

    served = await serve(handle)
    response = await session.get(served.url)
    assert await response.content.readexactly(5) == b"first"
    async with asyncio.timeout(10):
        _, (body, error), _ = await asyncio.gather(
            served.runner.cleanup(), read_all(response), finalized.wait()
        )
    response.close()
    assert body == b""
    assert isinstance(error, aiohttp.ClientPayloadError)


@pytest.mark.parametrize("handler_cancellation", [False], ids=["production"])
async def test_a_client_that_reads_nothing_is_cut_when_the_grace_runs_out(
    serve: ServeFactory,
) -> None:
    """The goodbye cannot reach a frozen client: after ``grace`` its connection is dropped,
    and shutdown goes on; the source was cancelled at once."""
    cleanups: list[int] = []

    def forever(n: int, sink: rxspike.GenerateSink[str]) -> int:
        sink.next("x" * 1000)
        return n + 1

    app = web.Application()
    rw.setup(app, grace=0.5)

    async def handle(request: web.Request) -> web.StreamResponse:
        flow = rxspike.generate(lambda: 0, forever, cleanup=cleanups.append)
        return await rw.sse(request, flow, options=rw.StreamOptions(send_timeout=None))

    app.router.add_get("/", handle)
    served = await serve(app=app)
    host, port = served.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")  # from now on, read nothing
    try:
        await eventually(stuck(served.registry))  # the writer waits for the client
        async with asyncio.timeout(10):
            await served.runner.cleanup()
    finally:
        writer.close()
    [stats] = served.registry.recent()
    assert stats.reason is rw.EndReason.SHUTDOWN
    assert len(cleanups) == 1


def stuck(registry: rw.StreamRegistry) -> Callable[[], bool]:
    """A check: the one open stream holds bytes the client did not take, and its item count
    did not move since the previous check."""
    seen: list[int] = []

    def check() -> bool:
        [stats] = registry.open_streams()
        moved = not seen or seen[-1] != stats.items
        seen.append(stats.items)
        return stats.buffered_bytes > 0 and not moved

    return check
