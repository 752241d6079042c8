"""The three endpoints with plain aiohttp, written with care."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from .workload import Feed, LogFailed, log_after, tokens

FEED = Feed()
HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


def frame(data: str, id: int | None = None, event: str | None = None) -> bytes:
    head = (f"id: {id}\n" if id is not None else "") + (f"event: {event}\n" if event else "")
    return f"{head}data: {data}\n\n".encode()


async def watch(request: web.Request, task: asyncio.Task[None]) -> None:
    """aiohttp does not cancel an idle handler: look for a vanished client ourselves."""
    # No event to wait for exists: aiohttp has no public hook for a lost connection.
    while request.transport is not None and not request.transport.is_closing():  # noqa: ASYNC110
        await asyncio.sleep(0.25)
    task.cancel()


async def serve(request: web.Request, frames: AsyncIterator[bytes]) -> web.StreamResponse:
    response = web.StreamResponse(headers=HEADERS)
    await response.prepare(request)

    async def pump() -> None:
        async for data in frames:
            await response.write(data)
            await asyncio.sleep(0)  # write() rarely yields: let other streams run

    task = asyncio.create_task(pump())
    watcher = asyncio.create_task(watch(request, task))
    try:
        await task
        await response.write_eof()
    except (asyncio.CancelledError, ConnectionError):
        pass  # the client left
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await frames.aclose()  # type: ignore[attr-defined]
    return response


async def tokens_handler(request: web.Request) -> web.StreamResponse:
    async def frames() -> AsyncIterator[bytes]:
        i = 0
        async for token in tokens():
            yield frame(token, id=i)
            i += 1

    return await serve(request, frames())


async def feed_handler(request: web.Request) -> web.StreamResponse:
    buffer: collections.deque[str] = collections.deque(maxlen=256)  # drops the oldest
    ready = asyncio.Event()

    def on_event(event: str) -> None:
        buffer.append(event)
        ready.set()

    async def frames() -> AsyncIterator[bytes]:
        unsubscribe = FEED.subscribe(on_event)
        try:
            while True:
                await ready.wait()
                ready.clear()
                batch = b"".join(frame(buffer.popleft()) for _ in range(len(buffer)))
                yield batch
        finally:
            unsubscribe()

    return await serve(request, frames())


async def resume_handler(request: web.Request) -> web.StreamResponse:
    fail_at = int(request.query["fail"]) if "fail" in request.query else None
    last_id = request.headers.get("Last-Event-ID", "")
    try:
        last = int(last_id) if last_id else -1
    except ValueError:
        raise web.HTTPBadRequest(text="Last-Event-ID must be an integer") from None

    async def frames() -> AsyncIterator[bytes]:
        try:
            async for seq, data in log_after(last, fail_at):
                yield frame(data, id=seq)
        except LogFailed as error:
            yield frame(str(error), event="error")

    return await serve(request, frames())


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/tokens", tokens_handler)
    app.router.add_get("/feed", feed_handler)
    app.router.add_get("/resume", resume_handler)
    return app
