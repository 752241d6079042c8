"""rxspike's own subscribers: unbounded callbacks, and demand driven by your code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from ._upstream import NO_DEMAND, validate_subscription
from .hooks import report_undeliverable
from .types import UNBOUNDED, Subscription

T = TypeVar("T")

OnNext = Callable[[T], None]
OnError = Callable[[Exception], None]
OnCompleted = Callable[[], None]


class _CallbackSubscriber(Generic[T]):
    """Callbacks plus the bookkeeping every subscriber needs: one subscription, one end."""

    __slots__ = (
        "__weakref__",
        "_cancelled",
        "_done",
        "_on_completed",
        "_on_error",
        "_on_next",
        "_subscription",
    )

    def __init__(
        self,
        on_next: OnNext[T] | None = None,
        on_error: OnError | None = None,
        on_completed: OnCompleted | None = None,
    ) -> None:
        self._on_next = on_next
        self._on_error = on_error
        self._on_completed = on_completed
        self._subscription: Subscription | None = None
        self._done = False
        self._cancelled = False

    @property
    def is_done(self) -> bool:
        """True once the stream ended: completed, failed, or cancelled by this subscriber."""
        return self._done or self._cancelled

    def on_subscribe(self, subscription: Subscription) -> None:
        # After the end the subscriber is spent: any subscription is a second one (rule 2.5).
        current = NO_DEMAND if self._done else self._subscription
        if not validate_subscription(current, subscription, "subscriber"):
            return
        self._subscription = subscription
        if self._cancelled:
            subscription.cancel()
            return
        self._subscribed(subscription)

    def _subscribed(self, subscription: Subscription) -> None:
        """Hook for subclasses: the first demand."""

    def on_next(self, value: T) -> None:
        if self._done or self._on_next is None:
            return
        self._on_next(value)

    def on_error(self, error: Exception) -> None:
        if self._done:
            report_undeliverable(error)
            return
        self._end()
        if self._on_error is None:
            report_undeliverable(error)
        else:
            self._on_error(error)

    def on_completed(self) -> None:
        if self._done:
            return
        self._end()
        if self._on_completed is not None:
            self._on_completed()

    def cancel(self) -> None:
        """Stop the stream; idempotent, and safe before ``on_subscribe``."""
        if self._cancelled or self._done:
            return
        self._cancelled = True
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.cancel()

    def dispose(self) -> None:
        """reactivex spelling of :meth:`cancel`."""
        self.cancel()

    def _end(self) -> None:
        self._done = True
        self._subscription = None


class LambdaSubscriber(_CallbackSubscriber[T]):
    """What ``flowable.subscribe(on_next, on_error, on_completed)`` uses: unbounded demand.

    An error with no ``on_error`` callback goes to the undeliverable hook instead of being
    raised into the producer.
    """

    __slots__ = ()

    def _subscribed(self, subscription: Subscription) -> None:
        subscription.request(UNBOUNDED)


class RequestSubscriber(_CallbackSubscriber[T]):
    """A subscriber whose demand your code drives: nothing flows until you call ``request``.

    ``request(n)`` may be called before the subscription arrives (the demand is kept and
    forwarded), from inside ``on_next``, or from another thread.

    >>> from rxspike import from_iterable
    >>> seen = []
    >>> subscriber = RequestSubscriber(seen.append)
    >>> _ = from_iterable(range(10)).subscribe(subscriber)
    >>> subscriber.request(3)
    >>> seen
    [0, 1, 2]
    >>> subscriber.cancel()
    """

    __slots__ = ("_pending",)

    def __init__(
        self,
        on_next: OnNext[T] | None = None,
        on_error: OnError | None = None,
        on_completed: OnCompleted | None = None,
        *,
        initial_request: int = 0,
    ) -> None:
        super().__init__(on_next, on_error, on_completed)
        self._pending: list[int] = [initial_request] if initial_request else []

    def _subscribed(self, subscription: Subscription) -> None:
        pending, self._pending = self._pending, []
        for n in pending:
            subscription.request(n)

    def request(self, n: int) -> None:
        """Ask for ``n`` more items (``n <= 0`` makes the source fail the stream)."""
        subscription = self._subscription
        if subscription is not None:
            subscription.request(n)
        elif not self.is_done:
            self._pending.append(n)
