"""The names the demo server answers to, defined once: approaches, formats, overflow names.

The query of ``GET /stream`` (``approach=``, ``format=``, ``overflow=``), the CLI, the scenario
harness and the tests all take them from here, so a new design is one new member.

>>> Approach("push-buffer") is Approach.PUSH_BUFFER
True
>>> [str(f) for f in Format]
['sse', 'ndjson', 'bytes']
"""

from __future__ import annotations

import enum

from rxspike.operators import Overflow


class Approach(enum.StrEnum):
    """The streaming designs the demo puts side by side (in report order)."""

    #: A source that produces only what the socket asked for.
    PULL = "pull"
    #: A push source that cannot be slowed down, through a bounded buffer (``overflow=``).
    PUSH_BUFFER = "push-buffer"
    #: The same push source and buffer, shaped by a token bucket to ``rate`` items/s.
    PUSH_THROTTLE = "push-throttle"
    #: The naive bridge: an unbounded queue between the push source and a write loop.
    PUSH_UNBOUNDED = "push-unbounded"
    #: A plain async generator, pulled one item per unit of demand.
    ASYNC_ITERATOR = "async-iterator"
    #: The feed in a Redis stream, read with demand; only with ``rxspike serve
    #: --redis-url`` (:mod:`rxspike.demo.redis_feed`), so not among :data:`APPROACHES`.
    REDIS = "redis"


class Format(enum.StrEnum):
    """The wire formats of ``GET /stream``."""

    #: Server-Sent Events; the sequence number is the event ``id``.
    SSE = "sse"
    #: One JSON object per line, ``{"seq": n, "data": ...}``.
    NDJSON = "ndjson"
    #: Fixed-size binary records; the first 8 bytes, big-endian, are the sequence number.
    BYTES = "bytes"


#: The approaches every server runs in-process, in report order (the harness compares these).
APPROACHES: tuple[str, ...] = tuple(a.value for a in Approach if a is not Approach.REDIS)
#: Every format's name.
FORMATS: tuple[str, ...] = tuple(f.value for f in Format)
#: ``overflow=`` names and the buffer strategy each selects.
OVERFLOWS: dict[str, Overflow] = {
    "error": Overflow.ERROR,
    "drop-oldest": Overflow.DROP_OLDEST,
    "drop-incoming": Overflow.DROP_INCOMING,
}
