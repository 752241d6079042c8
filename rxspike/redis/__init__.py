"""Redis Streams with demand that reaches Redis: sources, a consumer group, a sink.

>>> from rxspike.redis import stream_source
>>> flow = stream_source(client, "events", after="0")  # doctest: +SKIP

- :func:`stream_source` reads one stream key with ``XREAD``, only as much as was requested,
  from its tail, its beginning or after an entry id (a ``Last-Event-ID``); every item is a
  :class:`StreamEntry` that carries its id;
- :func:`group_source` reads a consumer group's share (``XREADGROUP``), each
  :class:`GroupEntry` pending until its ``ack()``, a dead consumer's entries claimed by the
  others (``XAUTOCLAIM``);
- :func:`write_stream` appends a Flowable with pipelined ``XADD`` (``MAXLEN ~`` trimming),
  requesting only as fast as Redis acknowledges.

Needs redis-py (``pip install 'rxspike[redis]'``). Imports the demand core only; the
aiohttp adapter is not needed, but its ``sse(..., id=..., resume=...)`` takes these sources
as they are (see docs/guide.md, "Scaling out").
"""

try:
    import redis.asyncio  # noqa: F401  (fail here, with the install hint)
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"rxspike.redis needs redis-py ({missing}); install it with: pip install 'rxspike[redis]'"
    ) from missing

from ._group import DEFAULT_CLAIM_IDLE, group_source
from ._ids import BEGINNING, TAIL, parse_entry_id
from ._sink import DEFAULT_WRITE_BATCH, write_stream
from ._stream import DEFAULT_BATCH, DEFAULT_BLOCK, stream_source
from .errors import (
    GroupNotFoundError,
    InvalidEntryIdError,
    RedisStreamError,
    RedisUnavailableError,
    StreamNotFoundError,
    WrongKeyTypeError,
)
from .types import GroupEntry, Reconnect, StreamEntry

__all__ = [
    "BEGINNING",
    "DEFAULT_BATCH",
    "DEFAULT_BLOCK",
    "DEFAULT_CLAIM_IDLE",
    "DEFAULT_WRITE_BATCH",
    "TAIL",
    "GroupEntry",
    "GroupNotFoundError",
    "InvalidEntryIdError",
    "Reconnect",
    "RedisStreamError",
    "RedisUnavailableError",
    "StreamEntry",
    "StreamNotFoundError",
    "WrongKeyTypeError",
    "group_source",
    "parse_entry_id",
    "stream_source",
    "write_stream",
]
