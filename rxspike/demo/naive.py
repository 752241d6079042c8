"""The ``push-unbounded`` approach: the naive bridge, kept to be measured against the others.

An unbounded queue sits between the push source and a write loop: it grows without bound
behind a slow client and keeps its source running after the client left. It counts itself
in the registry (:class:`NaiveStream`) so that ``/metrics`` shows it too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from reactivex import Observable

from rxspike.web import EndReason, StreamRegistry, StreamStats

from .params import Params
from .sources import dropping, encoder_for


async def push_unbounded(
    request: web.Request, params: Params, push: Observable[Any], sent: Callable[[int], None]
) -> web.StreamResponse:
    """The naive bridge, kept for comparison: it grows without bound behind a slow client."""
    encode = encoder_for(params).encode
    queue: asyncio.Queue[Any] = asyncio.Queue()  # unbounded: the flaw on display
    end = object()
    source = push
    if params.drop_after is not None:
        source = source.pipe(dropping(request, params.drop_after))
    subscription = source.subscribe(
        queue.put_nowait, queue.put_nowait, lambda: queue.put_nowait(end)
    )
    response = web.StreamResponse(headers={"Content-Type": encoder_for(params).media_type})
    await response.prepare(request)
    try:
        while (item := await queue.get()) is not end:
            if isinstance(item, Exception):
                raise item
            data = encode(item)
            await response.write(data)
            sent(len(data))
    finally:
        subscription.dispose()
    await response.write_eof()
    return response


class NaiveStream:
    """Counts the naive handler in the registry (open, items, bytes, end reason) so that
    ``/metrics`` shows it too, e.g. still open after its client left."""

    def __init__(self, request: web.Request, registry: StreamRegistry) -> None:
        self._registry = registry
        self._request = f"{request.method} {request.path}"
        self._id = registry.next_id()
        self._items = self._bytes = 0
        self._started = time.monotonic()
        self._reason: EndReason | None = None
        self._error: BaseException | None = None
        self._task = asyncio.current_task()
        self._closed = asyncio.Event()

    @property
    def id(self) -> int:
        return self._id

    def sent(self, size: int) -> None:
        self._items += 1
        self._bytes += size

    def stats(self) -> StreamStats:
        return StreamStats(
            self._id,
            self._request,
            "",
            self._items,
            self._bytes,
            self._items,
            0,
            True,
            time.monotonic() - self._started,
            self._reason,
            None if self._error is None else repr(self._error),
        )

    def stop(self, reason: EndReason) -> None:
        if self._reason is None and self._task is not None:
            self._reason = reason
            self._task.cancel()

    def abort(self) -> None:
        self.stop(EndReason.SHUTDOWN)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def __enter__(self) -> NaiveStream:
        self._registry.add(self)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        if self._reason is None:
            if error is None:
                self._reason = EndReason.COMPLETED
            elif isinstance(error, (ConnectionError, asyncio.CancelledError)):
                self._reason = EndReason.CLIENT_GONE
            else:
                self._reason, self._error = EndReason.FAILED, error
        self._registry.remove(self)
        self._closed.set()
