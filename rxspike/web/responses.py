"""The one-call streaming responses: ``return await sse(request, flow)`` in a handler.

Each function subscribes to the source, waits for its first signal, chooses the status from
it, and then streams with demand taken from the socket; it returns when the stream is over,
and the handler returns what it returned. See :class:`~rxspike.web.options.StreamOptions`
for the bounds and policies, and ``docs/guide.md`` for examples.

What a stream answers, per situation (``sse`` / ``ndjson`` / ``raw``):

- items: ``200`` with the frames; completion ends the body cleanly;
- no items, then completion: ``204`` / ``200`` with an empty body / ``200`` with an empty body;
- an error before the first item: the mapped status (``500`` if unmapped) with a JSON body
  ``{"error": ..., "status": ..., "stream": ...}``;
- an error after the first item: ``event: error`` with that JSON / the record
  ``{"error": {...}}`` / nothing, then the connection is aborted (``ErrorEnd.ABORT``, the
  default) or the body ends cleanly (``ErrorEnd.CLOSE``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web

from ._source import Source, as_flowable
from ._writer import FlowWriter
from .application import registry_for
from .encoders import NDJSON, SSE, Encoder, Raw
from .options import StreamOptions

T = TypeVar("T")

_DEFAULTS = StreamOptions()


async def stream(
    request: web.BaseRequest,
    source: Source[T],
    encoder: Encoder[T],
    *,
    options: StreamOptions = _DEFAULTS,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Stream ``source`` into the response of ``request``, each item encoded by ``encoder``.

    Args:
        request: the handler's request.
        source: a Flowable, a reactivex Observable (through a bounded buffer that fails the
            stream on overflow: see ``StreamOptions.push_capacity``), or an async iterable.
        encoder: the format; :class:`SSE`, :class:`NDJSON`, :class:`Raw` or your own.
        options: bounds, error policy, timeouts.
        status: the status when the stream has items (``200``).
        headers: extra response headers; they win over the encoder's.

    Returns:
        The response, already sent, for the handler to return.

    Raises:
        TypeError: ``source`` is not one of the three kinds.
        asyncio.CancelledError: the handler's task was cancelled (aiohttp's
            ``handler_cancellation`` after a disconnect); upstream was cancelled first.
    """
    flow = as_flowable(source, options.push_capacity)
    writer = FlowWriter(
        request, flow, encoder, options, registry_for(request), status=status, headers=headers
    )
    return await writer.run()


async def sse(
    request: web.BaseRequest,
    source: Source[Any],
    *,
    options: StreamOptions = _DEFAULTS,
    headers: Mapping[str, str] | None = None,
    default: Callable[[Any], Any] | None = None,
) -> web.StreamResponse:
    """Stream as server-sent events (``text/event-stream``); see :class:`SSE` for items.

    ``default`` converts values ``json`` cannot serialise. An empty stream answers ``204``.
    """
    return await stream(request, source, SSE(default=default), options=options, headers=headers)


async def ndjson(
    request: web.BaseRequest,
    source: Source[Any],
    *,
    options: StreamOptions = _DEFAULTS,
    headers: Mapping[str, str] | None = None,
    default: Callable[[Any], Any] | None = None,
) -> web.StreamResponse:
    """Stream as newline-delimited JSON (``application/x-ndjson``), one item per line."""
    return await stream(request, source, NDJSON(default=default), options=options, headers=headers)


async def raw(
    request: web.BaseRequest,
    source: Source[bytes | str],
    *,
    media_type: str = "application/octet-stream",
    options: StreamOptions = _DEFAULTS,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Stream ``bytes`` (or ``str``, UTF-8) items as they are, as a chunked body."""
    return await stream(request, source, Raw(media_type), options=options, headers=headers)
