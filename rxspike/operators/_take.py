"""``take``: the first ``count`` items, then cancel upstream and complete."""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from ..core import (
    Flowable,
    FlowOperator,
    MissingBackpressureError,
    ProtocolViolationError,
    Subscriber,
    Subscription,
)
from ..core.hooks import report_undeliverable
from ..core.kit import end_at_once, subscribe_fenced, validate_subscription

T = TypeVar("T")


class _Take:
    """Passes demand through, capped at what is still to be taken (RxJava's FlowableTake).

    It knows how much it asked upstream for, so a publisher that breaks the rules is caught:
    items beyond that demand fail the stream with :class:`MissingBackpressureError` while it
    runs, and are reported (once) to the undeliverable hook after it ended or was cancelled,
    as are signals after upstream's ``on_completed`` / ``on_error`` (rule 1.7). Items within
    the demand that arrive after ``cancel()`` were in flight (rule 2.8) and are dropped.
    """

    __slots__ = (
        "_count",
        "_downstream",
        "_ended",
        "_lock",
        "_remaining",
        "_reported",
        "_requested_upstream",
        "_upstream",
    )

    def __init__(self, downstream: Subscriber[Any], count: int) -> None:
        self._downstream: Subscriber[Any] | None = downstream
        self._count = count
        #: ``count`` less the items received; negative once upstream sent too many.
        self._remaining = count
        self._requested_upstream = 0
        self._upstream: Subscription | None = None
        self._lock = threading.Lock()
        #: Upstream's terminal signal, once it came.
        self._ended: str | None = None
        #: A misbehaving upstream was reported to the undeliverable hook already.
        self._reported = False

    # -- Subscriber (upstream side) ---------------------------------------------------------

    def on_subscribe(self, subscription: Subscription) -> None:
        if not validate_subscription(
            self._upstream, subscription, f"upstream of take({self._count})"
        ):
            return
        downstream = self._downstream
        if downstream is None:  # cancelled before upstream subscribed
            subscription.cancel()
            return
        self._upstream = subscription
        if self._remaining == 0:
            subscription.cancel()
            self._downstream = None
            end_at_once(downstream, None)
            return
        subscribe_fenced(downstream, self)

    def on_next(self, item: Any) -> None:
        remaining = self._remaining - 1
        self._remaining = remaining
        if self._count - remaining > self._requested_upstream or self._ended is not None:
            self._misbehaved()
            return
        downstream = self._downstream
        if downstream is None:
            return  # requested before cancel(): in flight (rule 2.8)
        downstream.on_next(item)
        if remaining == 0 and self._downstream is not None:
            self.cancel()
            downstream.on_completed()

    def _misbehaved(self) -> None:
        """Upstream sent an item it was not asked for, or sent one after it ended."""
        if self._ended is not None:
            problem = f"called on_next after {self._ended} (Reactive Streams rule 1.7)"
        else:
            problem = (
                f"emitted item #{self._count - self._remaining} but was asked for only "
                f"{self._requested_upstream}"
            )
        downstream, self._downstream = self._downstream, None
        if downstream is not None:
            upstream, self._upstream = self._upstream, None
            if upstream is not None:
                upstream.cancel()
            downstream.on_error(
                MissingBackpressureError(
                    f"upstream of take({self._count}) {problem} (Reactive Streams rule 1.1)"
                )
            )
        elif not self._reported:
            self._reported = True
            if self._ended is None:
                problem += " after it was cancelled (Reactive Streams rules 1.1, 3.12)"
            report_undeliverable(
                ProtocolViolationError(
                    f"upstream of take({self._count}) {problem}; extra items are dropped"
                )
            )

    def _end(self, signal: str, error: Exception | None) -> Subscriber[Any] | None:
        """Record upstream's terminal signal; the downstream to tell, if any."""
        if self._ended is not None:
            violation = ProtocolViolationError(
                f"upstream of take({self._count}) called {signal} after {self._ended} "
                "(Reactive Streams rule 1.7)"
            )
            violation.__cause__ = error
            report_undeliverable(violation)
            return None
        self._ended = signal
        self._upstream = None
        downstream, self._downstream = self._downstream, None
        if downstream is None and error is not None:
            report_undeliverable(error)
        return downstream

    def on_error(self, error: Exception) -> None:
        downstream = self._end("on_error", error)
        if downstream is not None:
            downstream.on_error(error)

    def on_completed(self) -> None:
        downstream = self._end("on_completed", None)
        if downstream is not None:
            downstream.on_completed()

    # -- Subscription (downstream side) -----------------------------------------------------

    def request(self, n: int) -> None:
        upstream = self._upstream
        if upstream is None:
            return
        if type(n) is not int or n <= 0:
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
