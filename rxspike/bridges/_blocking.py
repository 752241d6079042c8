"""``from_blocking_iterable``: a blocking iterator read in a worker thread, one item per demand.

A database cursor, a file read line by line, a paginated HTTP client without async support:
iterating them on the event loop would stall every other stream. Each ``next()`` runs in an
executor instead, and only while there is demand, so the reader is never ahead of the
subscriber by more than what it requested (an HTTP stream's bounded window, an ``async for``
prefetch).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, TypeVar

from ..core import Flowable, from_async_iterable
from ..core.async_source import DEFAULT_CLEANUP_TIMEOUT

T = TypeVar("T")

#: ``next()``'s default: the iterator is exhausted.
_END: Any = object()


async def _read_in_thread(
    iterable: Iterable[T], executor: concurrent.futures.Executor | None
) -> AsyncIterator[T]:
    """The blocking iterator as an async generator whose every ``next()`` runs in ``executor``.

    Cancelled while a ``next()`` runs (the subscriber left), it first lets that call finish:
    a generator cannot be closed while it executes, and a thread cannot be interrupted. Then
    ``close()`` runs in the executor too, so the iterator's own clean-up (a generator's
    ``finally``) also stays off the loop.
    """
    loop = asyncio.get_running_loop()
    iterator: Iterator[T] = await loop.run_in_executor(executor, iter, iterable)
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            pending = loop.run_in_executor(executor, next, iterator, _END)
            item = await asyncio.shield(pending)
            pending = None
            if item is _END:
                return
            yield item
    finally:
        if pending is not None and not pending.done():
            await asyncio.wait([pending])  # the read in progress; bounded by the clean-up timeout
        close = getattr(iterator, "close", None)
        if close is not None:
            await loop.run_in_executor(executor, close)


def from_blocking_iterable(
    iterable: Iterable[T],
    *,
    executor: concurrent.futures.Executor | None = None,
    cleanup_timeout: float = DEFAULT_CLEANUP_TIMEOUT,
) -> Flowable[T]:
    """Read a blocking iterable in a worker thread, one ``next()`` per unit of demand.

    Subscribe from a coroutine (the reads are awaited by a task on the running loop). A read
    starts only when the subscriber has asked for an item, so nothing is read ahead of
    demand; each item costs one hand-off to the executor and back, so yield larger items
    (pages, chunks of rows) when items are small. When the stream ends early the read in
    progress is allowed to finish, then the iterator's ``close()`` (a generator's
    ``finally``) runs in the executor, within ``cleanup_timeout``.

    >>> import asyncio, time
    >>> def rows():                      # blocks: must not run on the event loop
    ...     for n in range(3):
    ...         time.sleep(0.001)
    ...         yield {"row": n}
    >>> asyncio.run(from_blocking_iterable(rows()).acollect())
    [{'row': 0}, {'row': 1}, {'row': 2}]

    Args:
        iterable: any iterable; ``iter()`` and every ``next()`` run in the executor.
        executor: where to run them; ``None`` is the loop's default thread pool. Pass a
            dedicated pool to bound how many blocking readers run at once.
        cleanup_timeout: seconds the read in progress plus ``close()`` may take after an
            early end (see :func:`rxspike.from_async_iterable`).

    Raises:
        TypeError: ``iterable`` is not iterable, or ``executor`` is not an Executor.
    """
    if not hasattr(iterable, "__iter__"):
        raise TypeError(
            f"from_blocking_iterable() needs an iterable, got {type(iterable).__name__}"
        )
    if executor is not None and not isinstance(executor, concurrent.futures.Executor):
        raise TypeError(
            "from_blocking_iterable(executor) must be a concurrent.futures.Executor or None, "
            f"got {executor!r}"
        )
    reader = _Reader(iterable, executor)
    return from_async_iterable(reader, cleanup_timeout=cleanup_timeout)


class _Reader(AsyncIterable[T]):
    """Each ``async for`` reads the iterable afresh (a list serves several subscribers)."""

    __slots__ = ("_executor", "_iterable")

    def __init__(self, iterable: Iterable[T], executor: concurrent.futures.Executor | None) -> None:
        self._iterable = iterable
        self._executor = executor

    def __aiter__(self) -> AsyncIterator[T]:
        return _read_in_thread(self._iterable, self._executor)
