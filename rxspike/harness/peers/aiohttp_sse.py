"""Peer: aiohttp-sse's ``sse_response``, written the way its README shows.

One task per stream: the handler iterates the source and sends each event. Nothing more is
added on purpose: no disconnect watcher, no error frame, no shutdown hook; what aiohttp-sse
does about those is what the harness measures.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp_sse import sse_response

from .source import BadQuery, Source, StreamQuery, async_iterator_source


async def stream_handler(request: web.Request) -> web.StreamResponse:
    try:
        query = StreamQuery.parse(request.query)
    except BadQuery as error:
        raise web.HTTPBadRequest(text=str(error)) from error
    async with sse_response(request) as response:
        async for seq, data in request.app[SOURCE](query):
            await response.send(data, id=str(seq))
    return response


SOURCE: web.AppKey[Source] = web.AppKey("source")


def create_app(source: Source = async_iterator_source) -> web.Application:
    app = web.Application()
    app[SOURCE] = source
    app.router.add_get("/stream", stream_handler)
    return app
