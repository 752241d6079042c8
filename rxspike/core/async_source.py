"""``from_async_iterable``: an async iterator as a source that pulls only what was requested.

How a stream that ends early closes the iterator, so that an async generator's ``finally``
runs to its end, awaits included:

- the subscriber cancels while the pump waits for demand, or from inside ``on_next``
  (``take``, a client that left, ``break``): the pump is woken, not cancelled, and closes
  the generator with ``aclose()``; nothing cancels the clean-up's awaits;
- it cancels while the generator itself is suspended inside its body (waiting for its next
  item): the pump task is cancelled, which raises ``CancelledError`` at that ``await``, the
  only place a running generator can be interrupted; its ``finally`` then runs on, its
  own awaits uncancelled;
- either way the clean-up may take ``cleanup_timeout`` seconds; after that it is cancelled
  and :class:`AsyncCleanupTimeoutError` goes to the undeliverable hook. An error the
  clean-up raises goes there too: the subscriber has left, nobody else can receive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Generic, TypeVar

from ._demand import ACTIVE, Lifecycle
from ._upstream import signal_end
from .errors import InvalidDemandError, RxSpikeError
from .flowable import Flowable
from .hooks import report_undeliverable
from .sources import NO_DEMAND
from .types import UNBOUNDED, Subscriber

T = TypeVar("T")

#: ``_bad_request`` while every ``request(n)`` was valid.
_GOOD = object()

#: Seconds an async iterator's clean-up (an async generator's ``finally``, run by
#: ``aclose()``) may take after its stream ended early, before it is cancelled.
DEFAULT_CLEANUP_TIMEOUT = 5.0


class AsyncCleanupTimeoutError(RxSpikeError):
    """An async iterator's clean-up outlived ``cleanup_timeout`` and was cancelled.

    Reported to the undeliverable hook (the subscriber has already left). The generator's
    ``finally`` got ``CancelledError`` at the ``await`` it was stuck in; raise the timeout of
    ``from_async_iterable`` if its clean-up legitimately takes longer.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__(
            f"the async iterator's clean-up (its finally / aclose()) took longer than "
            f"cleanup_timeout={timeout} s and was cancelled; pass a larger cleanup_timeout "
            "to from_async_iterable() if it needs more time"
        )
        self.timeout = timeout


def check_cleanup_timeout(value: object) -> float:
    """``value`` as a clean-up timeout in seconds: a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            f"from_async_iterable(cleanup_timeout) must be a finite number of seconds > 0, "
            f"got {value!r}"
        )
    return float(value)


class _AsyncIterableSubscription(Generic[T]):
    """One task per subscription pulls from the iterator while there is demand.

    ``request`` and ``cancel`` may come from any thread; the task, and so every signal,
    runs on the event loop that was running at subscribe time. See the module docstring
    for how an early end closes the iterator.
    """

    __slots__ = (
        "_bad_request",
        "_cleanup_timeout",
        "_cut",
        "_deadline",
        "_demand",
        "_emitted",
        "_iterable",
        "_lock",
        "_loop",
        "_pulling",
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
        cleanup_timeout: float,
    ) -> None:
        self._subscriber: Subscriber[T] | None = subscriber
        self._iterable = iterable
        self._loop = loop
        self._thread = threading.get_ident()
        self._lock = threading.Lock()
        self._state = ACTIVE
        self._requested = 0
        self._emitted = 0
        #: The first bad ``request(n)`` argument, or ``_GOOD`` (None itself may be one).
        self._bad_request: object = _GOOD
        self._demand = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._cleanup_timeout = cleanup_timeout
        #: True while the pump awaits ``__anext__``: the generator is running, suspended
        #: somewhere in its body, and only a task cancellation can interrupt it there.
        self._pulling = False
        #: The timer that cuts a clean-up running past ``cleanup_timeout``.
        self._deadline: asyncio.TimerHandle | None = None
        #: Set when that timer fired: the clean-up was cancelled.
        self._cut = False

    def request(self, n: int) -> None:
        with self._lock:
            if self._state is not ACTIVE:
                return
            if type(n) is not int or n <= 0:  # bool, float, str, None: rule 3.9 as well
                if self._bad_request is _GOOD:
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
        if task is None or task.done():
            # Never started (the iterator was never created) or already over: nothing to close.
            return
        self._deadline = self._loop.call_later(self._cleanup_timeout, self._overdue)
        if self._pulling:
            task.cancel()  # interrupt the generator at the await it is suspended in
        else:
            self._demand.set()  # the pump leaves its loop and closes the iterator itself

    def _overdue(self) -> None:
        task = self._task
        if task is not None and not task.done():
            self._cut = True
            task.cancel()

    async def _pump(self) -> None:
        iterator: AsyncIterator[T] | None = None
        try:
            iterator = aiter(self._iterable)
            while True:
                while self._emitted == self._requested and self._bad_request is _GOOD:
                    if self._state is not ACTIVE:
                        return
                    self._demand.clear()
                    await self._demand.wait()
                if self._state is not ACTIVE:
                    return
                if self._bad_request is not _GOOD:
                    self._end(InvalidDemandError(self._bad_request))
                    return
                self._pulling = True
                try:
                    item = await anext(iterator)
                except StopAsyncIteration:
                    self._end(None)
                    return
                finally:
                    self._pulling = False
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
            # cancel() interrupted the generator, the clean-up timer cut it, or the loop is
            # shutting down (it cancels every task). The iterator is closed below.
            pass
        except Exception as error:
            self._end(error)  # after a cancel: an error of the clean-up, for the hook
        finally:
            await self._close(iterator)

    async def _close(self, iterator: AsyncIterator[T] | None) -> None:
        """Close ``iterator`` (a no-op once it finished), within the clean-up timeout."""
        aclose = getattr(iterator, "aclose", None)
        try:
            if aclose is not None and not self._cut:
                await aclose()
        except asyncio.CancelledError:
            pass  # cut at the deadline (reported below) or the loop is shutting down
        except Exception as error:
            report_undeliverable(error)
        finally:
            if self._deadline is not None:
                self._deadline.cancel()
            if self._cut:
                report_undeliverable(AsyncCleanupTimeoutError(self._cleanup_timeout))

    def _end(self, error: Exception | None) -> None:
        with self._lock:
            if self._state is ACTIVE:
                self._state = Lifecycle.TERMINATED
        subscriber, self._subscriber = self._subscriber, None
        if subscriber is None:
            if error is not None:  # the subscriber has left (rule 1.6): nobody else can have it
                report_undeliverable(error)
            return
        signal_end(subscriber, error)


def from_async_iterable(
    iterable: AsyncIterable[T], *, cleanup_timeout: float = DEFAULT_CLEANUP_TIMEOUT
) -> Flowable[T]:
    """Pull from an async iterable one item per unit of demand.

    Subscribe from a coroutine: the items are pulled by a task on the running event loop.
    Nothing is pulled before it was requested. When the stream ends early (``take``, a
    cancel, ``break``, a cancelled consumer, a client that left, a shutdown), the iterator
    is closed with ``aclose()``, so an async generator's ``finally`` runs to its end, its
    awaits included (``await cursor.close()``). An async generator object can be iterated
    once, so subscribe to it once; pass an object whose ``__aiter__`` starts afresh to serve
    several subscribers.

    Args:
        iterable: the async iterable (an async generator, say).
        cleanup_timeout: seconds the clean-up may take after an early end; then it is
            cancelled and :class:`AsyncCleanupTimeoutError` goes to the undeliverable hook,
            as does any error the clean-up raises.

    Raises:
        ValueError: ``cleanup_timeout`` is not a finite number > 0.
    """
    timeout = check_cleanup_timeout(cleanup_timeout)

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
        subscriber.on_subscribe(_AsyncIterableSubscription(subscriber, iterable, loop, timeout))

    return Flowable(subscribe)
