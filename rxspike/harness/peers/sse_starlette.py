"""Peer: sse-starlette's ``EventSourceResponse`` on Starlette, served by uvicorn.

Written the way sse-starlette's README shows: an endpoint that returns an
``EventSourceResponse`` over an async generator of events. sse-starlette runs the generator
in a task group next to a task that waits for the client's ``http.disconnect``, and cancels
the generator when the client leaves. Served by :mod:`.uvicorn_server`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from .source import BadQuery, Source, StreamQuery, async_iterator_source


async def stream_endpoint(request: Request) -> Response:
    try:
        query = StreamQuery.parse(request.query_params)
    except BadQuery as error:
        return PlainTextResponse(str(error), status_code=400)

    async def events() -> AsyncIterator[ServerSentEvent]:
        async for seq, data in request.app.state.source(query):
            yield ServerSentEvent(data=data, id=str(seq))

    return EventSourceResponse(events())


def create_app(source: Source = async_iterator_source) -> Starlette:
    app = Starlette(routes=[Route("/stream", stream_endpoint)])
    app.state.source = source
    return app
