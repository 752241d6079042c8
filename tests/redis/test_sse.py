"""``rxspike.web.sse`` over a Redis stream: entry ids are event ids, ``Last-Event-ID``
resumes from Redis, and a client that does not read leaves the backlog in Redis: the
server reads no further and its heap stays flat while the stream grows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

import rxspike.web as rw
from rxspike.redis import Reconnect, RedisUnavailableError, StreamEntry, stream_source
from rxspike.redis.types import DEFAULT_RECONNECT

from .._support import Spy, spy
from .server import RedisServer
from .test_stream_source import add

#: Entries in the stream before the client connects: more than the buffers between Redis
#: and a stalled client hold, so that the server stops reading while some are left.
PRELOAD = 50_000

# Appends ARGV[1] entries in Redis itself: a big backlog without a client-side loop.
_FILL = """
for i = 1, tonumber(ARGV[1]) do
  redis.call('XADD', KEYS[1], '*', 'seq', i, 'data', ARGV[2])
end
return redis.call('XLEN', KEYS[1])
"""


async def fill(client: Redis, key: str, count: int, chunk: int = 50_000) -> int:
    length = 0
    for start in range(0, count, chunk):
        length = await client.eval(_FILL, 1, key, min(chunk, count - start), "x" * 100)
        await asyncio.sleep(0)
    return length


#: A Redis out of reach is worth a retry later: 503, which the SSE error frame marks
#: retryable (the browser keeps its Last-Event-ID).
OPTIONS = rw.StreamOptions(statuses={RedisUnavailableError: 503})


async def serve_feed(
    client: Redis, key: str, seen: list[Spy], reconnect: Reconnect = DEFAULT_RECONNECT
) -> AsyncIterator[str]:
    """An aiohttp server whose ``GET /`` is ``sse`` over ``key``, resumable by entry id."""

    async def handler(request: web.Request) -> web.StreamResponse:
        flow, spied = spy(stream_source(client, key, after="0", reconnect=reconnect))
        seen.append(spied)
        return await rw.sse(
            request,
            flow,
            id=lambda entry: entry.id,
            default=lambda entry: entry.fields,
            resume=lambda last: stream_source(client, key, after=last, reconnect=reconnect),
            options=OPTIONS,
        )

    app = web.Application()
    rw.setup(app)
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/"
    finally:
        await runner.cleanup()


async def events(response: aiohttp.ClientResponse, count: int) -> list[tuple[str, str]]:
    """The first ``count`` events' ``(id, data)``."""
    found: list[tuple[str, str]] = []
    event_id = ""
    while len(found) < count:
        line = (await response.content.readline()).decode().rstrip("\n")
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            found.append((event_id, line[6:]))
    return found


async def test_entry_ids_are_event_ids_and_last_event_id_resumes_from_redis(
    client: Redis,
) -> None:
    ids = await add(client, "feed", 10)
    async for url in serve_feed(client, "feed", []):
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                first = await events(response, 4)
            async with session.get(url, headers={"Last-Event-ID": first[-1][0]}) as response:
                rest = await events(response, 6)
            async with session.get(url, headers={"Last-Event-ID": "not-an-id"}) as response:
                assert response.status == 400
                assert "not-an-id" in (await response.text())
    assert [event_id for event_id, _ in first + rest] == ids
    assert [data for _, data in first + rest] == [f'{{"seq":"{n}"}}' for n in range(10)]


async def test_redis_gone_past_the_budget_is_the_sse_error_frame_a_browser_retries(
    client: Redis, redis_server: RedisServer
) -> None:
    ids = await add(client, "feed", 3)
    quick = Reconnect(attempts=2, first_delay=0.01, max_delay=0.02, read_timeout=0.5)
    async for url in serve_feed(client, "feed", [], quick):
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert [event_id for event_id, _ in await events(response, 3)] == ids
            redis_server.kill()
            chunks = []
            with contextlib.suppress(aiohttp.ClientPayloadError):  # aborted after the frame
                async for chunk in response.content.iter_any():
                    chunks.append(chunk)
            rest = b"".join(chunks).decode()
    assert "event: stream-error\n" in rest and "rxspike-stream-failed" not in rest
    frame = json.loads(rest.split("data: ", 1)[1].split("\n", 1)[0])
    assert frame["status"] == 503 and frame["retry"] is True
    assert frame["type"] == "RedisUnavailableError" and ids[-1] in frame["error"]


def stalled_client(url: str) -> socket.socket:
    """A client that sends its request, reads the first bytes, and then reads no more."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    conn = socket.socket()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
    conn.connect((host, int(port)))
    conn.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert conn.recv(1024).startswith(b"HTTP/1.1 200")
    return conn


async def watch_backlog(client: Redis, backlog: int) -> dict[str, Any]:
    """Fill ``feed`` by ``backlog`` entries behind a client that stopped reading."""
    await fill(client, "feed", PRELOAD)  # more than every buffer on the way holds
    seen: list[Spy] = []
    async for url in serve_feed(client, "feed", seen):
        conn = await asyncio.to_thread(stalled_client, url)
        try:
            read_before = -1
            for _ in range(100):  # the buffers fill, the writer stops asking (within 10 s)
                await asyncio.sleep(0.1)
                if seen[0].emitted == read_before:
                    break
                read_before = seen[0].emitted
            redis_before = (await client.info("memory"))["used_memory"]
            tracemalloc.start()
            try:
                heap_before = tracemalloc.get_traced_memory()[0]
                length = await fill(client, "feed", backlog)
                await asyncio.sleep(0.3)
                heap_after = tracemalloc.get_traced_memory()[0]
            finally:
                tracemalloc.stop()
            read_stalled = seen[0].emitted
            conn.setblocking(False)
            drained = 0
            for _ in range(5000):  # the client reads again: the server reads on from Redis
                try:
                    drained += len(conn.recv(65536))
                    await asyncio.sleep(0)
                except BlockingIOError:
                    await asyncio.sleep(0.001)
                if seen[0].emitted > read_stalled:
                    break
            return {
                "length": length,
                "read_before": read_before,
                "read_stalled": read_stalled,
                "read_after": seen[0].emitted,
                "requested": sum(seen[0].requests),
                "heap_growth": heap_after - heap_before,
                "redis_growth": (await client.info("memory"))["used_memory"] - redis_before,
                "drained": drained,
            }
        finally:
            conn.close()
    raise AssertionError("the server did not start")


async def check_backlog(client: Redis, backlog: int) -> None:
    figures = await watch_backlog(client, backlog)
    print(f"backlog {backlog}: {figures}")
    assert figures["length"] == PRELOAD + backlog
    assert figures["read_stalled"] == figures["read_before"], figures  # nothing read ahead
    assert figures["read_stalled"] < PRELOAD, figures  # only what the socket's window let out
    assert figures["requested"] - figures["read_stalled"] <= 1024, figures
    assert figures["redis_growth"] > backlog * 50, figures  # the backlog lives in Redis...
    assert figures["heap_growth"] < 256 * 1024, figures  # ...not in this process
    assert figures["read_after"] > figures["read_stalled"], figures  # demand is the client's


async def test_a_stalled_client_leaves_the_backlog_in_redis(client: Redis) -> None:
    await check_backlog(client, 200_000)


@pytest.mark.slow
async def test_a_stalled_client_leaves_a_million_entry_backlog_in_redis(client: Redis) -> None:
    await check_backlog(client, 1_000_000)


async def test_stream_entries_are_frozen(client: Redis) -> None:
    entry = StreamEntry("1-0", {"a": "b"})
    with pytest.raises(AttributeError):
        entry.id = "2-0"  # type: ignore[misc]
