"""The demo application: ``GET /stream``, ``GET /metrics`` and the live page ``GET /``.

:func:`make_app` takes the source factories (:class:`~rxspike.demo.sources.Sources`) as an
argument and keeps them in the application, so the handler builds each stream from the
factories it was given, never from module globals.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

import rxspike
from rxspike.bridges import ObservableFlowable
from rxspike.web import REGISTRY_KEY, StreamOptions, setup, stream

from . import naive, sources
from .live import live_page
from .names import Approach
from .params import BadParameter, Params, parse_page, parse_params, resume_point
from .sources import (
    SourceFailed,
    Sources,
    dropping,
    encoder_for,
    push_buffer_source,
    push_throttle_source,
)

#: Where :func:`make_app` keeps the source factories of the application.
SOURCES_KEY = web.AppKey("rxspike.demo.sources", Sources)

#: The ``approach=redis`` handler, present when the server was given a Redis URL.
FeedHandler = Callable[[web.Request, Params], Awaitable[web.StreamResponse]]
FEED_KEY: web.AppKey[FeedHandler] = web.AppKey("rxspike.demo.feed")

#: Options of every demo stream: the demo's failure is public, a frozen client is let go.
DEMO_OPTIONS = StreamOptions(statuses={SourceFailed: 500}, send_timeout=60.0)


async def stream_handler(request: web.Request) -> web.StreamResponse:
    """``GET /stream``: the stream the query asks for, through the approach it names."""
    params = parse_params(request.query)
    if params.approach is Approach.REDIS:
        feed = request.app.get(FEED_KEY)
        if feed is None:
            raise BadParameter(
                "approach",
                "approach=redis needs a server started with --redis-url",
                "rxspike serve --redis-url redis://host:port/0",
            )
        return await feed(request, params)
    params = resume_point(request.headers, params)
    registry = request.app[REGISTRY_KEY]
    factories = request.app[SOURCES_KEY]
    source: rxspike.Flowable[Any]
    stages: dict[str, ObservableFlowable[Any]] = {}
    if params.approach is Approach.PUSH_UNBOUNDED:
        with naive.NaiveStream(request, registry) as counted:
            return await naive.push_unbounded(request, params, factories.push(params), counted)
    if params.approach is Approach.PULL:
        source = factories.pull(params)
    elif params.approach in (Approach.PUSH_BUFFER, Approach.PUSH_THROTTLE):
        buffer = stages[params.overflow] = push_buffer_source(params, factories.push(params))
        source = (
            buffer
            if params.approach is Approach.PUSH_BUFFER
            else push_throttle_source(params, buffer)
        )
    else:
        source = rxspike.from_async_iterable(factories.async_iterator(params))
    if params.drop_after is not None:
        source = source.pipe(dropping(request, params.drop_after))
    return await stream(
        request,
        source,
        encoder_for(params),
        options=DEMO_OPTIONS,
        stages=stages,
        resumed_from=request.headers.get("Last-Event-ID") if params.start else None,
    )


async def metrics_handler(request: web.Request) -> web.Response:
    """``GET /metrics?offset=0&limit=20``: the totals, one page of the open streams, and the
    last ``limit`` ended ones, as JSON. The page is bounded (at most
    :data:`~rxspike.demo.params.MAX_METRICS_PAGE`): one record per stream at 10 000 streams
    was megabytes and a quarter of a second of the loop. ``page.next_offset`` is the next
    page's ``offset`` (``null``: the last page). Monitoring scrapes ``/metrics/prometheus``.
    """
    offset, limit = parse_page(request.query)
    registry = request.app[REGISTRY_KEY]
    body = registry.totals().as_json()
    body["streams"] = [s.as_json() for s in registry.open_streams(offset, limit)]
    body["recent"] = [s.as_json() for s in registry.recent()[-limit:]] if limit else []
    following = offset + limit
    body["page"] = {
        "offset": offset,
        "limit": limit,
        "open": body["open"],
        "next_offset": following if following < body["open"] else None,
    }
    return web.json_response(body)


def _has_prometheus() -> bool:
    return importlib.util.find_spec("prometheus_client") is not None


async def _name_the_worker(_: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Worker-Pid"] = str(os.getpid())  # which of ``--workers N`` answered


#: Where the demo serves Prometheus metrics (when prometheus_client is installed).
PROMETHEUS_PATH = "/metrics/prometheus"


def make_app(
    sources: Sources | None = None, *, redis_url: str | None = None, publish_rate: float = 0.0
) -> web.Application:
    """The demo application, its streams built by ``sources`` (the demo's own by default).

    With the ``metrics`` extra installed it also serves the Prometheus exposition at
    :data:`PROMETHEUS_PATH`. ``redis_url`` enables ``approach=redis`` and ``POST /publish``,
    and ``publish_rate`` runs a task that appends that many entries per second to the Redis
    feed (:mod:`rxspike.demo.redis_feed`).

    >>> app = make_app()
    >>> app[SOURCES_KEY] == Sources()
    True
    """
    app = web.Application()
    setup(app, prometheus=PROMETHEUS_PATH if _has_prometheus() else False)
    app[SOURCES_KEY] = Sources() if sources is None else sources
    app.on_response_prepare.append(_name_the_worker)
    app.router.add_get("/", live_page)
    app.router.add_get("/stream", stream_handler)
    app.router.add_get("/metrics", metrics_handler)
    if redis_url is not None:
        from . import redis_feed  # needs redis-py: imported only for a server with Redis

        app[FEED_KEY] = redis_feed.install(app, redis_url, publish_rate)
    return app


def approach_sources() -> dict[str, str]:
    """Each approach's core, as source text, for reports that quote them."""
    return {
        Approach.PULL.value: inspect.getsource(sources.pull_source),
        Approach.PUSH_BUFFER.value: inspect.getsource(sources.push_buffer_source),
        Approach.PUSH_THROTTLE.value: inspect.getsource(sources.push_throttle_source),
        Approach.PUSH_UNBOUNDED.value: inspect.getsource(naive.push_unbounded),
        Approach.ASYNC_ITERATOR.value: inspect.getsource(sources.async_iterator_source),
        "(push source)": inspect.getsource(sources.push_source),
    }
