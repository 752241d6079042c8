"""``write_stream``: a Flowable into a stream with pipelined ``XADD``, paced by Redis."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis

from ..core.errors import ProtocolViolationError
from ..core.flowable import Flowable
from ..core.hooks import report_undeliverable
from ..core.types import Subscription

T = TypeVar("T")

#: Items one pipeline carries at most; also the most this sink ever holds or has requested.
DEFAULT_WRITE_BATCH = 256

Fields = Mapping[Any, Any]


class _Inbox(Generic[T]):
    """The sink's subscriber: holds what arrived until the writer takes it, and wakes it."""

    def __init__(self) -> None:
        self.items: deque[T] = deque()
        self.subscription: Subscription | None = None
        self.finished = False
        self.error: Exception | None = None
        self._wakeup = asyncio.Event()

    def on_subscribe(self, subscription: Subscription) -> None:
        if self.subscription is not None:
            subscription.cancel()
            report_undeliverable(
                ProtocolViolationError("on_subscribe called twice on write_stream's subscriber")
            )
            return
        self.subscription = subscription

    def on_next(self, item: T) -> None:
        self.items.append(item)
        self._wakeup.set()

    def on_error(self, error: Exception) -> None:
        self.finished, self.error = True, error
        self._wakeup.set()

    def on_completed(self) -> None:
        self.finished = True
        self._wakeup.set()

    async def wait(self) -> None:
        while not self.items and not self.finished:
            self._wakeup.clear()
            await self._wakeup.wait()

    def request(self, n: int) -> None:
        if self.subscription is not None and not self.finished:
            self.subscription.request(n)

    def cancel(self) -> None:
        if self.subscription is not None and not self.finished:
            self.subscription.cancel()


async def write_stream(
    source: Flowable[T],
    client: Redis,
    key: str,
    *,
    fields: Callable[[T], Fields] | None = None,
    maxlen: int | None = None,
    approximate: bool = True,
    batch: int = DEFAULT_WRITE_BATCH,
) -> int:
    """Append every item of ``source`` to the stream ``key``; the number written.

    Items go out in pipelines of ``XADD key [MAXLEN ~ maxlen] * field value ...``, one
    round trip for whatever arrived meanwhile, up to ``batch``. The sink asks ``source``
    for ``batch`` items up front and for more only as Redis acknowledges what it sent, so
    what it holds or has requested never exceeds ``batch``: a slow Redis slows the
    producer instead of filling memory here.

    Not retried: ``XADD`` with ``*`` is not idempotent (a reply lost after Redis appended
    would append twice), so a connection error ends the write and is raised, and the items
    of the failed pipeline may or may not be in the stream (redis-py's own ``retry=`` of
    the client applies to each pipeline as configured there).

    Args:
        source: the items; each a mapping of fields, or anything ``fields`` turns into one.
        client: a ``redis.asyncio.Redis``.
        key: the stream's key.
        fields: item -> the entry's field/value mapping (default: the item itself).
        maxlen: trim the stream to about this many entries as it grows (``MAXLEN ~``; with
            ``approximate=False``, exactly: slower). ``None``: never trim.
        batch: items per pipeline at most.

    Raises:
        ValueError: ``batch`` < 1, ``maxlen`` < 0, or an item with no fields.
        redis.exceptions.RedisError: Redis failed a write; what ``source`` signals is raised
            as it is. In both cases ``source`` was cancelled first.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    if maxlen is not None and maxlen < 0:
        raise ValueError(f"maxlen must be >= 0 or None, got {maxlen!r}")
    as_fields: Callable[[T], Fields] = fields if fields is not None else _itself
    inbox: _Inbox[T] = _Inbox()
    source.subscribe_flow(inbox)
    written = 0
    try:
        inbox.request(batch)
        while True:
            await inbox.wait()
            items = inbox.items
            if not items:
                break
            pipe = client.pipeline(transaction=False)
            sent = 0
            while items and sent < batch:
                entry = as_fields(items.popleft())
                if not entry:
                    raise ValueError(f"an XADD needs at least one field, got {entry!r}")
                pipe.xadd(key, dict(entry), maxlen=maxlen, approximate=approximate)
                sent += 1
            await pipe.execute()
            written += sent
            inbox.request(sent)  # only as fast as Redis acknowledges
    finally:
        inbox.cancel()
    if inbox.error is not None:
        raise inbox.error
    return written


def _itself(item: Any) -> Fields:
    if not isinstance(item, Mapping):
        raise ValueError(
            f"write_stream() items must be mappings of fields, got {type(item).__name__}; "
            "pass fields=... to turn items into mappings"
        )
    return item
