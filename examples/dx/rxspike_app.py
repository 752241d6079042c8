"""The three endpoints with rxspike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import reactivex
from aiohttp import web
from reactivex.disposable import Disposable

import rxspike
import rxspike.web
from rxspike.operators import Overflow
from rxspike.web import ServerSentEvent

from .workload import Feed, log_after, tokens

FEED = Feed()


async def tokens_handler(request: web.Request) -> web.StreamResponse:
    async def events() -> AsyncIterator[ServerSentEvent]:
        i = 0
        async for token in tokens():
            yield ServerSentEvent(token, id=i)
            i += 1

    return await rxspike.web.sse(request, events())


async def feed_handler(request: web.Request) -> web.StreamResponse:
    hot: reactivex.Observable[str] = reactivex.create(
        lambda observer, _: Disposable(FEED.subscribe(observer.on_next))
    )
    return await rxspike.web.sse(request, rxspike.from_observable(hot, 256, Overflow.DROP_OLDEST))


async def resume_handler(request: web.Request) -> web.StreamResponse:
    fail_at = int(request.query["fail"]) if "fail" in request.query else None

    async def entries(last: int) -> AsyncIterator[ServerSentEvent]:
        async for seq, data in log_after(last, fail_at):
            yield ServerSentEvent(data, id=seq)

    return await rxspike.web.sse(request, entries(-1), resume=lambda last: entries(int(last)))


def make_app() -> web.Application:
    app = web.Application()
    rxspike.web.setup(app)
    app.router.add_get("/tokens", tokens_handler)
    app.router.add_get("/feed", feed_handler)
    app.router.add_get("/resume", resume_handler)
    return app
