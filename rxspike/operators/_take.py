"""``take``: the first ``count`` items, then cancel upstream and complete."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..core import (
    Flowable,
    FlowOperator,
    MissingBackpressureError,
    Subscriber,
    Subscription,
)
from ..core.hooks import report_undeliverable
from ..core.kit import Upstream, end_at_once, subscribe_fenced

T = TypeVar("T")


class _Take:
    """Passes demand through, capped at what is still to be taken (RxJava's FlowableTake).

    It knows how much it asked upstream for, so a publisher that breaks the rules is caught:
    items beyond that demand fail the stream with :class:`MissingBackpressureError` while it
    runs. Its :class:`Upstream` link reports what comes after the end: signals after
    upstream's ``on_completed`` / ``on_error`` (rule 1.7), and items after ``cancel()``
    beyond the demand then in flight (rule 2.8 allows those, and they are dropped).
    """

    __slots__ = ("_count", "_downstream", "_link", "_lock", "_remaining", "_requested_upstream")

    def __init__(self, downstream: Subscriber[Any], count: int) -> None:
        self._downstream: Subscriber[Any] | None = downstream
        self._count = count
        #: ``count`` less the items received; negative once upstream sent too many.
        self._remaining = count
        self._requested_upstream = 0
        self._lock = threading.Lock()
        self._link = Upstream(self, f"take({count})")

    # -- UpstreamStage ------------------------------------------------------------------------

    def _upstream_subscribed(self, subscription: Subscription) -> None:
        downstream = self._downstream
        if downstream is None:
            return
        if self._remaining == 0:
            self._downstream = None
            self._link.cancel(0)
            end_at_once(downstream, None)
            return
        subscribe_fenced(downstream, self)

    def _on_item(self, item: Any) -> None:
        remaining = self._remaining - 1
        self._remaining = remaining
        downstream = self._downstream
        if self._count - remaining > self._requested_upstream:
            if downstream is None:
                self._link.late(item)
                return
            self._downstream = None
            self._link.cancel(0)
            downstream.on_error(
                MissingBackpressureError(
                    f"upstream of take({self._count}) emitted item #{self._count - remaining} "
                    f"but was asked for only {self._requested_upstream} "
                    "(Reactive Streams rule 1.1)"
                )
            )
            return
        if downstream is None:  # requested before cancel(): in flight (rule 2.8)
            self._link.late(item)
            return
        downstream.on_next(item)
        if remaining == 0 and self._downstream is not None:
            self.cancel()
            downstream.on_completed()

    def _upstream_end(self, error: Exception | None) -> None:
        downstream, self._downstream = self._downstream, None
        if downstream is None:
            if error is not None:
                report_undeliverable(error)
        elif error is None:
            downstream.on_completed()
        else:
            downstream.on_error(error)

    # -- Subscription (downstream side) -----------------------------------------------------

    def request(self, n: int) -> None:
        if type(n) is not int or n <= 0:
            self._link.request(n)  # the source answers with InvalidDemandError
            return
        with self._lock:  # request may race in from several threads
            # Never ask upstream for more than is left to take.
            n = min(n, self._count - self._requested_upstream)
            self._requested_upstream += max(n, 0)
        if n > 0:
            self._link.request(n)

    def cancel(self) -> None:
        self._downstream = None
        received = self._count - self._remaining
        self._link.cancel(max(self._requested_upstream - received, 0))


def take(count: int) -> Callable[[Flowable[T]], Flowable[T]]:
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

    def apply(source: Flowable[Any]) -> Flowable[Any]:
        return Flowable(lambda subscriber: source.subscribe_flow(_Take(subscriber, count)._link))

    # Typed as a generic callable (as reactivex's take is) so pipe carries the item type.
    operator: FlowOperator[Any, Any] = FlowOperator(f"take({count})", apply)
    return operator
