"""``from_observable``: the push-to-pull boundary for any reactivex Observable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from reactivex import Observable, abc

from ..core import Flowable, Subscriber
from ..core.kit import (
    ACTIVE,
    BufferStage,
    Cost,
    OnDropped,
    Overflow,
    StageStats,
    check_callable,
    check_capacity,
    check_max_bytes,
    check_overflow,
    empty_stats,
    subscribe_fenced,
)

T = TypeVar("T")


class _ObservableSubscription(BufferStage[T]):
    """A :class:`BufferStage` fed by a reactivex subscription; cancel disposes it."""

    __slots__ = ("_disposable", "_observable", "_stopped")

    def __init__(self, downstream: Subscriber[T], observable: Observable[T], **options: Any):
        super().__init__(downstream, **options)
        self._observable: Observable[T] | None = observable
        self._disposable: abc.DisposableBase | None = None
        self._stopped = False

    def start(self) -> None:
        downstream, observable = self._downstream, self._observable
        self._observable = None
        if downstream is None or observable is None:
            return
        self._cancel_upstream = self._dispose
        if not subscribe_fenced(downstream, self) or self._state is not ACTIVE:
            return
        try:
            on_next = cast(Callable[[T], None], self.offer)
            disposable = observable.subscribe(on_next, self._on_error, self._on_completed)
        except Exception as error:
            self.fail(error)
            return
        self._disposable = disposable
        if self._stopped:  # cancelled (or overflowed) while the Observable was subscribing
            self._disposable = None
            disposable.dispose()

    def _on_error(self, error: Exception) -> None:
        self.fail(error)

    def _on_completed(self) -> None:
        self.complete()

    def _dispose(self) -> None:
        self._stopped = True
        disposable, self._disposable = self._disposable, None
        if disposable is not None:
            disposable.dispose()


class ObservableFlowable(Flowable[T]):
    """The Flowable :func:`from_observable` returns: it also reports its buffer's statistics."""

    def __init__(self, observable: Observable[T], options: dict[str, Any]) -> None:
        super().__init__(self._subscribe_stage)
        self._observable = observable
        self._options = options
        self._stage: _ObservableSubscription[T] | None = None

    def _subscribe_stage(self, subscriber: Subscriber[T]) -> None:
        stage = _ObservableSubscription(subscriber, self._observable, **self._options)
        self._stage = stage
        stage.start()

    def statistics(self) -> StageStats:
        """Statistics of the most recent subscription's buffer (zero before the first)."""
        stage = self._stage
        if stage is None:
            return empty_stats(self._options["capacity"], self._options["max_cost"])
        return stage.statistics()


def from_observable(
    observable: Observable[T],
    capacity: int,
    overflow: Overflow,
    *,
    on_dropped: OnDropped | None = None,
    max_bytes: int | None = None,
    cost: Cost = len,
) -> ObservableFlowable[T]:
    """Turn a reactivex Observable, hot or cold, into a Flowable with a bounded buffer.

    An Observable cannot be slowed down, so this is where pushed items meet demand: each
    subscriber subscribes to ``observable`` once, and what it pushes beyond the subscriber's
    demand waits in a buffer of ``capacity`` items (and ``max_bytes`` of ``cost``, if set).
    A full buffer applies ``overflow`` exactly like :func:`on_backpressure_buffer`:
    ``ERROR`` fails the stream at once, ``DROP_OLDEST`` evicts, ``DROP_INCOMING`` discards.
    There is no unbounded path: both the capacity and the strategy must be given.

    Cancelling the Flowable's subscription disposes the reactivex subscription, and so do
    an overflow error and the end of the stream.

    .. code::

        request:    r(2)----------------------r(2)------
        observable: --a--b--c--d--e--|
        buffer (2): --------c--cd-cd              (e dropped: DROP_INCOMING, buffer full)
        result:     --a--b--------------------c--d--|

    ``async for`` over any Observable, with an explicit bound:

    >>> import asyncio, reactivex
    >>> from rxspike.operators import Overflow
    >>> async def main():
    ...     flow = from_observable(reactivex.of(1, 2, 3), 16, Overflow.ERROR)
    ...     return [x async for x in flow]
    >>> asyncio.run(main())
    [1, 2, 3]

    Args:
        observable: any reactivex Observable (a Flowable's demand is not used: it is
            subscribed as a plain Observable, with unbounded demand).
        capacity: the most items buffered at once (``>= 1``).
        overflow: what a full buffer drops; see :class:`rxspike.operators.Overflow`.
        on_dropped: called with each discarded item; if it raises, the stream fails.
        max_bytes: optional bound on the summed ``cost`` of the buffered items.
        cost: an item's size, an int ``>= 0`` (default ``len``); used only with ``max_bytes``.

    Returns:
        A Flowable whose ``statistics()`` describe its most recent subscription's buffer.

    Raises:
        TypeError: ``observable`` is not a reactivex Observable, ``overflow`` not an
            ``Overflow``, or a callback not callable.
        ValueError: ``capacity`` or ``max_bytes`` is not a positive int.
    """
    if not isinstance(observable, Observable):
        raise TypeError(
            f"from_observable(observable) needs a reactivex Observable, got {observable!r}"
        )
    check_capacity(capacity, "from_observable(capacity)")
    check_overflow(overflow, "from_observable(overflow)")
    check_callable(on_dropped, "from_observable(on_dropped)")
    check_max_bytes(max_bytes, cost, "from_observable")
    options: dict[str, Any] = {
        "where": f"from_observable({capacity}, {overflow})",
        "capacity": capacity,
        "overflow": overflow,
        "on_dropped": on_dropped,
        "max_cost": max_bytes,
        "cost": cost,
    }
    return ObservableFlowable(observable, options)
