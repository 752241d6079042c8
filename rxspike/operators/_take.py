"""``take``: the first ``count`` items, then cancel upstream and complete."""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from ..core import Flowable, FlowOperator, Subscriber, Subscription
from ..core.hooks import report_undeliverable
from ..core.sources import NO_DEMAND

T = TypeVar("T")


class _Take:
    """Passes demand through, capped at what is still to be taken (RxJava's FlowableTake)."""

    __slots__ = ("_count", "_downstream", "_lock", "_remaining", "_requested_upstream", "_upstream")

    def __init__(self, downstream: Subscriber[Any], count: int) -> None:
        self._downstream: Subscriber[Any] | None = downstream
        self._count = count
        self._remaining = count
        self._requested_upstream = 0
        self._upstream: Subscription | None = None
        self._lock = threading.Lock()

    # -- Subscriber (upstream side) ---------------------------------------------------------

    def on_subscribe(self, subscription: Subscription) -> None:
        downstream = self._downstream
        if self._upstream is not None or downstream is None:
            subscription.cancel()
            return
        self._upstream = subscription
        if self._remaining == 0:
            subscription.cancel()
            self._downstream = None
            downstream.on_subscribe(NO_DEMAND)
            downstream.on_completed()
            return
        downstream.on_subscribe(self)

    def on_next(self, item: Any) -> None:
        downstream = self._downstream
        if downstream is None:
            return
        remaining = self._remaining - 1
        self._remaining = remaining
        downstream.on_next(item)
        if remaining == 0 and self._downstream is not None:
            self.cancel()
            downstream.on_completed()

    def on_error(self, error: Exception) -> None:
        downstream, self._downstream = self._downstream, None
        if downstream is None:
            report_undeliverable(error)
        else:
            self._upstream = None
            downstream.on_error(error)

    def on_completed(self) -> None:
        downstream, self._downstream = self._downstream, None
        if downstream is not None:
            self._upstream = None
            downstream.on_completed()

    # -- Subscription (downstream side) -----------------------------------------------------

    def request(self, n: int) -> None:
        upstream = self._upstream
        if upstream is None:
            return
        if n <= 0:
            upstream.request(n)  # the source answers with InvalidDemandError
            return
        with self._lock:  # request may race in from several threads
            # Never ask upstream for more than is left to take.
            n = min(n, self._count - self._requested_upstream)
            self._requested_upstream += max(n, 0)
        if n > 0:
            upstream.request(n)

    def cancel(self) -> None:
        self._downstream = None
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            upstream.cancel()


def take(count: int) -> FlowOperator[T, T]:
    """Emit the first ``count`` items, then cancel upstream and complete.

    Upstream is never asked for more than ``count`` items in total, so a generator behind it
    produces no item that is thrown away.

    .. code::

        request:  --r(10)------------------
        upstream: --r(3)--a--b--c--cancel--
        result:   --------a--b--c|

    >>> from rxspike import range_
    >>> range_(1_000_000_000).pipe(take(3)).collect()
    [0, 1, 2]

    Raises:
        ValueError: ``count`` is not an int >= 0.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"take(count) needs an int >= 0, got {count!r}")

    def apply(source: Flowable[T]) -> Flowable[T]:
        return Flowable(lambda subscriber: source.subscribe_flow(_Take(subscriber, count)))

    return FlowOperator(f"take({count})", apply)
