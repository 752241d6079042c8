"""The three endpoints with aiohttp-sse."""

from __future__ import annotations

import asyncio
import collections

from aiohttp import web
from aiohttp_sse import sse_response

from .workload import Feed, LogFailed, log_after, tokens

FEED = Feed()


async def tokens_handler(request: web.Request) -> web.StreamResponse:
    async with sse_response(request) as response:
        i = 0
        async for token in tokens():
            await response.send(token, id=str(i))
            i += 1
    return response


async def feed_handler(request: web.Request) -> web.StreamResponse:
    buffer: collections.deque[str] = collections.deque(maxlen=256)  # drops the oldest
    ready = asyncio.Event()

    def on_event(event: str) -> None:
        buffer.append(event)
        ready.set()

    unsubscribe = FEED.subscribe(on_event)
    try:
        async with sse_response(request) as response:
            while response.is_connected():
                await ready.wait()
                ready.clear()
                while buffer:
                    await response.send(buffer.popleft())
    finally:
        unsubscribe()
    return response


async def resume_handler(request: web.Request) -> web.StreamResponse:
    fail_at = int(request.query["fail"]) if "fail" in request.query else None
    last_id = request.headers.get("Last-Event-ID", "")
    try:
        last = int(last_id) if last_id else -1
    except ValueError:
        raise web.HTTPBadRequest(text="Last-Event-ID must be an integer") from None
    async with sse_response(request) as response:
        try:
            async for seq, data in log_after(last, fail_at):
                await response.send(data, id=str(seq))
        except LogFailed as error:
            await response.send(str(error), event="error")
    return response


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/tokens", tokens_handler)
    app.router.add_get("/feed", feed_handler)
    app.router.add_get("/resume", resume_handler)
    return app
