"""``async for`` over a Flowable: a subscriber that keeps a bounded window requested ahead."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from typing import TYPE_CHECKING, Generic, TypeVar

from ._upstream import validate_subscription
from .errors import MissingBackpressureError, ProtocolViolationError
from .hooks import report_undeliverable
from .types import UNBOUNDED, Subscription

if TYPE_CHECKING:
    from .flowable import Flowable

T = TypeVar("T")


class FlowIterator(Generic[T]):
    """Async iterator over a Flowable with at most ``prefetch`` items requested ahead.

    The subscription starts at the first ``__anext__``. After ``prefetch - prefetch // 4``
    items were taken, that many more are requested. Leaving the iteration in any way
    (``break``, an exception, ``aclose()``, cancellation of the awaiting task, or dropping the
    iterator) cancels the subscription at once, so the source's finalizers run. The stream's
    error is raised from ``__anext__`` once; after it the iterator is exhausted.

    Signals may arrive from any thread; items are handed to the loop the iterator runs on.
    Items beyond what was requested fail the iteration with
    :class:`MissingBackpressureError` instead of growing the queue.
    """

    # The receiver is the subscriber; it never points back here, so dropping the iterator
    # (``break``) frees it at once and ``__del__`` cancels without waiting for the GC.
    __slots__ = ("_receiver", "_source")

    def __init__(self, source: Flowable[T], prefetch: int) -> None:
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
            raise ValueError(f"prefetch must be a positive int, got {prefetch!r}")
        self._source: Flowable[T] | None = source
        self._receiver: _Receiver[T] = _Receiver(prefetch)

    def __aiter__(self) -> FlowIterator[T]:
        return self

    async def __anext__(self) -> T:
        receiver = self._receiver
        if self._source is not None:
            source, self._source = self._source, None
            receiver.loop = asyncio.get_running_loop()
            receiver.thread = threading.get_ident()
            source.subscribe_flow(receiver)
        queue = receiver.queue
        while not queue:
            if receiver.error is not None:
                error, receiver.error = receiver.error, None
                raise error
            if receiver.finished:
                raise StopAsyncIteration
            waiter = receiver.waiter = receiver.loop.create_future()  # type: ignore[union-attr]
            try:
                await waiter
            except asyncio.CancelledError:
                receiver.cancel()
                raise
            finally:
                receiver.waiter = None
        item = queue.popleft()
        consumed = receiver.consumed + 1
        if consumed == receiver.replenish:
            consumed = 0
            subscription = receiver.subscription
            if subscription is not None:
                subscription.request(receiver.replenish)
        receiver.consumed = consumed
        return item

    async def aclose(self) -> None:
        """Stop iterating and cancel the subscription."""
        self.cancel()

    def cancel(self) -> None:
        """Cancel the subscription and drop buffered items; idempotent, synchronous."""
        self._source = None
        self._receiver.cancel()

    def __del__(self) -> None:
        receiver = getattr(self, "_receiver", None)  # absent if __init__ rejected its input
        if receiver is not None:
            receiver.cancel()


class _Receiver(Generic[T]):
    """The subscriber behind a :class:`FlowIterator`: a bounded queue and a waiter."""

    __slots__ = (
        "consumed",
        "ended",
        "error",
        "finished",
        "in_flight",
        "loop",
        "prefetch",
        "queue",
        "replenish",
        "reported",
        "subscription",
        "thread",
        "waiter",
    )

    def __init__(self, prefetch: int) -> None:
        self.prefetch = prefetch
        self.replenish = prefetch - prefetch // 4
        self.consumed = 0
        self.queue: deque[T] = deque()
        self.subscription: Subscription | None = None
        #: No more items will arrive: a terminal signal came, or the iterator was cancelled.
        self.finished = False
        self.error: Exception | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = 0
        #: Upstream's terminal signal, once it came.
        self.ended: str | None = None
        #: After cancel(): how many more items upstream may still deliver (rule 2.8).
        self.in_flight = UNBOUNDED
        #: A misbehaving upstream was reported to the undeliverable hook already.
        self.reported = False

    def cancel(self) -> None:
        if self.finished and self.subscription is None:
            return
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            # Requested and not yet arrived: prefetch, less what came since the last replenish.
            self.in_flight = max(self.prefetch - len(self.queue) - self.consumed, 0)
        self.finished = True
        self.queue.clear()
        if subscription is not None:
            subscription.cancel()
        self._wake()

    def on_subscribe(self, subscription: Subscription) -> None:
        if not validate_subscription(self.subscription, subscription, "async iterator"):
            return
        if self.finished:  # cancelled before the subscription came
            subscription.cancel()
            return
        self.subscription = subscription
        subscription.request(self.prefetch)

    def on_next(self, item: T) -> None:
        if self.finished:
            self._late_next()
            return
        queue = self.queue
        queue.append(item)
        if len(queue) > self.prefetch:
            queue.pop()
            subscription, self.subscription = self.subscription, None
            if subscription is not None:
                subscription.cancel()
            self._end(
                MissingBackpressureError(
                    f"upstream emitted more than the {self.prefetch} items the async iterator "
                    "requested (Reactive Streams rule 1.1)"
                )
            )
            return
        self._notify()

    def on_error(self, error: Exception) -> None:
        if not self._upstream_ended("on_error", error):
            return
        if self.finished:
            report_undeliverable(error)
            return
        self._end(error)

    def on_completed(self) -> None:
        if self._upstream_ended("on_completed", None) and not self.finished:
            self._end(None)

    def _upstream_ended(self, signal: str, error: Exception | None) -> bool:
        """Record upstream's terminal signal; False (and reported) if one came before."""
        if self.ended is None:
            self.ended = signal
            return True
        violation = ProtocolViolationError(
            f"upstream of an async iterator called {signal} after {self.ended} "
            "(Reactive Streams rule 1.7)"
        )
        violation.__cause__ = error
        report_undeliverable(violation)
        return False

    def _late_next(self) -> None:
        """An item after the end: in flight after cancel (fine), or a broken rule (reported)."""
        if self.ended is not None:
            problem = f"called on_next after {self.ended} (Reactive Streams rule 1.7)"
        else:
            self.in_flight -= 1
            if self.in_flight >= 0:
                return
            problem = (
                "kept emitting after cancel(), beyond the items the iterator had asked for "
                "(Reactive Streams rules 1.1, 3.12)"
            )
        if not self.reported:
            self.reported = True
            report_undeliverable(
                ProtocolViolationError(
                    f"upstream of an async iterator {problem}; extra items are dropped"
                )
            )

    def _end(self, error: Exception | None) -> None:
        self.error = error
        self.finished = True
        self.subscription = None
        self._notify()

    def _notify(self) -> None:
        if threading.get_ident() == self.thread:
            self._wake()
        elif self.loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is iterating any more
                self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
