"""Opt-in gzip: each write is a zlib SYNC_FLUSH block, so a client's streaming decompressor
has event k before the server sends event k+1; off by default; only for clients that accept
gzip; the frames after the items (error, goodbye, end) are compressed too."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

import rxspike
import rxspike.web as rw

from .conftest import ServeFactory, read_all

GZIP = rw.StreamOptions(compression="gzip")
EVENTS = 10


async def test_gzip_events_arrive_one_at_a_time(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """The source sends event k+1 only after the test decompressed event k: a compressor that
    held its output (as aiohttp's ``enable_compression`` does) would deadlock here."""
    read = [asyncio.Event() for _ in range(EVENTS)]

    async def lockstep() -> AsyncIterator[str]:
        for k in range(EVENTS):
            yield f"event {k} " + "padding " * 20
            await read[k].wait()

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, lockstep(), options=GZIP)

    served = await serve(handle)
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    text = b""
    async with (
        session.get(
            served.url, headers={"Accept-Encoding": "gzip"}, auto_decompress=False
        ) as response,
        asyncio.timeout(10),
    ):
        assert response.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in response.headers.getall("Vary")
        for k in range(EVENTS):
            for _ in range(100):  # compressed pieces until event k is whole
                if f"data: event {k} ".encode() in text and text.endswith(b"\n\n"):
                    break
                text += decompressor.decompress(await response.content.readany())
            assert text.count(b"\n\n") == k + 1  # event k, and nothing after it yet
            read[k].set()
        rest = await response.content.read()
    text += decompressor.decompress(rest) + decompressor.flush()
    assert decompressor.eof  # the gzip member ended properly: a complete body
    assert text == b"".join(
        f"data: event {k} {'padding ' * 20}\n\n".encode() for k in range(EVENTS)
    )
    [stats] = await served.wait_ended()
    assert stats.compressed_bytes is not None and stats.compressed_bytes < stats.bytes


async def test_aiohttp_client_decompresses_the_same_body(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        options = GZIP if request.query.get("gzip") else rw.StreamOptions()
        return await rw.ndjson(request, rxspike.range_(2000), options=options)

    served = await serve(handle)
    async with session.get(served.url, params={"gzip": "1"}) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        compressed = await response.read()
    async with session.get(served.url) as response:
        assert "Content-Encoding" not in response.headers  # off by default
        plain = await response.read()
    assert compressed == plain == b"".join(b"%d\n" % n for n in range(2000))


@pytest.mark.parametrize("accept", ["identity", "gzip;q=0", "br"])
async def test_a_client_that_does_not_take_gzip_gets_identity(
    serve: ServeFactory, session: aiohttp.ClientSession, accept: str
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, rxspike.just("a", "b"), options=GZIP)

    served = await serve(handle)
    async with session.get(
        served.url, headers={"Accept-Encoding": accept}, auto_decompress=False
    ) as response:
        assert "Content-Encoding" not in response.headers
        assert "Accept-Encoding" in response.headers.getall("Vary")  # caches must know
        assert await response.read() == b"data: a\n\ndata: b\n\n"
    [stats] = await served.wait_ended()
    assert stats.compressed_bytes is None


async def test_the_error_frame_is_compressed_too(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def failing() -> AsyncIterator[str]:
        yield "one"
        raise LookupError("gone")

    options = rw.StreamOptions(compression="gzip", statuses={LookupError: 404})

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, failing(), options=options)

    served = await serve(handle)
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    async with session.get(
        served.url, headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    ) as response:
        body, error = await read_all(response)
    assert isinstance(error, aiohttp.ClientPayloadError)  # the abort policy still holds
    assert decompressor.decompress(body) == (
        b"data: one\n\nevent: stream-error\nid: rxspike-stream-failed\n"
        b'data: {"error":"gone","status":404,"type":"LookupError","stream":1,"retry":false}\n\n'
    )


def test_compression_must_be_gzip_or_none() -> None:
    with pytest.raises(ValueError, match="compression must be one of"):
        rw.StreamOptions(compression="br")
