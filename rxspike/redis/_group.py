"""``group_source``: a consumer group's share of a stream, acknowledged entry by entry."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from ..core.flowable import Flowable
from ..core.types import Subscriber
from ._ids import BEGINNING, TAIL, start_id, text_of
from ._pull import AsyncPull, check_read_options, pulled
from ._stream import DEFAULT_BATCH, DEFAULT_BLOCK, entries_of
from .types import DEFAULT_RECONNECT, GroupEntry, Reconnect

#: Seconds an entry stays pending with a silent consumer before another one claims it.
DEFAULT_CLAIM_IDLE = 30.0

#: Where ``XREADGROUP`` hands out entries no consumer of the group has seen.
_NEW = ">"


class _GroupRead(AsyncPull[GroupEntry]):
    """Reads in three places, in this order of preference:

    1. its own pending entries after ``_cursor`` (``XREADGROUP ... STREAMS key <id>``): at
       start, those a previous life of this consumer name left unacknowledged; after a
       failed read, those the lost reply carried (Redis recorded them as delivered), but
       none it handed out already (``_unacked``);
    2. every ``claim_idle / 2`` seconds, entries idle longer than ``claim_idle`` in any
       consumer's pending list (``XAUTOCLAIM``): a dead consumer's work;
    3. new entries (``XREADGROUP ... STREAMS key >``), blocking while there are none.
    """

    __slots__ = (
        "_batch",
        "_block_ms",
        "_block_seconds",
        "_claim_cursor",
        "_claim_idle_ms",
        "_claim_next",
        "_client",
        "_consumer",
        "_create",
        "_cursor",
        "_group",
        "_key",
        "_start",
        "_unacked",
    )

    def __init__(
        self,
        subscriber: Subscriber[GroupEntry],
        loop: asyncio.AbstractEventLoop,
        client: Redis,
        key: str,
        *,
        group: str,
        consumer: str,
        start: str,
        create: bool,
        claim_idle: float | None,
        batch: int,
        block: float,
        reconnect: Reconnect,
    ) -> None:
        super().__init__(subscriber, loop, reconnect)
        self._client = client
        self._key, self._group, self._consumer = key, group, consumer
        self._start, self._create = start, create
        self._batch = batch
        self._block_seconds = block
        self._block_ms = max(1, round(block * 1000))
        self._claim_idle_ms = None if claim_idle is None else max(0, round(claim_idle * 1000))
        self._claim_next = 0.0
        self._claim_cursor = BEGINNING
        #: The pending-list position to read after; ``>`` once our pending list is read.
        self._cursor = BEGINNING
        #: Ids handed downstream and not yet acknowledged: never handed out twice.
        self._unacked: set[str] = set()

    @property
    def last_id(self) -> str | None:
        return None

    async def _open(self) -> None:
        if not self._create:
            return
        try:
            await self._client.xgroup_create(self._key, self._group, self._start, mkstream=True)
        except redis_errors.ResponseError as error:
            if not str(error).startswith("BUSYGROUP"):  # it exists already: use it
                raise

    async def _ack(self, entry_id: str) -> None:
        await self._client.xack(self._key, self._group, entry_id)
        self._unacked.discard(entry_id)

    def _entries(self, pairs: list[tuple[Any, Any]], *, claimed: bool) -> list[GroupEntry]:
        # A pending entry deleted (or trimmed) since it was read comes back with no fields.
        unacked = self._unacked
        return [
            GroupEntry(entry_id, fields, claimed, self._ack)
            for entry_id, fields in ((text_of(id_), fields) for id_, fields in pairs)
            if fields is not None and entry_id not in unacked
        ]

    async def _read(self, count: int) -> Sequence[GroupEntry]:
        count = min(count, self._batch)
        client = self._client
        reply: Any
        if self._cursor != _NEW:
            reply = await client.xreadgroup(
                self._group, self._consumer, {self._key: self._cursor}, count=count
            )
            pairs = entries_of(reply)
            if pairs:
                self._cursor = text_of(pairs[-1][0])
                return self._entries(pairs, claimed=False)
            self._cursor = _NEW
        if self._claim_idle_ms is not None and self._event_loop.time() >= self._claim_next:
            reply = await client.xautoclaim(
                self._key,
                self._group,
                self._consumer,
                self._claim_idle_ms,
                start_id=self._claim_cursor,
                count=count,
            )
            cursor, pairs = text_of(reply[0]), reply[1]
            self._claim_cursor = cursor
            if cursor == BEGINNING:  # went round the pending lists: rest a while
                self._claim_next = self._event_loop.time() + self._claim_idle_ms / 2000
            if pairs:
                return self._entries(pairs, claimed=True)
        reply = await client.xreadgroup(
            self._group,
            self._consumer,
            {self._key: _NEW},
            count=count,
            block=self._block_ms,
        )
        return self._entries(entries_of(reply), claimed=False)

    def _delivered(self, item: GroupEntry) -> None:
        self._unacked.add(item.id)

    def _failed(self) -> None:
        # The lost reply's entries are in our pending list now (Redis counts them as
        # delivered): read the list again, skipping what was handed out already.
        self._cursor = BEGINNING


def group_source(
    client: Redis,
    key: str,
    group: str,
    consumer: str,
    *,
    start: str = TAIL,
    create: bool = True,
    claim_idle: float | None = DEFAULT_CLAIM_IDLE,
    batch: int = DEFAULT_BATCH,
    block: float = DEFAULT_BLOCK,
    reconnect: Reconnect = DEFAULT_RECONNECT,
) -> Flowable[GroupEntry]:
    """This consumer's share of the stream ``key`` in consumer group ``group``.

    Each entry of the stream goes to one consumer of the group. Reads are ``XREADGROUP
    GROUP group consumer COUNT min(outstanding demand, batch) BLOCK block``: nothing is
    taken from the group ahead of demand, so entries this consumer did not ask for stay
    available to the others. An entry stays pending until its :meth:`GroupEntry.ack` is
    awaited, so acknowledge once the work is done (written, sent, committed)::

        async for entry in group_source(client, "jobs", "workers", "worker-1"):
            await handle(entry.fields)
            await entry.ack()

    What a consumer read and never acknowledged (it crashed, it was cancelled) is claimed by
    another consumer of the group (``XAUTOCLAIM``) once it was idle ``claim_idle`` seconds,
    and comes with ``claimed=True``; a consumer restarted under the same name first gets its
    own pending entries back. Work is thus done at least once; make handlers idempotent or
    check ``claimed``. Reconnects, cancellation and the loop requirement are as for
    :func:`~rxspike.redis.stream_source`.

    Args:
        client: a ``redis.asyncio.Redis``.
        key, group, consumer: the stream, the group, and this consumer's name in it.
        start: where a group created here starts: ``"$"`` (new entries), ``"0"`` (the
            whole stream) or an entry id.
        create: create the group (and the stream) if missing; ``False`` signals
            :class:`~rxspike.redis.errors.GroupNotFoundError` instead.
        claim_idle: seconds after which another consumer's pending entry is claimed;
            ``None`` never claims.
        batch, block, reconnect: as for :func:`~rxspike.redis.stream_source`.

    Raises:
        InvalidEntryIdError: ``start`` is not an id.
        ValueError: an empty ``group`` or ``consumer``, ``batch`` < 1, ``block`` <= 0 or
            ``claim_idle`` < 0.
    """
    begin = start_id(start)
    for name, value in (("group", group), ("consumer", consumer)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    check_read_options(batch, block)
    if claim_idle is not None and not claim_idle >= 0:
        raise ValueError(f"claim_idle must be >= 0 seconds or None, got {claim_idle!r}")

    return pulled(
        "group_source",
        lambda subscriber, loop: _GroupRead(
            subscriber,
            loop,
            client,
            key,
            group=group,
            consumer=consumer,
            start=begin,
            create=create,
            claim_idle=claim_idle,
            batch=batch,
            block=block,
            reconnect=reconnect,
        ),
    )
