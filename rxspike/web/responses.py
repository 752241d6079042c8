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
- an error after the first item: ``event: stream-error`` with that JSON and whether to
  retry (see :class:`~rxspike.web.encoders.SSE`) / the record
  ``{"error": {...}}`` / nothing, then the connection is aborted (``ErrorEnd.ABORT``, the
  default) or the body ends cleanly (``ErrorEnd.CLOSE``);
- the server shuts down (``setup(app)``): a ``retry:`` hint / the record with status 503 /
  nothing, then the body ends cleanly / cleanly / is cut;
- SSE only: a ``Last-Event-ID`` the ``resume`` hook rejects with ``ValueError``: ``400``;
  the ``Last-Event-ID`` :data:`~rxspike.web.encoders.FAILED_ID` (the reconnect after a
  failure not worth retrying): ``204``, whatever the source.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from aiohttp import web

from ..bridges import ObservableFlowable
from ..core import empty
from ..core import error as failing
from ._errors import InvalidLastEventId
from ._source import Source, as_flowable
from ._writer import FlowWriter
from .application import registry_for
from .encoders import FAILED_ID, NDJSON, SSE, Encoder, EventSelector, IdSelector, Raw
from .metrics import HasStatistics
from .options import StreamOptions

T = TypeVar("T")

_DEFAULTS = StreamOptions()

#: A resume hook: ``hook(last_id)`` or ``hook(last_id, request)`` (a hook with two
#: parameters is given the request). Returns the source that continues after the client's
#: ``Last-Event-ID``, or ``None`` when there is nothing more (answered ``204``, and
#: ``EventSource`` stops). ``last_id`` is ``None`` for a new stream when :func:`sse` got no
#: source of its own; a hook written for ``sse(request, source, resume=hook)`` is only ever
#: called with the header's value.
Resume = (
    Callable[[str], Source[Any] | None]
    | Callable[[str | None], Source[Any] | None]
    | Callable[[str | None, web.BaseRequest], Source[Any] | None]
)


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
    return await _stream(
        request,
        source,
        encoder,
        options=options,
        status=status,
        headers=headers,
        stages=stages,
        resumed_from=resumed_from,
    )


async def _stream(
    request: web.BaseRequest,
    source: Source[T],
    encoder: Encoder[T],
    *,
    options: StreamOptions,
    status: int = 200,
    headers: Mapping[str, str] | None,
    stages: Mapping[str, HasStatistics] | None,
    resumed_from: str | None = None,
) -> web.StreamResponse:
    if encoder.reconnects and request.headers.get("Last-Event-ID") == FAILED_ID:
        source = empty()  # the browser's reconnect after a failed stream: 204 stops it
    flow = as_flowable(source, options.push_capacity)
    if flow is not source and isinstance(flow, ObservableFlowable):
        # The bounded buffer a plain Observable goes through: its drops are the stream's.
        stages = {"error": flow, **(stages or {})}
    writer = FlowWriter(
        request,
        flow,
        encoder,
        options,
        registry_for(request),
        status=status,
        headers=headers,
        stages=stages,
        resumed_from=resumed_from,
    )
    return await writer.run()


async def sse(
    request: web.BaseRequest,
    source: Source[Any] | None = None,
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
        resume: the hook that makes the stream from where the client is (see
            :data:`Resume`): ``hook(last_id)``, or ``hook(last_id, request)`` to see the
            request. Called with the ``Last-Event-ID`` header when a client reconnects with
            one, and, when ``source`` is not given, with ``None`` for a new stream: so
            ``sse(request, resume=events_after)`` alone opens a resumable stream. It returns
            the source (``None``: nothing more, ``204``). A ``ValueError`` it raises answers
            ``400`` (:class:`InvalidLastEventId`); any other exception fails the stream like
            a source that fails before its first item.
        default: converts values ``json`` cannot serialise.

    An empty stream answers ``204``, which tells ``EventSource`` to stop reconnecting.

    Raises:
        TypeError: neither ``source`` nor ``resume`` was given.
        ValueError: a constant ``event`` with CR, LF or NUL, or a ``retry`` below 0.
    """
    if source is None and resume is None:
        raise TypeError(
            "sse() needs a source or resume= (a hook that makes the source from the "
            "client's Last-Event-ID, None for a new stream)"
        )
    encoder = SSE(id=id, event=event, retry=retry, default=default)
    last_id = (request.headers.get("Last-Event-ID") or None) if resume is not None else None
    if last_id == FAILED_ID:
        source = empty()  # the reconnect after a failure: _stream answers 204
    elif resume is not None and (last_id is not None or source is None):
        source = _resumed(resume, last_id, request)
    assert source is not None  # given, or made by the hook: checked above
    return await _stream(
        request,
        source,
        encoder,
        options=options,
        headers=headers,
        stages=stages,
        resumed_from=last_id,
    )


def _takes_request(hook: Callable[..., Any]) -> bool:
    """Whether ``hook`` takes a second positional parameter (the request)."""
    try:
        parameters = inspect.signature(hook).parameters.values()
    except (TypeError, ValueError):  # no signature to read (some builtins): the old form
        return False
    positional = 0
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return True
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            positional += 1
    return positional >= 2


def _resumed(resume: Resume, last_id: str | None, request: web.BaseRequest) -> Source[Any]:
    """The hook's source; its failure becomes a source that fails (a 4xx/5xx answer)."""
    try:
        if _takes_request(resume):
            found = cast(Callable[[str | None, web.BaseRequest], Any], resume)(last_id, request)
        else:
            found = cast(Callable[[str | None], Any], resume)(last_id)
    except ValueError as error:
        if last_id is None:  # no header to blame: the hook's own bug
            return failing(error)
        return failing(InvalidLastEventId(last_id, error))
    except Exception as error:
        return failing(error)
    return empty() if found is None else cast(Source[Any], found)


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
    return await _stream(request, source, encoder, options=options, headers=headers, stages=stages)


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
    return await _stream(
        request, source, Raw(media_type), options=options, headers=headers, stages=stages
    )
