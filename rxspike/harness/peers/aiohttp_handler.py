"""Peer: a competent hand-written aiohttp SSE handler, no streaming library.

What a careful team writes after reading aiohttp's documentation:

- the first item is fetched before ``prepare()``, so a source that fails at once gets a
  real ``500`` instead of a broken ``200``;
- a producer task fills a bounded queue (:data:`QUEUE_ITEMS`); the writer takes whatever
  the queue holds, up to :data:`COALESCE_BYTES`, and writes it at once (coalesced writes),
  so a fast source costs one ``write()`` per batch and a slow client holds at most the
  queue plus the socket buffers;
- ``await asyncio.sleep(0)`` after each write: ``write()`` rarely suspends for small
  writes, and a loop that never yields starves every other stream;
- disconnects: the writer wakes every :data:`WATCH_S` while idle and stops when
  ``request.transport`` is gone (aiohttp does not cancel an idle handler); a failed write
  stops it too. On every exit the producer is cancelled and the source closed;
- a source that fails after the headers gets an ``event: error`` frame and a complete
  response, not a truncated one; shutdown ends every stream the same clean way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator

from aiohttp import web

from .source import BadQuery, Source, StreamQuery, async_iterator_source

#: Frames the producer may get ahead of the socket.
QUEUE_ITEMS = 64
#: Most bytes one write carries.
COALESCE_BYTES = 16 * 1024
#: How often an idle writer looks for a vanished client.
WATCH_S = 0.25

log = logging.getLogger(__name__)
STOPPING = web.AppKey("stopping", asyncio.Event)
SOURCE: web.AppKey[Source] = web.AppKey("source")
_END = object()


def frame(seq: int, data: str) -> bytes:
    return f"id: {seq}\ndata: {data}\n\n".encode()


async def _produce(source: AsyncGenerator[tuple[int, str]], queue: asyncio.Queue[object]) -> None:
    try:
        async for seq, data in source:
            await queue.put(frame(seq, data))
    except Exception as error:  # handed to the writer, which ends the stream with it
        await queue.put(error)
    else:
        await queue.put(_END)


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def stream_handler(request: web.Request) -> web.StreamResponse:
    try:
        query = StreamQuery.parse(request.query)
    except BadQuery as error:
        raise web.HTTPBadRequest(text=str(error)) from error
    source = request.app[SOURCE](query)
    try:
        seq, data = await anext(source)
    except StopAsyncIteration:
        return web.Response(status=204)
    except Exception as error:
        log.warning("stream failed before its first event: %r", error)
        await source.aclose()
        return web.Response(status=500, text="the source failed\n")
    queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_ITEMS)
    queue.put_nowait(frame(seq, data))
    producer = asyncio.create_task(_produce(source, queue))
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    stopping = request.app[STOPPING]
    try:
        await response.prepare(request)
        while not stopping.is_set():
            try:
                item = await asyncio.wait_for(queue.get(), WATCH_S)
            except TimeoutError:
                if _gone(request):
                    return response
                continue
            batch = bytearray()
            while isinstance(item, bytes):
                batch += item
                if len(batch) >= COALESCE_BYTES or queue.empty():
                    break
                item = queue.get_nowait()
            if batch:
                await response.write(batch)
                await asyncio.sleep(0)  # let the other streams run
            if item is _END:
                break
            if isinstance(item, Exception):
                log.warning("stream failed after its headers: %r", item)
                await response.write(b"event: error\ndata: the source failed\n\n")
                break
        await response.write_eof()
    except ConnectionError:  # the client left while a write was pending
        pass
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
        await source.aclose()
    return response


async def _stop_streams(app: web.Application) -> None:
    app[STOPPING].set()


def create_app(source: Source = async_iterator_source) -> web.Application:
    app = web.Application()
    app[SOURCE] = source
    app[STOPPING] = asyncio.Event()
    app.on_shutdown.append(_stop_streams)
    app.router.add_get("/stream", stream_handler)
    return app
