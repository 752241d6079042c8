"""The send timeout watches progress: bytes leaving for the client, not one drain's length.

A reader that keeps taking bytes at 16 KiB/s from a source far faster than that is never cut,
however long each drain waits for the kernel to report the socket writable; one that stops
reading is cut within ``send_timeout`` and a small bound. ``TCP_NOTSENT_LOWAT`` (where the
platform has it) keeps what the kernel holds unsent small, so a stalled client has little
in flight.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import sys
import time

import pytest
from aiohttp import web

import rxspike
import rxspike.web as rw

from .conftest import Served, ServeFactory, eventually

#: Bytes the reader takes per tick, and ticks per second: 16 KiB/s.
READ, TICKS = 1024, 16
SEND_TIMEOUT = 2.0
OPTIONS = rw.StreamOptions(send_timeout=SEND_TIMEOUT)

pytestmark = pytest.mark.parametrize("handler_cancellation", [False], ids=["production"])


def endless() -> rxspike.Flowable[bytes]:
    return rxspike.from_iterable(itertools.repeat(b"z" * 1000))


async def connect(served: Served) -> socket.socket:
    host, port = served.url.removeprefix("http://").split(":")
    sock = socket.socket()
    # A real network's segments. Loopback's are 64 KiB and its receiver coalesces them into
    # buffers freed (and its window reopened) only once read whole, so a reader of 16 KiB/s
    # would show the server no progress for seconds; a small receive buffer and segment
    # size keep them as small as on a real link.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1400)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    await asyncio.get_running_loop().sock_sendall(sock, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    return sock


async def read_paced(sock: socket.socket, seconds: float) -> int:
    """Read ``READ`` bytes per tick for ``seconds``; the bytes received."""
    loop = asyncio.get_running_loop()
    received = 0
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        chunk = await loop.sock_recv(sock, READ)
        if not chunk:
            break
        received += len(chunk)
        await asyncio.sleep(1 / TICKS)
    return received


async def test_a_reader_at_16_kib_per_second_is_never_cut(serve: ServeFactory) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.raw(request, endless(), options=OPTIONS)

    served = await serve(handle)
    sock = await connect(served)
    try:
        received = await read_paced(sock, 6.0)  # three send timeouts of steady, slow reading
        assert served.registry.totals().open == 1, served.registry.recent()
    finally:
        sock.close()
    assert received >= 5 * TICKS * READ  # it did read all along
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.CLIENT_GONE


async def test_a_reader_that_stops_is_cut_within_the_send_timeout(serve: ServeFactory) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.raw(request, endless(), options=OPTIONS)

    served = await serve(handle)
    sock = await connect(served)
    try:
        await read_paced(sock, 1.0)
        stopped = time.monotonic()
        await eventually(lambda: bool(served.registry.recent()), within=10)
        cut_after = time.monotonic() - stopped
    finally:
        sock.close()
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.TIMEOUT
    # A sanity bound, not a benchmark: the buffers fill, then one send_timeout without
    # progress, noticed within a fraction of it.
    assert cut_after < SEND_TIMEOUT + 3.0


@pytest.mark.skipif(sys.platform != "linux", reason="TCP_NOTSENT_LOWAT is Linux's")
async def test_a_stalled_client_has_little_in_flight(serve: ServeFactory) -> None:
    """Without TCP_NOTSENT_LOWAT, loopback's autotuned send buffer takes megabytes."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.raw(request, endless(), options=rw.StreamOptions(send_timeout=None))

    served = await serve(handle)
    sock = await connect(served)
    try:
        await read_paced(sock, 0.5)
        await asyncio.sleep(1.0)  # it reads nothing more: the server fills what it may
        [stats] = served.registry.open_streams()
    finally:
        sock.close()
    assert stats.bytes < 1024 * 1024, stats
    await served.wait_ended()
