"""The three endpoints with sse-starlette (Starlette, served by uvicorn)."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from .workload import Feed, LogFailed, log_after, tokens

FEED = Feed()


async def tokens_endpoint(request: Request) -> Response:
    async def events() -> AsyncIterator[ServerSentEvent]:
        i = 0
        async for token in tokens():
            yield ServerSentEvent(data=token, id=str(i))
            i += 1

    return EventSourceResponse(events())


async def feed_endpoint(request: Request) -> Response:
    async def events() -> AsyncIterator[ServerSentEvent]:
        buffer: collections.deque[str] = collections.deque(maxlen=256)  # drops the oldest
        ready = asyncio.Event()

        def on_event(event: str) -> None:
            buffer.append(event)
            ready.set()

        unsubscribe = FEED.subscribe(on_event)
        try:
            while True:
                await ready.wait()
                ready.clear()
                while buffer:
                    yield ServerSentEvent(data=buffer.popleft())
        finally:
            unsubscribe()

    return EventSourceResponse(events())


async def resume_endpoint(request: Request) -> Response:
    fail_at = int(request.query_params["fail"]) if "fail" in request.query_params else None
    last_id = request.headers.get("Last-Event-ID", "")
    try:
        last = int(last_id) if last_id else -1
    except ValueError:
        return PlainTextResponse("Last-Event-ID must be an integer", status_code=400)

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            async for seq, data in log_after(last, fail_at):
                yield ServerSentEvent(data=data, id=str(seq))
        except LogFailed as error:
            yield ServerSentEvent(data=str(error), event="error")

    return EventSourceResponse(events())


def make_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/tokens", tokens_endpoint),
            Route("/feed", feed_endpoint),
            Route("/resume", resume_endpoint),
        ]
    )
