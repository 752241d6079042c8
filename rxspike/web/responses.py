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
  default) or the body ends cleanly (``ErrorEnd.CLOSE``);
- the server shuts down (``setup(app)``): a ``retry:`` hint / the record with status 503 /
  nothing, then the body ends cleanly / cleanly / is cut;
- SSE only: a ``Last-Event-ID`` the ``resume`` hook rejects with ``ValueError``: ``400``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from aiohttp import web

from ..bridges import ObservableFlowable
from ..core import empty
from ..core import error as failing
from ._errors import InvalidLastEventId
from ._feed import feed_for
from ._source import Source
from ._writer import FlowWriter
from .application import registry_for
from .encoders import NDJSON, SSE, Encoder, EventSelector, IdSelector, Raw
from .metrics import HasStatistics
from .options import StreamOptions

T = TypeVar("T")

#: A stream's ``FlowWriter.run()``, not started yet.
_Running = Coroutine[Any, Any, web.StreamResponse]

_DEFAULTS = StreamOptions()

#: A resume hook: the source that continues after the client's ``Last-Event-ID``, or
#: ``None`` when there is nothing more (answered ``204``, and ``EventSource`` stops).
Resume = Callable[[str], Source[Any] | None]


async def stream(
    request: web.BaseRequest,
    source: Source[T],
    encoder: Encoder[T],
    *,
    options: StreamOptions = _DEFAULTS,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    stages: Mapping[str, HasStatistics] | None = None,
    resumed_from: str | None = None,
) -> web.StreamResponse:
    """Stream ``source`` into the response of ``request``, each item encoded by ``encoder``.

    Args:
        request: the handler's request.
        source: a Flowable, a reactivex Observable (through a bounded buffer that fails the
            stream on overflow: see ``StreamOptions.push_capacity``), or an async iterable.
        encoder: the format; :class:`SSE`, :class:`NDJSON`, :class:`Raw` or your own.
        options: bounds, error policy, timeouts, heartbeat, compression.
        status: the status when the stream has items (``200``).
        headers: extra response headers; they win over the encoder's.
        stages: named stages of the pipeline (``from_observable(...)``, an overflow operator)
            whose drops the stream's statistics report, as ``drops[name]``; name them after
            their strategy (``{"drop-oldest": buffer}``).
        resumed_from: where ``source`` continues from, when you resume a stream yourself
            (a ``Last-Event-ID``, a cursor), for the statistics; :func:`sse` sets it.

    Returns:
        The response, already sent, for the handler to return.

    Raises:
        TypeError: ``source`` is not one of the three kinds.
        asyncio.CancelledError: the handler's task was cancelled (aiohttp's
            ``handler_cancellation`` after a disconnect); upstream was cancelled first.
    """
    return await _writer(
        request,
        source,
        encoder,
        options=options,
        status=status,
        headers=headers,
        stages=stages,
        resumed_from=resumed_from,
    )


def _writer(
    request: web.BaseRequest,
    source: Source[T],
    encoder: Encoder[T],
    *,
    options: StreamOptions,
    status: int = 200,
    headers: Mapping[str, str] | None,
    stages: Mapping[str, HasStatistics] | None,
    resumed_from: str | None = None,
) -> _Running:
    """The writer of one stream, to be awaited as ``await _writer(...)``: a plain function,
    so an open stream holds one coroutine frame less (many idle streams add up)."""
    feed, flow = feed_for(source, options.push_capacity)
    if flow is not source and isinstance(flow, ObservableFlowable):
        # The bounded buffer a plain Observable goes through: its drops are the stream's.
        stages = {"error": flow, **(stages or {})}
    writer = FlowWriter(
        request,
        feed,
        encoder,
        options,
        registry_for(request),
        status=status,
        headers=headers,
        stages=stages,
        resumed_from=resumed_from,
    )
    return writer.run()


async def sse(
    request: web.BaseRequest,
    source: Source[Any],
    *,
    id: IdSelector | None = None,
    event: str | EventSelector | None = None,
    retry: int | None = None,
    resume: Resume | None = None,
    options: StreamOptions = _DEFAULTS,
    headers: Mapping[str, str] | None = None,
    default: Callable[[Any], Any] | None = None,
    stages: Mapping[str, HasStatistics] | None = None,
) -> web.StreamResponse:
    """Stream as server-sent events (``text/event-stream``); see :class:`SSE` for items.

    Args:
        request, source, options, headers, stages: as for :func:`stream`.
        id: the ``id:`` of each item (``lambda item: item.seq``); the browser sends the last
            one back as ``Last-Event-ID`` when it reconnects.
        event: the event type of every item, or a function of the item.
        retry: the browser's reconnection delay in milliseconds, sent before the first event.
        resume: called with the ``Last-Event-ID`` header when a client reconnects with one;
            returns the source that continues after that id, used instead of ``source``
            (``None``: nothing more, ``204``). A ``ValueError`` it raises answers ``400``
            (:class:`InvalidLastEventId`); any other exception fails the stream like a
            source that fails before its first item.
        default: converts values ``json`` cannot serialise.

    An empty stream answers ``204``, which tells ``EventSource`` to stop reconnecting.

    Raises:
        ValueError: a constant ``event`` with CR, LF or NUL, or a ``retry`` below 0.
    """
    encoder = SSE(id=id, event=event, retry=retry, default=default)
    last_id = request.headers.get("Last-Event-ID") if resume is not None else None
    if resume is not None and last_id:
        source = _resumed(resume, last_id)
    return await _writer(
        request,
        source,
        encoder,
        options=options,
        headers=headers,
        stages=stages,
        resumed_from=last_id or None,
    )


def _resumed(resume: Resume, last_id: str) -> Source[Any]:
    """The hook's source; its failure becomes a source that fails (a 4xx/5xx answer)."""
    try:
        found = resume(last_id)
    except ValueError as error:
        return failing(InvalidLastEventId(last_id, error))
    except Exception as error:
        return failing(error)
    return empty() if found is None else found


async def ndjson(
    request: web.BaseRequest,
    source: Source[Any],
    *,
    keepalive: Any = None,
    options: StreamOptions = _DEFAULTS,
    headers: Mapping[str, str] | None = None,
    default: Callable[[Any], Any] | None = None,
    stages: Mapping[str, HasStatistics] | None = None,
) -> web.StreamResponse:
    """Stream as newline-delimited JSON (``application/x-ndjson``), one item per line.

    ``keepalive``: a JSON value written as a line of its own after ``options.heartbeat``
    seconds of silence (opt-in: your clients must know to skip it).
    """
    encoder = NDJSON(default=default, keepalive=keepalive)
    return await _writer(request, source, encoder, options=options, headers=headers, stages=stages)


async def raw(
    request: web.BaseRequest,
    source: Source[bytes | str],
    *,
    media_type: str = "application/octet-stream",
    options: StreamOptions = _DEFAULTS,
    headers: Mapping[str, str] | None = None,
    stages: Mapping[str, HasStatistics] | None = None,
) -> web.StreamResponse:
    """Stream ``bytes`` (or ``str``, UTF-8) items as they are, as a chunked body."""
    return await _writer(
        request, source, Raw(media_type), options=options, headers=headers, stages=stages
    )
