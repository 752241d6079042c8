"""Frozen and half-open clients: a client that keeps its socket open and reads nothing is cut
after the send timeout (reason ``timeout``), its source cancelled, and the stream's memory
stays within its bounds meanwhile; the socket carries ``TCP_NOTSENT_LOWAT``; a slow client
that keeps reading is never taken for a frozen one."""

from __future__ import annotations

import asyncio
import errno
import itertools
import socket
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

import rxspike
import rxspike.web as rw
from rxspike.web._transport import NOTSENT_LOWAT, timed_out

from .conftest import Served, ServeFactory, eventually

ITEM = 1000
OPTIONS = rw.StreamOptions(send_timeout=0.5, max_bytes_ahead=64 * 1024)


async def frozen_client(served: Served) -> asyncio.StreamWriter:
    """Connect with a small receive buffer, send the request, read the headers, then nothing."""
    host, port = served.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")
    return writer


# Measured with --memray: the whole test (server, client, about 3 MB streamed into the stall)
# peaks at about 0.4 MiB of heap, in both modes.
@pytest.mark.limit_memory("2 MB")
async def test_a_frozen_client_is_cut_after_the_send_timeout(serve: ServeFactory) -> None:
    cleanups: list[int] = []

    def forever(n: int, sink: rxspike.GenerateSink[str]) -> int:
        sink.next("x" * ITEM)
        return n + 1

    async def handle(request: web.Request) -> web.StreamResponse:
        flow = rxspike.generate(lambda: 0, forever, cleanup=cleanups.append)
        return await rw.sse(request, flow, options=OPTIONS)

    served = await serve(handle)
    writer = await frozen_client(served)
    samples: list[rw.StreamStats] = []
    try:
        async with asyncio.timeout(10):  # a sanity bound: 0.5 s timeout + a 0.25 s tick
            while not served.registry.recent():
                samples.extend(served.registry.open_streams())
                await asyncio.sleep(0.01)
    finally:
        writer.close()
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.TIMEOUT
    assert len(cleanups) == 1  # upstream cancelled, its cleanup ran once
    # It stalled, and meanwhile held at most the byte bound, one write in the transport, and
    # one item.
    assert any(a.items == b.items and b.buffered_bytes for a, b in itertools.pairwise(samples))
    assert (
        max(s.buffered_bytes for s in samples)
        <= OPTIONS.max_bytes_ahead + OPTIONS.write_limit + ITEM
    )
    assert max(s.buffered_items for s in samples) <= OPTIONS.max_items_ahead


async def test_an_idle_frozen_client_is_not_cut(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """The send timeout measures a write waiting for the client, not silence."""

    async def slow() -> AsyncIterator[str]:
        yield "a"
        await asyncio.sleep(0.8)  # longer than the send timeout, nothing to write
        yield "b"

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, slow(), options=OPTIONS)

    served = await serve(handle)
    async with session.get(served.url) as response:
        assert await response.read() == b"data: a\n\ndata: b\n\n"
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.COMPLETED


@pytest.mark.parametrize("handler_cancellation", [False], ids=["production"])
async def test_a_slow_client_that_keeps_reading_is_not_cut(serve: ServeFactory) -> None:
    """512 KiB read 8 KiB at a time with a pause after each: every write waits, none for
    the whole send timeout (2 s)."""
    options = rw.StreamOptions(send_timeout=2.0, max_bytes_ahead=32 * 1024)

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.raw(request, rxspike.from_iterable([b"x" * 1024] * 512), options=options)

    served = await serve(handle)
    received = 0
    async with (
        aiohttp.ClientSession(read_bufsize=4096) as session,
        session.get(served.url) as response,
    ):
        async with asyncio.timeout(20):
            for _ in range(1000):  # 64 reads of 8 KiB, and a few short ones
                chunk = await response.content.read(8192)
                if not chunk:
                    break
                received += len(chunk)
                await asyncio.sleep(0.003)
    assert received == 512 * 1024
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.COMPLETED


@pytest.mark.skipif(sys.platform != "linux", reason="TCP_NOTSENT_LOWAT is Linux's option 25")
async def test_the_socket_keeps_little_unsent_and_no_user_timeout(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """``TCP_NOTSENT_LOWAT`` keeps the kernel's unsent bytes small. ``TCP_USER_TIMEOUT`` is
    left alone: Linux applies it to zero-window probes and would cut a slow steady reader;
    a half-open client is found at a heartbeat instead (``TCP_INFO``)."""
    seen: list[tuple[int, int]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        async def probe() -> AsyncIterator[str]:
            yield "headers are out"
            transport = request.transport
            assert transport is not None
            sock = transport.get_extra_info("socket")
            seen.append(
                (
                    sock.getsockopt(socket.IPPROTO_TCP, 25),
                    sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
                )
            )
            yield "done"

        return await rw.sse(request, probe(), options=rw.StreamOptions(send_timeout=7.5))

    served = await serve(handle)
    async with session.get(served.url) as response:
        await response.read()
    assert seen == [(NOTSENT_LOWAT, 0)]


def test_send_timeout_is_on_by_default() -> None:
    assert rw.StreamOptions().send_timeout == 30.0


def test_a_connection_the_kernel_timed_out_counts_as_timeout() -> None:
    """aiohttp wakes a writer waiting in drain with ConnectionError("Connection lost") whose
    cause is the socket's error; ETIMEDOUT is TCP_USER_TIMEOUT's verdict."""
    lost = ConnectionError("Connection lost")
    lost.__cause__ = TimeoutError(errno.ETIMEDOUT, "Connection timed out")
    assert timed_out(lost)
    reset = ConnectionError("Connection lost")
    reset.__cause__ = ConnectionResetError(errno.ECONNRESET, "reset")
    assert not timed_out(reset)
    assert not timed_out(ConnectionError("Cannot write to closing transport"))


@pytest.mark.parametrize("handler_cancellation", [False], ids=["production"])
async def test_detection_time_is_the_send_timeout_plus_a_tick(serve: ServeFactory) -> None:
    """A sanity bound, not a benchmark: the cut comes within a few seconds of the stall."""
    options = rw.StreamOptions(send_timeout=0.5)

    def forever(n: int, sink: rxspike.GenerateSink[str]) -> int:
        sink.next("y" * ITEM)
        return n + 1

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, rxspike.generate(lambda: 0, forever), options=options)

    served = await serve(handle)
    writer = await frozen_client(served)
    last_items, stalled_at = -1, 0.0
    try:
        async with asyncio.timeout(10):
            while not served.registry.recent():
                for stats in served.registry.open_streams():
                    if stats.items != last_items:
                        last_items, stalled_at = stats.items, time.monotonic()
                await asyncio.sleep(0.005)
    finally:
        writer.close()
    ended_after = time.monotonic() - stalled_at
    await eventually(lambda: bool(served.registry.recent()))
    assert served.registry.recent()[0].reason is rw.EndReason.TIMEOUT
    assert ended_after < 5.0
