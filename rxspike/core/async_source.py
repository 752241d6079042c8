"""``from_async_iterable``: an async iterator as a source that pulls only what was requested."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Generic, TypeVar

from ._demand import ACTIVE, Lifecycle
from .errors import InvalidDemandError
from .flowable import Flowable
from .hooks import report_undeliverable
from .sources import NO_DEMAND
from .types import UNBOUNDED, Subscriber

T = TypeVar("T")


class _AsyncIterableSubscription(Generic[T]):
    """One task per subscription pulls from the iterator while there is demand.

    ``request`` and ``cancel`` may come from any thread; the task, and so every signal,
    runs on the event loop that was running at subscribe time.
    """

    __slots__ = (
        "_bad_request",
        "_demand",
        "_emitted",
        "_iterable",
        "_lock",
        "_loop",
        "_requested",
        "_state",
        "_subscriber",
        "_task",
        "_thread",
    )

    def __init__(
        self,
        subscriber: Subscriber[T],
        iterable: AsyncIterable[T],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._subscriber: Subscriber[T] | None = subscriber
        self._iterable = iterable
        self._loop = loop
        self._thread = threading.get_ident()
        self._lock = threading.Lock()
        self._state = ACTIVE
        self._requested = 0
        self._emitted = 0
        self._bad_request: int | None = None
        self._demand = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def request(self, n: int) -> None:
        with self._lock:
            if self._state is not ACTIVE:
                return
            if n <= 0:
                self._bad_request = n
            else:
                total = self._requested + n
                self._requested = total if total < UNBOUNDED else UNBOUNDED
        self._on_loop(self._wake)

    def cancel(self) -> None:
        with self._lock:
            if self._state is not ACTIVE:
                return
            self._state = Lifecycle.CANCELLED
        self._on_loop(self._stop)

    def _on_loop(self, callback: Callable[[], None]) -> None:
        if threading.get_ident() == self._thread:
            callback()
        else:
            with contextlib.suppress(RuntimeError):  # loop closed: the task is gone with it
                self._loop.call_soon_threadsafe(callback)

    def _wake(self) -> None:
        if self._task is None:
            if self._state is ACTIVE:
                self._task = self._loop.create_task(self._pump())
        else:
            self._demand.set()

    def _stop(self) -> None:
        self._subscriber = None
        task = self._task
        if task is None:
            # Never started: the iterator was never created, so there is nothing to close.
            return
        task.cancel()

    async def _pump(self) -> None:
        iterator: AsyncIterator[T] | None = None
        try:
            iterator = aiter(self._iterable)
            while True:
                while self._emitted == self._requested and self._bad_request is None:
                    if self._state is not ACTIVE:
                        return
                    self._demand.clear()
                    await self._demand.wait()
                if self._state is not ACTIVE:
                    return
                if self._bad_request is not None:
                    self._end(InvalidDemandError(self._bad_request))
                    return
                try:
                    item = await anext(iterator)
                except StopAsyncIteration:
                    self._end(None)
                    return
                subscriber = self._subscriber
                if subscriber is None:
                    return
                self._emitted += 1
                try:
                    subscriber.on_next(item)
                except Exception as error:  # the subscriber broke rule 2.13
                    self.cancel()
                    report_undeliverable(error)
                    return
        except asyncio.CancelledError:
            # cancel() stopped us; anything else cancelling this private task means the
            # loop is shutting down. Either way the iterator is closed below.
            pass
        except Exception as error:
            self._end(error)
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception as error:
                    report_undeliverable(error)

    def _end(self, error: Exception | None) -> None:
        with self._lock:
            self._state = Lifecycle.TERMINATED
        subscriber, self._subscriber = self._subscriber, None
        if subscriber is None:
            return
        try:
            if error is None:
                subscriber.on_completed()
            else:
                subscriber.on_error(error)
        except Exception as late:
            report_undeliverable(late)


def from_async_iterable(iterable: AsyncIterable[T]) -> Flowable[T]:
    """Pull from an async iterable one item per unit of demand.

    Subscribe from a coroutine: the items are pulled by a task on the running event loop.
    Nothing is pulled before it was requested. Cancelling the subscription cancels that task
    and closes the iterator, so an async generator's ``finally`` runs. An async generator
    object can be iterated once, so subscribe to it once; pass an object whose ``__aiter__``
    starts afresh to serve several subscribers.
    """

    def subscribe(subscriber: Subscriber[T]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            subscriber.on_subscribe(NO_DEMAND)
            subscriber.on_error(
                RuntimeError(
                    "from_async_iterable() must be subscribed while an asyncio event loop "
                    "is running (subscribe from a coroutine)"
                )
            )
            return
        subscriber.on_subscribe(_AsyncIterableSubscription(subscriber, iterable, loop))

    return Flowable(subscribe)
