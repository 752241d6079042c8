"""``batch``: group items into lists by count, by bytes and/or by time, for chunked writers."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from reactivex import abc

from ..core import UNBOUNDED, Flowable, MissingBackpressureError, Subscriber, Subscription
from ..core.hooks import report_undeliverable
from ..core.kit import (
    ACTIVE,
    DemandLoop,
    StageOperator,
    StageStats,
    Upstream,
    check_callable,
    checked_int_cost,
    empty_stats,
    end_at_once,
    positive_int,
    seconds,
    subscribe_fenced,
)
from ._clock import Clock, check_scheduler, resolve_scheduler

T = TypeVar("T")


class _Batcher(DemandLoop, Generic[T]):
    """Holds at most ``window`` items in all (arrived, in the open batch, in closed batches
    waiting for demand) and asks upstream only for what keeps it under that bound."""

    __slots__ = (
        "_batches_delivered",
        "_clock",
        "_cost",
        "_current",
        "_current_cost",
        "_delivered",
        "_done",
        "_downstream",
        "_dropped",
        "_error",
        "_generation",
        "_held",
        "_high_water",
        "_inputs",
        "_link",
        "_max_bytes",
        "_max_items",
        "_max_time",
        "_outstanding",
        "_ready",
        "_received",
        "_scheduler",
        "_source",
        "_time_up",
        "_timer",
        "_window",
    )

    def __init__(
        self,
        downstream: Subscriber[list[T]],
        source: Flowable[T],
        *,
        max_items: int,
        max_bytes: int | None,
        cost: Callable[[T], int],
        max_time: float | None,
        scheduler: abc.SchedulerBase | None,
        window: int,
    ) -> None:
        super().__init__()
        self._downstream: Subscriber[list[T]] | None = downstream
        self._source: Flowable[T] | None = source
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._cost = cost
        self._max_time = max_time
        self._scheduler = scheduler
        self._clock: Clock | None = None
        self._window = window
        self._batches_delivered = 0
        self._inputs: deque[T] = deque()
        self._current: list[T] = []
        self._current_cost = 0
        self._ready: deque[list[T]] = deque()
        #: Items in inputs + current + ready.
        self._held = 0
        self._outstanding = 0
        self._received = 0
        self._delivered = 0
        self._dropped = 0
        self._high_water = 0
        self._done = False
        self._error: Exception | None = None
        self._link: Upstream | None = None
        self._timer: abc.DisposableBase | None = None
        self._generation = 0
        self._time_up = False

    def start(self) -> None:
        downstream, source = self._downstream, self._source
        self._source = None
        if downstream is None or source is None:
            return
        if self._max_time is not None:
            try:
                self._clock = Clock(resolve_scheduler(self._scheduler, "batch(max_time=...)"))
            except RuntimeError as error:
                self._downstream = None
                end_at_once(downstream, error)
                return
        if not subscribe_fenced(downstream, self) or self._state is not ACTIVE:
            return
        link = self._link = Upstream(self, "batch()")
        source.subscribe_flow(link)

    # -- upstream --------------------------------------------------------------------------

    def _on_item(self, item: T) -> None:
        with self._lock:
            self._received += 1
            if self._outstanding == 0:
                self._dropped += 1
                if self._error is None:
                    self._error = MissingBackpressureError(
                        "upstream of batch() emitted more items than it was asked for "
                        "(Reactive Streams rule 1.1)"
                    )
            else:
                self._outstanding -= 1
                self._inputs.append(item)
                self._held += 1
                self._high_water = max(self._high_water, self._held)
            if not self._enter_locked():
                return
        self._run()

    def _upstream_subscribed(self, subscription: Subscription) -> None:
        self._schedule()  # the drain makes the first request

    def _upstream_end(self, error: Exception | None) -> None:
        run = False
        with self._lock:
            late = error if self._done or self._state is not ACTIVE else None
            if late is None and not self._done and self._state is ACTIVE:
                self._done = True
                if error is not None and self._error is None:
                    self._error = error
                run = self._enter_locked()
        if late is not None:
            report_undeliverable(late)
        elif run:
            self._run()

    def _on_timer(self, generation: int) -> None:
        if generation == self._generation:
            self._time_up = True
            self._schedule()

    # -- the drain -----------------------------------------------------------------------------

    def _drain(self) -> None:
        downstream = self._settle()
        if downstream is None:
            return
        ready, inputs, lock = self._ready, self._inputs, self._lock
        while True:
            if self._error is not None:
                self._end(self._error)
                return
            while ready and self._batches_delivered != self._requested:
                chunk = ready.popleft()
                with lock:
                    self._held -= len(chunk)
                    self._delivered += len(chunk)
                self._batches_delivered += 1
                try:
                    downstream.on_next(chunk)
                except Exception as error:  # the subscriber broke rule 2.13
                    self._abandon(error)
                    return
                if self._state is not ACTIVE:
                    self._release_fenced()
                    return
            if self._time_up:
                self._time_up = False
                if self._current:
                    self._close()
                    continue
            with lock:
                empty = not inputs
                if not empty:
                    item = inputs.popleft()
            if empty:
                if self._done:
                    if self._current:
                        self._close()
                        continue
                    if not ready:
                        self._end(None)
                    return
                self._top_up()
                if inputs or self._time_up:
                    continue
                return
            self._add(item)

    def _add(self, item: T) -> None:
        current = self._current
        cost = 0
        if self._max_bytes is not None:
            try:
                cost = checked_int_cost(self._cost(item), "batch()")
            except Exception as error:
                self._fail(error)
                with self._lock:
                    self._held -= 1
                    self._dropped += 1
                return
            if current and self._current_cost + cost > self._max_bytes:
                self._close()
                current = self._current
        current.append(item)
        self._current_cost += cost
        if len(current) == 1 and self._clock is not None and self._max_time is not None:
            generation = self._generation
            self._timer = self._clock.after(self._max_time, lambda: self._on_timer(generation))
        if len(current) >= self._max_items or (
            self._max_bytes is not None and self._current_cost >= self._max_bytes
        ):
            self._close()

    def _close(self) -> None:
        """The open batch is complete: queue it for delivery, start a new one."""
        self._ready.append(self._current)
        self._current = []
        self._current_cost = 0
        self._generation += 1
        self._time_up = False
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.dispose()

    def _top_up(self) -> None:
        """Ask upstream for more, never beyond ``window`` items held and asked for."""
        link = self._link
        if link is None or link.subscription is None or self._done:
            return
        with self._lock:
            room = self._window - self._held - self._outstanding
            # While items are on their way, wait to ask for a worthwhile amount; with
            # nothing in flight, ask for whatever fits, or an open batch could starve.
            if room <= 0 or (self._outstanding and room < self._window - self._window // 4):
                return
            self._outstanding += room
        link.request(room)

    def _fail(self, error: Exception) -> None:
        with self._lock:
            if self._error is None:
                self._error = error
            else:
                report_undeliverable(error)

    def _release(self) -> None:
        self._downstream = None
        # Signalled already; its traceback's frames would keep the failed subscriber alive.
        self._error = None
        link, self._link = self._link, None
        if link is not None:
            link.cancel(self._outstanding)
        timer, self._timer = self._timer, None
        self._generation += 1
        if timer is not None:
            timer.dispose()
        with self._lock:
            self._dropped += self._held
            self._held = 0
            self._inputs.clear()
            self._ready.clear()
            self._current = []

    def statistics(self) -> StageStats:
        with self._lock:
            requested = self._requested
            return StageStats(
                buffered=self._held,
                capacity=self._window,
                requested=(
                    requested if requested == UNBOUNDED else requested - self._batches_delivered
                ),
                delivered=self._delivered,
                dropped=self._dropped,
                high_water=self._high_water,
                received=self._received,
                buffered_cost=self._current_cost,
                max_cost=self._max_bytes,
            )


def batch(
    max_items: int | None = None,
    *,
    max_bytes: int | None = None,
    cost: Callable[[Any], int] = len,
    max_time: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
    window: int | None = None,
) -> StageOperator[T, list[T]]:
    """Group items into lists: close a batch at ``max_items``, ``max_bytes`` or ``max_time``.

    A batch closes as soon as one limit is reached: it holds ``max_items`` items; or adding
    the next item would take its summed ``cost`` past ``max_bytes`` (that item starts the
    next batch; an item larger than ``max_bytes`` travels alone), or the sum reached it;
    or ``max_time`` seconds passed since its first item. At the end of the stream the open
    batch is emitted; no batch is ever empty.

    Demand counts batches. The stage holds at most ``window`` items in all (default:
    ``2 * max_items``, or 256 without ``max_items``) and asks upstream only for what keeps it
    under that bound, so a slow writer slows the source down instead of filling memory. A
    batch also closes when it alone holds ``window`` items. An upstream error is signalled
    at once; the items held are discarded (counted as dropped).

    .. code::

        max_items 3
        request:  r(1)-----------------r(1)------
        upstream: r(6) a b c d e f |
        result:   [a,b,c]--------------[d,e,f]|

    >>> from rxspike import range_
    >>> range_(7).pipe(batch(3)).collect()
    [[0, 1, 2], [3, 4, 5], [6]]
    >>> from rxspike import just
    >>> just(b"ab", b"cde", b"f", b"ghijk").pipe(batch(max_bytes=4)).collect()
    [[b'ab'], [b'cde', b'f'], [b'ghijk']]

    Args:
        max_items: most items per batch (>= 1).
        max_bytes: most summed ``cost`` per batch (>= 1).
        cost: the size of an item, an int ``>= 0`` (default ``len``); used with ``max_bytes``.
        max_time: most seconds between a batch's first item and its emission (> 0).
        scheduler: the reactivex scheduler for ``max_time`` (default: the running asyncio
            loop at subscribe time).
        window: most items held by the stage at once (>= ``max_items``).

    Returns:
        An operator for ``Flowable.pipe`` emitting ``list`` batches; its ``statistics()``
        count items (``requested`` counts batches).

    Raises:
        ValueError: no limit was given, a limit is not positive, or ``window < max_items``.
        TypeError: ``cost`` is not callable, or ``scheduler`` not a reactivex scheduler.
    """
    if max_items is None and max_bytes is None and max_time is None:
        raise ValueError("batch() needs at least one of max_items, max_bytes, max_time")
    if max_items is not None:
        positive_int(max_items, "batch(max_items)")
    if max_bytes is not None:
        positive_int(max_bytes, "batch(max_bytes)")
    check_callable(cost, "batch(cost)", optional=False)
    max_seconds = seconds(max_time, "batch(max_time)") if max_time is not None else None
    check_scheduler(scheduler, "batch(scheduler)")
    if window is None:
        window = 2 * max_items if max_items is not None else 256
    else:
        positive_int(window, "batch(window)")
        if max_items is not None and window < max_items:
            raise ValueError(f"batch(window) must be >= max_items ({max_items}), got {window!r}")
    limit = max_items if max_items is not None else window
    held = window
    parts = [
        f"{name}={value}"
        for name, value in (
            ("max_items", max_items),
            ("max_bytes", max_bytes),
            ("max_time", max_time),
        )
        if value is not None
    ]
    name = f"batch({', '.join(parts)})"

    def factory(subscriber: Subscriber[Any], source: Flowable[T]) -> _Batcher[T]:
        return _Batcher(
            subscriber,
            source,
            max_items=limit,
            max_bytes=max_bytes,
            cost=cost,
            max_time=max_seconds,
            scheduler=scheduler,
            window=held,
        )

    return StageOperator(name, factory, empty_stats(window, max_bytes))
