"""rxspike's aiohttp adapter: stream a Flowable, an Observable or an async iterable.

One call in a handler, with demand taken from the socket::

    async def events(request: web.Request) -> web.StreamResponse:
        return await rxspike.web.sse(request, flow)

and for a stream a browser resumes after a reconnect::

    return await rxspike.web.sse(request, id=lambda e: e.seq, resume=events_after)

``rxspike.web.setup(app)`` gives the application its stream registry (per-stream metrics)
and a graceful shutdown; ``setup(app, prometheus=True)`` also serves Prometheus metrics at
``GET /metrics`` (:mod:`rxspike.web.prometheus`, the ``metrics`` extra).

Imports the demand core, the operators and the bridges; nothing above them. The demo server
(``rxspike serve``) sits on top of it, in :mod:`rxspike.demo`.
"""

from ._disconnect import POLL_INTERVAL
from ._errors import DEFAULT_STATUSES, ErrorInfo, InvalidLastEventId, describe_error
from ._writer import FlowWriter, WriterState
from .application import REGISTRY_KEY, metrics_handler, registry_for, setup
from .encoders import (
    ERROR_EVENT,
    FAILED_ID,
    NDJSON,
    RETRYABLE_STATUSES,
    SSE,
    Encoder,
    Raw,
    ServerSentEvent,
)
from .metrics import (
    Aggregates,
    EndReason,
    HasStatistics,
    StreamRegistry,
    StreamStats,
    Totals,
    default_registry,
)
from .options import DEFAULT_PUSH_CAPACITY, ErrorEnd, StreamOptions
from .responses import Resume, ndjson, raw, sse, stream

__all__ = [
    "DEFAULT_PUSH_CAPACITY",
    "DEFAULT_STATUSES",
    "ERROR_EVENT",
    "FAILED_ID",
    "NDJSON",
    "POLL_INTERVAL",
    "REGISTRY_KEY",
    "RETRYABLE_STATUSES",
    "SSE",
    "Aggregates",
    "Encoder",
    "EndReason",
    "ErrorEnd",
    "ErrorInfo",
    "FlowWriter",
    "HasStatistics",
    "InvalidLastEventId",
    "Raw",
    "Resume",
    "ServerSentEvent",
    "StreamOptions",
    "StreamRegistry",
    "StreamStats",
    "Totals",
    "WriterState",
    "default_registry",
    "describe_error",
    "metrics_handler",
    "ndjson",
    "raw",
    "registry_for",
    "setup",
    "sse",
    "stream",
]
