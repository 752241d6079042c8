"""Recipe: one live feed fanned out to every client through a broadcast hub.

One producer task pushes readings into an emitter; ``rxspike.broadcast`` shares them with
every connected client. Each client has a buffer of its own (64 readings): a client that
reads slowly loses its oldest readings (counted in its stream's ``drops``) and never slows
the producer or the other clients. A new client first gets the last 5 readings (``replay``).
``GET /hub`` shows the hub's figures.

    python docs/recipes/live_feed.py             # then, in two terminals:
    curl -N http://127.0.0.1:8080/feed
    curl http://127.0.0.1:8080/hub
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator

from aiohttp import web

import rxspike
import rxspike.web
from rxspike.operators import Overflow

#: Seconds between readings.
INTERVAL = 0.01

Reading = dict[str, float]
FEED: web.AppKey[rxspike.Hub[Reading]] = web.AppKey("feed")


async def produce(emitter: rxspike.Emitter[Reading]) -> None:
    """The one producer: a reading every INTERVAL seconds, whoever listens."""
    n = 0
    while True:
        emitter.try_emit({"seq": n, "celsius": round(20 + (n % 50) / 10, 1)})
        n += 1
        await asyncio.sleep(INTERVAL)


async def run_producer(app: web.Application) -> AsyncIterator[None]:
    emitter: rxspike.Emitter[Reading] = rxspike.emitter(64, Overflow.DROP_OLDEST)
    # Lossy: a slow client loses readings; the hub keeps the emitter when nobody listens.
    app[FEED] = rxspike.broadcast(emitter, capacity=64, overflow=Overflow.DROP_OLDEST, replay=5)
    task = asyncio.create_task(produce(emitter))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    emitter.complete()


async def feed(request: web.Request) -> web.StreamResponse:
    # One hub.flowable per stream: its statistics are this client's buffer.
    return await rxspike.web.sse(request, request.app[FEED].flowable, id=lambda r: r["seq"])


async def hub(request: web.Request) -> web.Response:
    stats = dataclasses.asdict(request.app[FEED].statistics())
    stats["state"] = stats["state"].value
    return web.json_response(stats)


def make_app() -> web.Application:
    app = web.Application()
    rxspike.web.setup(app)
    app.cleanup_ctx.append(run_producer)
    app.router.add_get("/feed", feed)
    app.router.add_get("/hub", hub)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8080")))
