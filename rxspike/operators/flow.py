"""Demand-aware versions of the reactivex operators that emit later or multiply items.

Inside a fused segment, reactivex's ``observe_on``, ``delay``, ``flat_map`` and ``merge``
are bounded by the segment (it stops feeding them, or fails at its bound); these versions
keep Reactive Streams demand exactly, as RxJava's Flowable operators do.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from reactivex import abc
from reactivex.scheduler import TimeoutScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler, AsyncIOThreadSafeScheduler

from ..core import Flowable, FlowOperator, from_iterable
from ..core.kit import check_callable, positive_int, seconds
from ._delay import delay_flowable
from ._flat_map import flat_map_flowable
from ._inner import as_flowable
from ._observe_on import observe_on_flowable

T = TypeVar("T")
R = TypeVar("R")

#: Items observe_on keeps requested ahead by default (RxJava's bufferSize is 128).
DEFAULT_OBSERVE_ON_PREFETCH = 128
#: Inner sources flat_map runs at once by default.
DEFAULT_MAX_CONCURRENCY = 16
#: Items flat_map, concat_map and merge request from each inner source ahead.
DEFAULT_INNER_PREFETCH = 32


def observe_on(
    scheduler: abc.SchedulerBase, prefetch: int = DEFAULT_OBSERVE_ON_PREFETCH
) -> Callable[[Flowable[T]], Flowable[T]]:
    """Deliver every signal on ``scheduler``, through a queue of at most ``prefetch`` items.

    Upstream is asked for ``prefetch`` items, then for 75 % more each time 75 % went
    downstream (RxJava's ``FlowableObserveOn``). Works with any reactivex scheduler:
    ``AsyncIOScheduler`` (from the loop's thread; ``AsyncIOThreadSafeScheduler`` from other
    threads), ``EventLoopScheduler``, ``ThreadPoolScheduler``. Each refill is its own
    scheduled action, so an event loop runs other work between batches. An upstream error
    comes after the items queued before it, as in reactivex.

    .. code::

        request:    --r(2)------------r(2)-------
        upstream:   r(4)-a-b-c-d-----r(3)-e-f-g-|
        result:     ----a'-b'--------c'-d'--- ...   (' = on the scheduler)

    >>> import threading, rxspike
    >>> from reactivex.scheduler import EventLoopScheduler
    >>> worker, done, seen = EventLoopScheduler(), threading.Event(), []
    >>> flow = rxspike.range_(5).pipe(observe_on(worker, prefetch=2))
    >>> _ = flow.subscribe(seen.append, on_completed=done.set)
    >>> done.wait(5), seen
    (True, [0, 1, 2, 3, 4])
    >>> worker.dispose()

    Args:
        scheduler: where downstream's signals are delivered.
        prefetch: the queue's bound, and what is requested upstream ahead.

    Returns:
        A flow operator for ``Flowable.pipe``.

    Raises:
        ValueError: ``prefetch`` is not a positive int.
        TypeError: ``scheduler`` is not a reactivex scheduler.
    """
    positive_int(prefetch, "observe_on(prefetch)")
    if not isinstance(scheduler, abc.SchedulerBase):
        raise TypeError(f"observe_on(scheduler) must be a reactivex scheduler, got {scheduler!r}")

    target = _from_any_thread(scheduler)

    def apply(source: Flowable[T]) -> Flowable[T]:
        return observe_on_flowable(source, target, prefetch)

    operator: FlowOperator[Any, Any] = FlowOperator(f"observe_on(prefetch={prefetch})", apply)
    return operator


def _from_any_thread(scheduler: abc.SchedulerBase) -> abc.SchedulerBase:
    """A scheduler that may be called from any thread: ``request`` and ``cancel`` may come
    from any thread (rule 1.3), and a plain AsyncIOScheduler's ``call_soon`` from another
    thread would not wake its loop."""
    if isinstance(scheduler, AsyncIOScheduler) and not isinstance(
        scheduler, AsyncIOThreadSafeScheduler
    ):
        return AsyncIOThreadSafeScheduler(scheduler._loop)  # the loop is its only handle
    return scheduler


def delay(
    duration: float | timedelta, scheduler: abc.SchedulerBase | None = None
) -> Callable[[Flowable[T]], Flowable[T]]:
    """Emit each item ``duration`` after it arrived, in order, completion delayed alike.

    Upstream is asked for exactly what downstream asks for, so never more items are in
    flight (waiting out their delay, or ready) than were requested. An error is signalled
    at once, ahead of waiting items.

    .. code::

        request:  --r(2)--------------r(1)-----
        upstream: --r(2)-a-b----------r(1)-c-|
        result:   ---------a'-b'-----------c'-|   (' = duration later)

    >>> import rxspike
    >>> from reactivex.testing import TestScheduler
    >>> clock = TestScheduler()
    >>> seen = []
    >>> _ = rxspike.range_(3).pipe(delay(5.0, clock)).subscribe(seen.append)
    >>> clock.advance_to(4.0); seen
    []
    >>> clock.advance_to(5.0); seen
    [0, 1, 2]

    Args:
        duration: seconds (or a ``timedelta``) to hold each item.
        scheduler: whose clock and timers to use; reactivex's ``TimeoutScheduler`` by
            default (threads), an ``AsyncIOScheduler`` on an event loop.

    Returns:
        A flow operator for ``Flowable.pipe``.

    Raises:
        ValueError: ``duration`` is not a positive number of seconds.
    """
    wait = duration.total_seconds() if isinstance(duration, timedelta) else duration
    span = timedelta(seconds=seconds(wait, "delay(duration)"))
    clock = scheduler if scheduler is not None else TimeoutScheduler.singleton()

    def apply(source: Flowable[T]) -> Flowable[T]:
        return delay_flowable(source, span, clock)

    operator: FlowOperator[Any, Any] = FlowOperator(f"delay({span.total_seconds():g})", apply)
    return operator


def flat_map(
    fn: Callable[[T], Any],
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    prefetch: int = DEFAULT_INNER_PREFETCH,
) -> Callable[[Flowable[T]], Flowable[Any]]:
    """Replace each item by the items of ``fn(item)``, interleaved, under demand.

    ``fn`` returns a Flowable, an iterable, an async iterable or a reactivex Observable
    (normalised once). At most ``max_concurrency`` inner sources run at a time (the outer
    source is asked for one more as each completes); each is asked for ``prefetch`` items
    and for 75 % more once 75 % went downstream (RxJava's ``FlowableFlatMap``). An endless
    inner is no problem: it is only asked for what downstream takes. A reactivex Observable
    cannot be asked to wait: pushing more than ``prefetch`` items ahead fails the stream
    with ``MissingBackpressureError``. The first error (outer, inner, or ``fn`` raising)
    ends the stream at once and cancels every source.

    .. code::

        request:  --r(3)----------------------
        outer:    --a-------b-----------------
        inners:   --a1-a2---b1--b2--...       (each asked for prefetch)
        result:   --a1-a2---b1----            (3 items: then they wait)

    >>> import itertools, rxspike
    >>> from rxspike.operators import take
    >>> endless = lambda x: itertools.count(x * 100)
    >>> flow = rxspike.range_(3).pipe(flat_map(endless, max_concurrency=1), take(4))
    >>> flow.collect()
    [0, 1, 2, 3]

    Args:
        fn: maps an item to its inner source.
        max_concurrency: inner sources subscribed at once.
        prefetch: items requested from each inner source ahead.

    Returns:
        A flow operator for ``Flowable.pipe``.

    Raises:
        ValueError: ``max_concurrency`` or ``prefetch`` is not a positive int.
        TypeError: ``fn`` is not callable.
    """
    check_callable(fn, "flat_map(fn)", optional=False)
    positive_int(max_concurrency, "flat_map(max_concurrency)")
    positive_int(prefetch, "flat_map(prefetch)")
    name = f"flat_map(max_concurrency={max_concurrency}, prefetch={prefetch})"

    def apply(source: Flowable[T]) -> Flowable[Any]:
        return flat_map_flowable(source, fn, max_concurrency, prefetch, name)

    return FlowOperator(name, apply)


def concat_map(
    fn: Callable[[T], Any], prefetch: int = DEFAULT_INNER_PREFETCH
) -> Callable[[Flowable[T]], Flowable[Any]]:
    """Replace each item by the items of ``fn(item)``, one inner source after the other.

    ``flat_map`` with ``max_concurrency=1``: order is kept, the next item is taken from
    upstream only once the current inner completed.

    .. code::

        request:  --r(∞)------------------
        outer:    --a---------b-----------
        result:   --a1-a2-a3|-b1-b2-b3|---

    >>> import rxspike
    >>> rxspike.range_(3).pipe(concat_map(lambda x: [x, x * 10])).collect()
    [0, 0, 1, 10, 2, 20]

    Args:
        fn: maps an item to its inner source (as for :func:`flat_map`).
        prefetch: items requested from each inner source ahead.

    Returns:
        A flow operator for ``Flowable.pipe``.

    Raises:
        ValueError: ``prefetch`` is not a positive int.
        TypeError: ``fn`` is not callable.
    """
    check_callable(fn, "concat_map(fn)", optional=False)
    positive_int(prefetch, "concat_map(prefetch)")
    name = f"concat_map(prefetch={prefetch})"

    def apply(source: Flowable[T]) -> Flowable[Any]:
        return flat_map_flowable(source, fn, 1, prefetch, name)

    return FlowOperator(name, apply)


def merge(
    *others: Any, prefetch: int = DEFAULT_INNER_PREFETCH
) -> Callable[[Flowable[Any]], Flowable[Any]]:
    """Interleave the items of the source and of ``others``, each asked for ``prefetch``.

    ``others`` are Flowables, iterables, async iterables or reactivex Observables (as for
    :func:`flat_map`); all are subscribed at once. Completes when all completed; the first
    error ends the stream.

    .. code::

        request:  --r(∞)-------------
        source:   --a-----b-----|
        other:    -----x-----y--|
        result:   --a--x--b--y--|

    >>> import rxspike
    >>> sorted(rxspike.range_(3).pipe(merge([10, 11], rxspike.just(20))).collect())
    [0, 1, 2, 10, 11, 20]

    Args:
        others: the sources merged with the piped one.
        prefetch: items requested from each source ahead.

    Returns:
        A flow operator for ``Flowable.pipe``.

    Raises:
        ValueError: ``prefetch`` is not a positive int.
        TypeError: one of ``others`` is no source.
    """
    positive_int(prefetch, "merge(prefetch)")
    for index, other in enumerate(others):
        as_flowable(other, f"merge(others[{index}])")  # a wrong one fails here, at once
    name = f"merge({len(others)} others, prefetch={prefetch})"

    def apply(source: Flowable[Any]) -> Flowable[Any]:
        # Each source is one inner of a flat_map that runs them all at once.
        return flat_map_flowable(
            from_iterable([source, *others]), _identity, len(others) + 1, prefetch, name
        )

    return FlowOperator(name, apply)


def _identity(source: Any) -> Any:
    return source
