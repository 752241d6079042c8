"""``stream_source``: entries of one stream key, read with ``XREAD`` only as requested."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from ..core.flowable import Flowable
from ..core.types import Subscriber
from ._ids import BEGINNING, TAIL, start_id, text_of
from ._pull import AsyncPull, check_read_options, pulled, translate
from .errors import StreamNotFoundError
from .types import DEFAULT_RECONNECT, Reconnect, StreamEntry

#: Entries one ``XREAD`` asks for at most, however large the demand.
DEFAULT_BATCH = 256
#: How long one ``XREAD`` waits in Redis for new entries, in seconds.
DEFAULT_BLOCK = 1.0


def entries_of(reply: Any) -> list[tuple[Any, Any]]:
    """The ``(id, fields)`` pairs of a one-key ``XREAD``/``XREADGROUP`` reply (RESP2 or 3)."""
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3: {key: [entries]} (redis-py may nest the list)
        (found,) = reply.values()
        return list(found[0] if found and isinstance(found[0], list) else found)
    return list(reply[0][1])


async def stream_info(client: Redis, key: str) -> dict[Any, Any] | None:
    """``XINFO STREAM key``, or ``None`` when the key does not exist.

    Raises:
        WrongKeyTypeError: the key holds another type.
    """
    try:
        info: dict[Any, Any] = await client.xinfo_stream(key)
    except redis_errors.ResponseError as error:
        if "no such key" in str(error):
            return None
        raise translate(error, key) from error
    return info


class _StreamRead(AsyncPull[StreamEntry]):
    __slots__ = ("_after", "_batch", "_block_ms", "_block_seconds", "_client", "_key", "_must")

    def __init__(
        self,
        subscriber: Subscriber[StreamEntry],
        loop: asyncio.AbstractEventLoop,
        client: Redis,
        key: str,
        after: str,
        *,
        batch: int,
        block: float,
        reconnect: Reconnect,
        must_exist: bool,
    ) -> None:
        super().__init__(subscriber, loop, reconnect)
        self._client = client
        self._key = key
        self._after = after
        self._batch = batch
        self._block_seconds = block
        self._block_ms = max(1, round(block * 1000))
        self._must = must_exist

    @property
    def last_id(self) -> str | None:
        return None if self._after == TAIL else self._after

    async def _open(self) -> None:
        info = await stream_info(self._client, self._key)
        if info is None and self._must:
            raise StreamNotFoundError(
                f"stream key {self._key!r} does not exist (must_exist=True): it is created "
                "by its first XADD"
            )
        if self._after == TAIL:
            # "$" means "after the newest entry at the time of the read": re-read after a
            # reconnect it would skip what was added meanwhile. So pin it to an id now.
            last = (
                None
                if info is None
                else info.get("last-generated-id", info.get(b"last-generated-id"))
            )
            self._after = BEGINNING if last is None else text_of(last)

    async def _read(self, count: int) -> Sequence[StreamEntry]:
        reply = await self._client.xread(
            {self._key: self._after}, count=min(count, self._batch), block=self._block_ms
        )
        return [StreamEntry(text_of(id_), fields) for id_, fields in entries_of(reply)]

    def _delivered(self, item: StreamEntry) -> None:
        self._after = item.id


def stream_source(
    client: Redis,
    key: str,
    *,
    after: str = TAIL,
    batch: int = DEFAULT_BATCH,
    block: float = DEFAULT_BLOCK,
    reconnect: Reconnect = DEFAULT_RECONNECT,
    must_exist: bool = False,
) -> Flowable[StreamEntry]:
    """The entries of the stream ``key``, read only as fast as they are requested.

    Each round trip is ``XREAD COUNT min(outstanding demand, batch) BLOCK block STREAMS key
    last_id``: nothing is read ahead of demand, so a slow subscriber leaves the backlog in
    Redis (bounded by the producers' ``MAXLEN``), not in this process. The stream never
    completes on its own; cancel it to stop, which ends a pending ``BLOCK`` at once (the
    read's connection is closed with it). Subscribe from a coroutine: reads run in a task on
    the running event loop, one ``client`` connection per pending read (size a bounded
    pool for the number of sources; keep ``socket_timeout`` above ``block``).

    Redis going away mid-stream is retried per ``reconnect``; reading resumes after the last
    entry delivered, so nothing is skipped or repeated, as long as Redis kept the stream
    (persistence or a replica). Past the budget the subscriber gets
    :class:`~rxspike.redis.errors.RedisUnavailableError` naming the last id delivered.

    >>> stream_source(None, "events", after="bogus")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InvalidEntryIdError: invalid stream entry id 'bogus': expected ...

    Args:
        client: a ``redis.asyncio.Redis``.
        key: the stream's key.
        after: where to start: ``"$"`` (the default) for entries added from subscription
            on, ``"0"`` for the whole stream, or an entry id (a ``Last-Event-ID``) to
            continue after it.
        batch: the most entries one ``XREAD`` asks for.
        block: seconds one ``XREAD`` waits in Redis while the stream is idle.
        reconnect: the retry budget for a Redis that went away.
        must_exist: signal :class:`~rxspike.redis.errors.StreamNotFoundError` when the key
            does not exist instead of waiting for its first entry.

    Raises:
        InvalidEntryIdError: ``after`` is not an id (a ``ValueError``: a ``resume`` hook of
            ``rxspike.web.sse`` answers 400 for it).
        ValueError: ``batch`` < 1 or ``block`` <= 0.

    Signals :class:`~rxspike.redis.errors.WrongKeyTypeError` when the key holds another type.
    """
    begin = start_id(after)
    check_read_options(batch, block)

    return pulled(
        "stream_source",
        lambda subscriber, loop: _StreamRead(
            subscriber,
            loop,
            client,
            key,
            begin,
            batch=batch,
            block=block,
            reconnect=reconnect,
            must_exist=must_exist,
        ),
    )
