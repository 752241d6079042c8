"""``on_backpressure_latest`` and ``on_backpressure_reduce``: keep one item, the newest."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..core.kit import OnDropped, Overflow, StageOperator, check_callable
from ._buffer import buffer_operator

T = TypeVar("T")


def on_backpressure_latest(on_dropped: OnDropped | None = None) -> StageOperator[T, T]:
    """Keep only the newest item the consumer has not asked for yet.

    Upstream is asked for everything. While downstream has no demand, each new item
    replaces the one waiting, which is dropped (counted, passed to ``on_dropped``); the
    waiting item goes out at the next request. Completion waits for it.

    .. code::

        request:   r(1)-------------------r(1)---------r(1)-
        upstream:  --a--b--c--d--------------e--|
        dropped:   ........b..c...................
        result:    --a--------------------d--------e--|

    >>> from rxspike import RequestSubscriber, range_
    >>> seen = []
    >>> subscriber = RequestSubscriber(seen.append, initial_request=1)
    >>> _ = range_(5).pipe(on_backpressure_latest()).subscribe(subscriber)
    >>> subscriber.request(10)
    >>> seen
    [0, 4]

    Args:
        on_dropped: called with each replaced item (and one discarded at failure or cancel).

    Returns:
        An operator for ``Flowable.pipe``; its ``statistics()`` describe the running stage.

    Raises:
        TypeError: ``on_dropped`` is not callable.
    """
    check_callable(on_dropped, "on_backpressure_latest(on_dropped)")
    return buffer_operator(
        "on_backpressure_latest()",
        1,
        Overflow.DROP_OLDEST,
        on_dropped,
        max_cost=None,
        cost=None,
        reducer=None,
    )


def on_backpressure_reduce(reducer: Callable[[T, T], T]) -> StageOperator[T, T]:
    """Conflate: fold items the consumer has not asked for into one with ``reducer``.

    Upstream is asked for everything. While downstream has no demand, each new item is
    combined with the waiting one, ``waiting = reducer(waiting, new)``; the result goes out
    at the next request. Each merge counts one item as dropped (two went in, one is kept);
    merged items are not passed to any ``on_dropped`` since the reducer saw them. If the
    reducer raises, the stream fails with its error.

    .. code::

        request:   r(1)------------------r(1)--------
        upstream:  --1--2--3--4--|
        reduce +:  ...2..5..9
        result:    --1-------------------9--|

    >>> import operator
    >>> from rxspike import RequestSubscriber, range_
    >>> seen = []
    >>> subscriber = RequestSubscriber(seen.append, initial_request=1)
    >>> _ = range_(1, 5).pipe(on_backpressure_reduce(operator.add)).subscribe(subscriber)
    >>> subscriber.request(1)
    >>> seen
    [1, 9]

    Args:
        reducer: ``reducer(waiting, new) -> combined``; runs on the producer's thread.

    Returns:
        An operator for ``Flowable.pipe``; its ``statistics()`` describe the running stage.

    Raises:
        TypeError: ``reducer`` is not callable.
    """
    check_callable(reducer, "on_backpressure_reduce(reducer)", optional=False)
    return buffer_operator(
        "on_backpressure_reduce()",
        1,
        Overflow.DROP_OLDEST,
        None,
        max_cost=None,
        cost=None,
        reducer=reducer,
    )
