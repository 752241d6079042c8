"""The demo server: one endpoint per streaming design, side by side (``rxspike serve``).

``GET /stream`` streams ``count`` items of ``size`` bytes, one every ``interval_ms`` (0: as
fast as possible), through the design named by ``approach`` (:class:`Approach`):

- ``pull``: a source that produces only what the socket asked for;
- ``push-buffer``: a source that cannot be slowed down, through a bounded buffer
  (``overflow=`` chooses what a full buffer drops);
- ``push-throttle``: the same push source, through a bounded buffer and a token bucket that
  shapes it to ``rate`` items per second;
- ``push-unbounded``: the naive bridge, an unbounded queue between the push source and a
  write loop. It grows without bound behind a slow client and keeps its source running
  after the client left; it is here to be measured against the others;
- ``async-iterator``: a plain async generator.

Every item carries its sequence number (the SSE ``id``, the NDJSON ``seq``, the first 8
bytes, big-endian, of a ``bytes`` record of exactly ``size`` bytes), so a client can check
order and loss. ``drop_after=K`` closes each connection under its stream after K items, as a
proxy or a crash would, so resuming can be watched. A client that reconnects with
``Last-Event-ID: N`` (what ``EventSource`` sends) gets the stream from ``N + 1`` on, in every
approach and format (the push designs still drop what their ``overflow`` drops); when
nothing is left, SSE answers ``204`` and the browser stops reconnecting. ``GET /metrics``
reports the totals, one page of the open streams (with per-stream statistics,
``?offset=&limit=``) and the recently ended ones; ``GET /metrics/prometheus`` the same
aggregates for Prometheus (with the ``metrics`` extra). ``GET /`` is a live page that shows
one stream in the browser (:mod:`.live`). Every response names its process in
``X-Worker-Pid``.

:func:`make_app` builds the application from source factories (:class:`Sources`), so a
caller (the scenario harness, a test) hands in its own instead of patching this package.

Layers: the demo sits on :mod:`rxspike.web`; the harness and the CLI sit on it.
"""

from .app import DEMO_OPTIONS, PROMETHEUS_PATH, SOURCES_KEY, approach_sources, make_app
from .names import APPROACHES, FORMATS, OVERFLOWS, Approach, Format
from .params import (
    MAX_BUFFER_BYTES,
    MAX_CAPACITY,
    MAX_COUNT,
    MAX_INTERVAL_MS,
    MAX_METRICS_PAGE,
    MAX_RATE,
    MAX_SIZE,
    MAX_TOTAL_BYTES,
    METRICS_PAGE,
    MIN_INTERVAL_MS,
    MIN_SIZE,
    BadParameter,
    Params,
    parse_params,
    resume_point,
)
from .sources import (
    PUSH_BATCH,
    SourceFailed,
    Sources,
    async_iterator_source,
    item_maker,
    payload,
    pull_source,
    push_source,
)

__all__ = [
    "APPROACHES",
    "DEMO_OPTIONS",
    "FORMATS",
    "MAX_BUFFER_BYTES",
    "MAX_CAPACITY",
    "MAX_COUNT",
    "MAX_INTERVAL_MS",
    "MAX_METRICS_PAGE",
    "MAX_RATE",
    "MAX_SIZE",
    "MAX_TOTAL_BYTES",
    "METRICS_PAGE",
    "MIN_INTERVAL_MS",
    "MIN_SIZE",
    "OVERFLOWS",
    "PROMETHEUS_PATH",
    "PUSH_BATCH",
    "SOURCES_KEY",
    "Approach",
    "BadParameter",
    "Format",
    "Params",
    "SourceFailed",
    "Sources",
    "approach_sources",
    "async_iterator_source",
    "item_maker",
    "make_app",
    "parse_params",
    "payload",
    "pull_source",
    "push_source",
    "resume_point",
]
