"""The ``push-unbounded`` approach: the naive bridge, kept to be measured against the others.

An unbounded queue sits between the push source and a write loop: it grows without bound
behind a slow client and keeps its source running after the client left. It counts itself
in the registry (:class:`NaiveStream`) so that ``/metrics`` shows it too. Naive as it is, it
is quiet in the log: a client that left ends it without a traceback, and a source that fails
after the headers logs one WARNING line and cuts the connection (no final chunk).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from reactivex import Observable

from rxspike.web import EndReason, StreamRegistry, StreamStats

from .params import Params
from .sources import dropping, encoder_for

logger = logging.getLogger("rxspike.demo")


async def push_unbounded(
    request: web.Request, params: Params, push: Observable[Any], counted: NaiveStream
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
    try:
        await response.prepare(request)
        while (item := await queue.get()) is not end:
            if isinstance(item, Exception):
                counted.failed(item)
                if request.transport is not None:
                    request.transport.close()  # no final chunk: the body is not complete
                return response
            data = encode(item)
            await response.write(data)
            counted.sent(len(data))
        await response.write_eof()
    except ConnectionError:  # the client left; aiohttp answers nothing more
        counted.gone()
    finally:
        subscription.dispose()
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
        self._registry.tally.wrote(1, size)

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

    def gone(self) -> None:
        """The client left (a write failed)."""
        if self._reason is None:
            self._reason = EndReason.CLIENT_GONE

    def failed(self, error: Exception) -> None:
        """The source failed after the headers: one WARNING line, no traceback."""
        if self._reason is None:
            self._reason, self._error = EndReason.FAILED, error
            logger.warning(
                "stream %d (%s, push-unbounded) failed after the headers, %d items: %r",
                self._id,
                self._request,
                self._items,
                error,
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
