"""``on_backpressure_buffer``: a bounded buffer with an explicit overflow strategy."""

from __future__ import annotations

from typing import Any, TypeVar

from ..core import UNBOUNDED, Flowable, Subscriber, Subscription
from ..core.kit import (
    ACTIVE,
    BufferStage,
    Cost,
    OnDropped,
    Overflow,
    Reducer,
    StageOperator,
    Upstream,
    check_callable,
    check_capacity,
    check_max_bytes,
    check_overflow,
    empty_stats,
    subscribe_fenced,
)

T = TypeVar("T")


class BufferSubscription(BufferStage[T]):
    """A :class:`BufferStage` fed by an upstream Flowable that is asked for everything."""

    __slots__ = ("_source",)

    def __init__(self, downstream: Subscriber[T], source: Flowable[T], **options: Any) -> None:
        super().__init__(downstream, **options)
        self._source: Flowable[T] | None = source

    def start(self) -> None:
        link = Upstream(self, self._where)
        self._cancel_upstream = link.cancel
        downstream, source = self._downstream, self._source
        self._source = None
        if downstream is None or source is None:
            return
        if subscribe_fenced(downstream, self) and self._state is ACTIVE:
            self._feed(lambda: source.subscribe_flow(link))

    # -- UpstreamStage: the upstream link calls offer() itself, one call per item ----------

    _on_item = BufferStage.offer

    def _upstream_subscribed(self, subscription: Subscription) -> None:
        subscription.request(UNBOUNDED)

    def _upstream_end(self, error: Exception | None) -> None:
        if error is None:
            self.complete()
        else:
            self.fail(error)


def on_backpressure_buffer(
    capacity: int,
    overflow: Overflow = Overflow.ERROR,
    on_dropped: OnDropped | None = None,
    *,
    max_bytes: int | None = None,
    cost: Cost = len,
) -> StageOperator[T, T]:
    """Buffer up to ``capacity`` items the consumer has not asked for yet.

    Upstream is asked for everything (``request(∞)``): use this after a source that cannot
    slow down. Items wait in the buffer until downstream requests them. When one more item
    arrives at a full buffer, ``overflow`` decides what is dropped:

    - ``Overflow.ERROR``: the stream fails **at once** with :class:`BufferOverflowError`;
      upstream is cancelled, and the incoming item and the buffered ones are discarded
      (the error does not wait behind items the consumer is too slow to take);
    - ``Overflow.DROP_OLDEST``: the oldest buffered item is evicted;
    - ``Overflow.DROP_INCOMING``: the incoming item is discarded.

    Every discarded item is counted (``statistics().dropped``) and passed to
    ``on_dropped``: also those still buffered when the stream fails or is cancelled, so
    ``on_dropped`` can release resources the items hold. An upstream error overtakes the
    buffered items; completion waits until they were delivered.

    With ``max_bytes`` the buffer is also bounded by the sum of ``cost(item)`` (``len`` by
    default). An item costing more than ``max_bytes`` on its own is never buffered: it
    passes when downstream is asking and nothing is buffered, else it is overflow (under
    ``DROP_OLDEST`` it is dropped itself, without evicting anything).

    .. code::

        request:   r(∞)----------------------r(1)------r(2)-----
        upstream:  --a--b--c--d--|
        capacity 2, DROP_OLDEST: a, b buffered; c evicts a; d evicts b (dropped: a, b)
        result:    ----------------------------c---------d--|

    >>> from rxspike import RequestSubscriber, range_
    >>> dropped = []
    >>> buffer = on_backpressure_buffer(2, Overflow.DROP_OLDEST, dropped.append)
    >>> seen = []
    >>> _ = range_(5).pipe(buffer).subscribe(RequestSubscriber(seen.append, print))
    >>> dropped, buffer.statistics().buffered
    ([0, 1, 2], 2)

    Args:
        capacity: the most items held at once (``>= 1``).
        overflow: what a full buffer drops; see :class:`Overflow`.
        on_dropped: called with each discarded item, on the thread that discarded it. If
            it raises, the stream fails with that error.
        max_bytes: optional bound on the summed ``cost`` of the buffered items.
        cost: the size of an item, an int ``>= 0``; used only with ``max_bytes``.

    Returns:
        An operator for ``Flowable.pipe``; its ``statistics()`` describe the running stage.

    Raises:
        ValueError: ``capacity`` or ``max_bytes`` is not a positive int.
        TypeError: ``overflow`` is not an :class:`Overflow`, or a callback is not callable.
    """
    check_capacity(capacity, "on_backpressure_buffer(capacity)")
    check_overflow(overflow, "on_backpressure_buffer(overflow)")
    check_callable(on_dropped, "on_backpressure_buffer(on_dropped)")
    check_max_bytes(max_bytes, cost, "on_backpressure_buffer")
    name = f"on_backpressure_buffer({capacity}, {overflow})"
    return buffer_operator(
        name, capacity, overflow, on_dropped, max_cost=max_bytes, cost=cost, reducer=None
    )


def buffer_operator(
    name: str,
    capacity: int,
    overflow: Overflow,
    on_dropped: OnDropped | None,
    *,
    max_cost: int | None,
    cost: Cost | None,
    reducer: Reducer | None,
) -> StageOperator[T, T]:
    """The operator behind buffer, latest and reduce: one :class:`BufferSubscription` each."""

    def factory(subscriber: Subscriber[Any], source: Flowable[T]) -> BufferSubscription[T]:
        return BufferSubscription(
            subscriber,
            source,
            where=name,
            capacity=capacity,
            overflow=overflow,
            on_dropped=on_dropped,
            max_cost=max_cost,
            cost=cost,
            reducer=reducer,
        )

    return StageOperator(name, factory, empty_stats(capacity, max_cost))
