"""``async for`` over a Flowable: a subscriber that keeps a bounded window requested ahead."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from typing import TYPE_CHECKING, Generic, TypeVar

from ._upstream import Upstream
from .errors import MissingBackpressureError
from .hooks import report_undeliverable
from .types import Subscription

if TYPE_CHECKING:
    from .flowable import Flowable

T = TypeVar("T")

_get_ident = threading.get_ident  # looked up once: on_next runs once per item


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
            source.subscribe_flow(receiver.link)
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
            receiver.link.request(receiver.replenish)
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
    """What stands behind a :class:`FlowIterator`: a bounded queue and a waiter, fed by an
    :class:`Upstream` link (rule 2.5 and late signals are the link's job)."""

    __slots__ = (
        "consumed",
        "error",
        "finished",
        "link",
        "loop",
        "prefetch",
        "queue",
        "replenish",
        "thread",
        "waiter",
    )

    def __init__(self, prefetch: int) -> None:
        self.prefetch = prefetch
        self.replenish = prefetch - prefetch // 4
        self.consumed = 0
        self.queue: deque[T] = deque()
        self.link = Upstream(self, "an async iterator")
        #: No more items will arrive: a terminal signal came, or the iterator was cancelled.
        self.finished = False
        self.error: Exception | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = 0

    def request(self, n: int) -> None:
        self.link.request(n)

    def cancel(self) -> None:
        if self.finished and self.link.stage is None:
            return
        # Requested and not yet arrived: prefetch, less what came since the last replenish.
        in_flight = max(self.prefetch - len(self.queue) - self.consumed, 0)
        self.finished = True
        self.queue.clear()
        self.link.cancel(in_flight)
        self._wake()

    # -- UpstreamStage -----------------------------------------------------------------------

    def _upstream_subscribed(self, subscription: Subscription) -> None:
        subscription.request(self.prefetch)

    def _on_item(self, item: T) -> None:
        if self.finished:  # upstream looked up on_next before the end
            self.link.late(item)
            return
        queue = self.queue
        queue.append(item)
        if len(queue) > self.prefetch:
            queue.pop()
            self.link.cancel(0)
            self._end(
                MissingBackpressureError(
                    f"upstream emitted more than the {self.prefetch} items the async iterator "
                    "requested (Reactive Streams rule 1.1)"
                )
            )
            return
        # On the loop's thread an item needs a wake-up only if the iterator waits (usually it
        # does not: the items arrive inside its own request() call). From another thread,
        # always hand over through the loop, or a waiter set meanwhile would be missed.
        if _get_ident() != self.thread:
            self._to_loop()
        elif self.waiter is not None:
            self._wake()

    def _upstream_end(self, error: Exception | None) -> None:
        if self.finished:  # ended by an overflow already
            if error is not None:
                report_undeliverable(error)
            return
        self._end(error)

    def _end(self, error: Exception | None) -> None:
        self.error = error
        self.finished = True
        self._notify()

    def _notify(self) -> None:
        if _get_ident() == self.thread:
            self._wake()
        else:
            self._to_loop()

    def _to_loop(self) -> None:
        if self.loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is iterating any more
                self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
