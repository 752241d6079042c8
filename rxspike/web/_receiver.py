"""The HTTP writer's subscriber: encodes items as they arrive and queues their frames."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ..core import MissingBackpressureError, Subscription
from ..core.hooks import report_undeliverable
from ..core.kit import validate_subscription

T = TypeVar("T")

_get_ident = threading.get_ident  # looked up once: on_next runs once per item


class FrameReceiver(Generic[T]):
    """A bounded queue of encoded frames between a Flowable and the socket writer.

    The writer drives demand with :meth:`request`; the receiver never requests on its own.
    Each item is encoded as it arrives, so the writer knows exactly how many bytes wait. An
    encoder that raises fails the stream like an upstream error (upstream is cancelled).
    More items than requested (``len(queue) > limit``) fail it with
    :class:`MissingBackpressureError` instead of growing the queue.

    Signals may come from any thread; they are handed to the loop's thread, where all the
    state lives. Frames that arrived before an error are still written, then the error.
    ``cancel()`` is synchronous and idempotent: it cancels upstream once, drops the queue,
    and wakes the writer.
    """

    __slots__ = (
        "_clock",
        "_encode",
        "_limit",
        "_loop",
        "_thread",
        "chunks",
        "error",
        "finished",
        "high_water",
        "requested",
        "since",
        "subscription",
        "taken",
        "waiter",
    )

    def __init__(
        self, encode: Callable[[T], bytes], limit: int, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._encode = encode
        self._limit = limit
        self._loop = loop
        self._thread = threading.get_ident()
        self._clock = loop.time
        #: Encoded frames, oldest first.
        self.chunks: list[bytes] = []
        #: Loop time at which the oldest queued frame arrived (an upper bound on its age
        #: after a partial :meth:`take`); meaningless while the queue is empty.
        self.since = 0.0
        #: Items requested from upstream so far.
        self.requested = 0
        #: Items taken out of the queue by the writer so far.
        self.taken = 0
        #: Most frames queued at once.
        self.high_water = 0
        #: No more items will arrive: a terminal signal came, or the receiver was cancelled.
        self.finished = False
        self.error: Exception | None = None
        self.subscription: Subscription | None = None
        #: The writer's future while it waits for a signal.
        self.waiter: asyncio.Future[None] | None = None

    # -- the writer's side -------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """Items requested that have not arrived yet."""
        return self.requested - self.taken - len(self.chunks)

    def request(self, n: int) -> None:
        """Ask upstream for ``n`` more; a ``request`` that raises (against rule 3.5) fails
        the stream like an upstream error, instead of escaping into the writer."""
        subscription = self.subscription
        if subscription is not None and not self.finished:
            self.requested += n
            try:
                subscription.request(n)
            except Exception as error:
                self.fail(error)

    def fail(self, error: Exception) -> None:
        """End the stream with ``error`` (cancelling upstream), unless it ended already:
        then the error goes to the undeliverable hook."""
        if self.finished:
            report_undeliverable(error)
            return
        self._fail_and_cancel(error)

    def take(self, limit: int) -> tuple[bytes, int]:
        """Up to ``limit`` bytes of queued frames (at least one frame) joined, and their count."""
        chunks = self.chunks
        count = len(chunks)
        if count == 0:
            return b"", 0
        self.high_water = max(self.high_water, count)
        if count == 1:
            self.chunks = []
            self.taken += 1
            return chunks[0], 1
        # Joined first: usually everything fits, and then the join was needed anyway. Else
        # the frames that fit are counted at C speed (no Python loop over the queue).
        data = b"".join(chunks)
        if len(data) <= limit:
            self.chunks = []
            self.taken += count
            return data, count
        count = max(bisect.bisect_right(list(itertools.accumulate(map(len, chunks))), limit), 1)
        data = b"".join(chunks[:count])
        del chunks[:count]
        self.taken += count
        return data, count

    def queued_bytes(self) -> int:
        return sum(map(len, self.chunks))

    def cancel(self) -> None:
        if self.finished and self.subscription is None:
            return
        self.finished = True
        self.chunks = []
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            _cancel_quietly(subscription)
        self.wake()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- Subscriber ----------------------------------------------------------------------------

    def on_subscribe(self, subscription: Subscription) -> None:
        if not validate_subscription(self.subscription, subscription, "HTTP writer"):
            return
        if self.finished:  # cancelled before the subscription came
            subscription.cancel()
            return
        self.subscription = subscription

    def on_next(self, item: T) -> None:
        if _get_ident() != self._thread:
            self._to_loop(self.on_next, item)
            return
        if self.finished:
            return
        try:
            chunk = self._encode(item)
        except Exception as error:  # the encoder's fault: fail the stream, stop the source
            self._fail_and_cancel(error)
            return
        chunks = self.chunks
        chunks.append(chunk)
        queued = len(chunks)
        if queued == 1:
            self.since = self._clock()
            # The writer waits only on an empty queue: only its first frame wakes it.
            if self.waiter is not None:
                self.wake()
        elif queued > self._limit:
            chunks.pop()
            self._fail_and_cancel(
                MissingBackpressureError(
                    f"the source emitted more than the {self._limit} items the HTTP writer "
                    "requested (Reactive Streams rule 1.1)"
                )
            )
            return

    def on_error(self, error: Exception) -> None:
        if threading.get_ident() != self._thread:
            self._to_loop(self.on_error, error)
            return
        if self.finished:
            report_undeliverable(error)
            return
        self.error = error
        self._end()

    def on_completed(self) -> None:
        if threading.get_ident() != self._thread:
            self._to_loop(self.on_completed)
            return
        if not self.finished:
            self._end()

    def _end(self) -> None:
        self.finished = True
        self.subscription = None
        self.wake()

    def _fail_and_cancel(self, error: Exception) -> None:
        subscription, self.subscription = self.subscription, None
        self.error = error
        self._end()
        if subscription is not None:
            _cancel_quietly(subscription)

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is writing any more
            self._loop.call_soon_threadsafe(callback, *args)


def _cancel_quietly(subscription: Subscription) -> None:
    """``cancel()`` must not raise (rule 3.15); one that does is reported, not propagated."""
    try:
        subscription.cancel()
    except Exception as error:
        report_undeliverable(error)
