"""The bounded buffer every overflow boundary shares: buffer, latest, reduce, emitter, bridge.

A :class:`BufferStage` is fed by a producer that ignores demand (an upstream asked for
everything, a reactivex Observable, an emitter) and serves a Reactive Streams subscriber
that asks for what it can take. What does not fit is handled by an :class:`Overflow`
strategy, counted, and passed to ``on_dropped``. Delivery runs in the shared drain loop
(:class:`rxspike.core.kit.WorkLoop`), so signals stay serial whichever thread offers
items or requests them.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from threading import get_ident as _get_ident
from typing import Any, Generic, TypeVar

from ._demand import ACTIVE, DemandLoop, Lifecycle
from .errors import RxSpikeError
from .hooks import report_undeliverable
from .stats import StageStats
from .types import UNBOUNDED, Subscriber
from .validate import checked_int_cost

T = TypeVar("T")

Cost = Callable[[Any], int]
OnDropped = Callable[[Any], None]
Reducer = Callable[[Any, Any], Any]


class Overflow(enum.Enum):
    """What a full buffer does with one more item. Each name says what is dropped."""

    #: Drop everything and fail: the stream ends at once with :class:`BufferOverflowError`;
    #: the incoming item and the buffered ones are discarded (and passed to ``on_dropped``).
    ERROR = "error"
    #: Evict the oldest buffered item(s) to make room for the incoming one.
    DROP_OLDEST = "drop_oldest"
    #: Discard the incoming item; what is buffered stays.
    DROP_INCOMING = "drop_incoming"


class EmitResult(enum.Enum):
    """The immediate answer to one offered item (``Emitter.try_emit``)."""

    #: The item was buffered or delivered. (Under ``DROP_OLDEST`` an older item may have
    #: been evicted to make room for it; that one was counted and passed to ``on_dropped``.)
    OK = "ok"
    #: The buffer was full and the strategy is ``DROP_INCOMING``: this item was discarded.
    DROPPED = "dropped"
    #: The buffer was full and the strategy is ``ERROR``: the item was refused and the
    #: stream failed with :class:`BufferOverflowError`.
    OVERFLOW = "overflow"
    #: The subscriber cancelled; nothing more will be delivered.
    CANCELLED = "cancelled"
    #: The stream has ended (completed, failed, or overflowed); nothing more is accepted.
    TERMINATED = "terminated"
    #: Nobody has subscribed yet; a hot emitter keeps nothing for later subscribers.
    NO_SUBSCRIBER = "no_subscriber"


class BufferOverflowError(RxSpikeError):
    """A bounded buffer with ``Overflow.ERROR`` was full when one more item arrived.

    The consumer asked for less than the producer pushed. Signalled at once, ahead of the
    items still buffered (they are discarded). Make the buffer larger, slow the producer
    (``await emitter.emit(x)``, ``throttle``), or choose a dropping strategy.
    """

    def __init__(self, where: str, capacity: int, max_cost: int | None) -> None:
        bound = f"{capacity} items" if max_cost is None else f"{capacity} items / {max_cost} cost"
        super().__init__(
            f"{where}: buffer full ({bound}) with Overflow.ERROR; the consumer requested "
            "less than the producer pushed. Use a larger capacity, slow the producer, or "
            "choose Overflow.DROP_OLDEST / Overflow.DROP_INCOMING"
        )
        self.capacity = capacity
        self.max_cost = max_cost


class BufferStage(DemandLoop, Generic[T]):
    """A bounded buffer between a pushing producer and a demanding subscriber.

    The producer calls :meth:`offer` (any thread); what fits is buffered, and the drain
    hands buffered items downstream while there is demand. When the buffer is full,
    ``overflow`` decides (see :class:`Overflow`); with a ``reducer`` the incoming item is
    folded into the buffered one instead (capacity 1). Every item that never reaches
    downstream is counted in ``dropped`` and passed to ``on_dropped``: refused, evicted,
    and discarded on error or cancel. A reducer's merges count as dropped but are not passed
    to ``on_dropped`` (the reducer saw them).

    An upstream error, or an overflow under ``ERROR``, is signalled at once, ahead of the
    buffered items; completion waits until they were delivered. ``cancel()`` discards the
    buffer, cancels the producer (``cancel_upstream``) and drops the subscriber.
    """

    __slots__ = (
        "_buffered_cost",
        "_cancel_upstream",
        "_capacity",
        "_closed",
        "_cost",
        "_costs",
        "_delivered",
        "_downstream",
        "_dropped",
        "_error",
        "_feeder",
        "_high_water",
        "_max_cost",
        "_on_dropped",
        "_overflow",
        "_queue",
        "_reducer",
        "_reducing",
        "_waiters",
        "_where",
    )

    def __init__(
        self,
        downstream: Subscriber[T],
        *,
        where: str,
        capacity: int,
        overflow: Overflow,
        on_dropped: OnDropped | None = None,
        max_cost: int | None = None,
        cost: Cost | None = None,
        reducer: Reducer | None = None,
    ) -> None:
        super().__init__()
        self._downstream: Subscriber[T] | None = downstream
        self._where = where
        self._delivered = 0
        self._queue: deque[T] = deque()
        self._capacity = capacity
        self._overflow = overflow
        self._on_dropped = on_dropped
        self._max_cost = max_cost
        self._cost = cost if max_cost is not None else None
        self._costs: deque[int] | None = deque() if self._cost is not None else None
        self._buffered_cost = 0
        self._reducer = reducer
        self._reducing = False
        #: The thread that owns the drain while it subscribes upstream (see _feed), or 0.
        self._feeder = 0
        self._dropped = 0
        self._high_water = 0
        #: The producer has ended (completed, failed, overflowed): nothing more is accepted.
        self._closed = False
        #: The error to signal downstream, ahead of buffered items.
        self._error: Exception | None = None
        #: Stops the producer; set by whoever feeds the stage, called at most once.
        self._cancel_upstream: Callable[[], None] | None = None
        #: Producers parked until there is room (only those that actually wait).
        self._waiters: list[Callable[[], None]] = []

    # -- producer's side -----------------------------------------------------------------------

    @property
    def state(self) -> Lifecycle:
        return self._state

    @property
    def closed(self) -> bool:
        """True once the producer side ended (or the subscriber went away)."""
        return self._closed or self._state is not ACTIVE

    def ended_result(self) -> EmitResult:
        """The answer for an item offered after the stream ended."""
        return EmitResult.CANCELLED if self._state is Lifecycle.CANCELLED else EmitResult.TERMINATED

    def offer(self, item: T) -> EmitResult:
        """Buffer ``item`` or apply the overflow strategy; deliver what demand allows.

        Three paths, decided by one test each:

        - fed: this thread owns the drain (inside :meth:`_feed`, a cold upstream emitting
          within its ``request``): nothing buffered and demand left means the item goes
          straight downstream, with no lock at all;
        - idle: no drain runs, nothing buffered, demand left: take the drain's place for this
          one item (one lock acquisition) and give it back (one more);
        - otherwise the slow path, :meth:`_offer`: buffer, evict, refuse or fail under the
          lock, and run (or mark) the drain.
        """
        if self._feeder == _get_ident():
            return self._offer_fed(item)
        lock = self._lock
        lock.acquire()
        if (
            not self._queue
            and self._delivered != self._requested
            and self._state is ACTIVE
            and not self._closed
            and self._bad_request is None
            and self._cost is None
            and self._enter_idle_locked()
        ):
            self._delivered += 1
            lock.release()
            downstream = self._downstream
            if downstream is not None:
                try:
                    downstream.on_next(item)
                except Exception as failure:  # the subscriber broke rule 2.13
                    self._abandon(failure)
            self._leave()  # drains for requests, cancels or items that came in meanwhile
            return EmitResult.OK
        lock.release()
        return self._offer(item)

    def _offer_fed(self, item: T) -> EmitResult:
        """:meth:`offer` on the thread that owns the drain: no lock on the direct path.

        Safe without the lock because only the drain's owner delivers and counts
        ``_delivered``; ``_requested`` and ``_state`` only move forward, and whoever moves
        them leaves a mark, which the owner answers with a drain pass (``_draining_again``).
        """
        downstream = self._downstream
        if (
            downstream is not None
            and not self._queue
            and self._delivered != self._requested
            and self._state is ACTIVE
            and not self._closed
            and self._cost is None
        ):
            self._delivered += 1
            try:
                downstream.on_next(item)
            except Exception as failure:  # the subscriber broke rule 2.13
                self._abandon(failure)
            if self._draining_again:
                self._drain_fed()
            return EmitResult.OK
        result = self._offer(item)
        if self._draining_again:
            self._drain_fed()
        return result

    def _feed(self, subscribe: Callable[[], None]) -> None:
        """Call ``subscribe`` (which subscribes upstream) owning the drain, so the items a
        cold upstream emits inside that call take :meth:`_offer_fed`."""
        with self._lock:
            owned = self._enter_idle_locked()
        if not owned:  # a drain runs elsewhere already: items take the ordinary paths
            subscribe()
            return
        self._feeder = _get_ident()
        try:
            subscribe()
        finally:
            self._feeder = 0
            self._leave()

    def _drain_fed(self) -> None:
        """While feeding: answer the marks left so far with one drain pass, here and now."""
        self._feeder = 0  # an item offered from inside this pass takes the locked paths
        self._consume_marks()
        self._drain()
        self._feeder = _get_ident()

    def _offer(self, item: T) -> EmitResult:
        """:meth:`offer` when the item cannot simply be handed over."""
        cost = 0
        if self._cost is not None:
            try:
                cost = self._item_cost(item)
            except Exception as error:
                self.fail(error)
                return EmitResult.TERMINATED
        result = EmitResult.OK
        evicted: list[T] | None = None
        overflow_error: BufferOverflowError | None = None
        pending: Any = None
        reducing = run = False
        with self._lock:
            if self._closed or self._state is not ACTIVE:
                return self.ended_result()
            queue = self._queue
            max_cost = self._max_cost
            if (
                not queue
                and self._delivered != self._requested
                and self._bad_request is None
                and self._enter_idle_locked()
            ):
                # Fast path, with a cost: as in offer().
                self._delivered += 1
                fast = True
            else:
                fast = False
                if self._fits_locked(cost):
                    queue.append(item)
                    if self._costs is not None:
                        self._costs.append(cost)
                        self._buffered_cost += cost
                elif self._reducer is not None and queue:
                    pending = queue.pop()
                    self._reducing = reducing = True
                elif self._overflow is Overflow.DROP_INCOMING or (
                    self._overflow is Overflow.DROP_OLDEST
                    and max_cost is not None
                    and cost > max_cost
                ):
                    self._dropped += 1
                    if self._on_dropped is not None:
                        evicted = [item]
                    result = EmitResult.DROPPED
                elif self._overflow is Overflow.DROP_OLDEST:
                    evicted = []
                    costs = self._costs
                    while len(queue) >= self._capacity or (
                        max_cost is not None and self._buffered_cost + cost > max_cost
                    ):
                        evicted.append(queue.popleft())
                        if costs is not None:
                            self._buffered_cost -= costs.popleft()
                    self._dropped += len(evicted)
                    queue.append(item)
                    if costs is not None:
                        costs.append(cost)
                        self._buffered_cost += cost
                else:
                    evicted = [*queue, item]
                    self._clear_locked()
                    self._dropped += len(evicted)
                    self._closed = True
                    overflow_error = BufferOverflowError(self._where, self._capacity, max_cost)
                    if self._error is None:
                        self._error = overflow_error
                    result = EmitResult.OVERFLOW
                self._high_water = max(self._high_water, len(queue))
                # A drain is needed only if something can be signalled. With no drain running
                # and items buffered, downstream is not asking (the last drain left nothing
                # deliverable), so a buffered, evicted or refused item changes nothing for it.
                if not self._mark_locked() and not reducing:
                    run = (
                        overflow_error is not None or self._delivered != self._requested
                    ) and self._enter_locked()
        if fast:
            self._deliver_now(item)
            return result

        if reducing:
            return self._reduce(pending, item)
        if evicted:
            self._discarded(evicted, report=False)
        if overflow_error is not None:
            self._stop_upstream()
        if run:
            self._run()
        return result

    def _deliver_now(self, item: T) -> None:
        """The fast path's delivery; the caller owns the drain (``_enter_idle_locked``)."""
        downstream = self._downstream
        if downstream is not None:
            try:
                downstream.on_next(item)
            except Exception as failure:  # the subscriber broke rule 2.13
                self._abandon(failure)
        self._leave()

    def offer_nowait(self, item: T, park: Callable[[], None] | None = None) -> EmitResult | None:
        """Buffer ``item`` only if it fits: the lossless path under every strategy.

        Returns None when it does not fit; ``park`` is then called once there may be room
        (or the stream ended).
        """
        cost = self._item_cost(item) if self._cost is not None else 0
        with self._lock:
            if self._closed or self._state is not ACTIVE:
                return self.ended_result()
            queue = self._queue
            if not self._fits_locked(cost):
                if park is not None:
                    self._waiters.append(park)
                return None
            queue.append(item)
            if self._costs is not None:
                self._costs.append(cost)
                self._buffered_cost += cost
            self._high_water = max(self._high_water, len(queue))
            if not self._enter_locked():
                return EmitResult.OK
        self._run()
        return EmitResult.OK

    def unpark(self, park: Callable[[], None]) -> None:
        """Forget a parked producer (it gave up waiting)."""
        with self._lock:
            if park in self._waiters:
                self._waiters.remove(park)

    def complete(self) -> bool:
        """The producer has no more items: complete once the buffered ones went out."""
        with self._lock:
            if self._closed or self._state is not ACTIVE:
                return False
            self._closed = True
            if not self._enter_locked():
                return True
        self._run()
        return True

    def fail(self, error: Exception) -> bool:
        """The producer failed: signal ``error`` at once, discarding what is buffered."""
        run = False
        with self._lock:
            if self._closed or self._state is not ACTIVE:
                accepted = False
            else:
                accepted = True
                self._closed = True
                self._error = error
                run = self._enter_locked()
        if not accepted:
            report_undeliverable(error)
            return False
        self._stop_upstream()
        if run:
            self._run()
        return True

    def statistics(self) -> StageStats:
        with self._lock:
            requested = self._requested
            buffered = len(self._queue) + (1 if self._reducing else 0)
            return StageStats(
                buffered=buffered,
                capacity=self._capacity,
                requested=requested if requested == UNBOUNDED else requested - self._delivered,
                delivered=self._delivered,
                dropped=self._dropped,
                high_water=self._high_water,
                # Every item that came in is delivered, dropped or buffered.
                received=self._delivered + self._dropped + buffered,
                buffered_cost=self._buffered_cost,
                max_cost=self._max_cost,
            )

    # -- the drain -----------------------------------------------------------------------------

    def _drain(self) -> None:
        downstream = self._settle()
        if downstream is None:
            return
        queue, costs, lock = self._queue, self._costs, self._lock
        on_next = downstream.on_next
        while True:
            with lock:
                error = self._error
                if error is not None:
                    break
                if queue and self._delivered != self._requested:
                    item = queue.popleft()
                    if costs is not None:
                        self._buffered_cost -= costs.popleft()
                    self._delivered += 1
                elif self._closed and not queue and not self._reducing:
                    break
                else:
                    waiters = self._waiters
                    if not waiters or len(queue) >= self._capacity:
                        return
                    self._waiters = []
                    break
            try:
                on_next(item)
            except Exception as failure:  # the subscriber broke rule 2.13
                self._abandon(failure)
                return
            if self._state is not ACTIVE:
                self._release_fenced()
                return
        if error is not None:
            self._end(error)
        elif self._closed and not queue and not self._reducing:
            self._end(None)
        else:
            for wake in waiters:  # there is room now: let parked producers retry
                wake()

    def _release(self) -> None:
        """Drop the subscriber, stop the producer, discard the buffer, wake parked producers."""
        self._downstream = None
        # Signalled already; its traceback's frames would keep the failed subscriber alive.
        self._error = None
        with self._lock:
            discarded = list(self._queue)
            self._clear_locked()
            self._dropped += len(discarded)
            waiters, self._waiters = self._waiters, []
        self._stop_upstream()
        if discarded:
            self._discarded(discarded, report=True)
        for wake in waiters:
            wake()

    # -- helpers -------------------------------------------------------------------------------

    def _fits_locked(self, cost: int) -> bool:
        """Room for an item of ``cost``? One too big for ``max_cost`` on its own fits only
        when it can go straight through: nothing buffered, and downstream is asking."""
        queue = self._queue
        if len(queue) >= self._capacity:
            return False
        max_cost = self._max_cost
        if max_cost is None or self._buffered_cost + cost <= max_cost:
            return True
        return not queue and self._delivered != self._requested

    def _clear_locked(self) -> None:
        self._queue.clear()
        if self._costs is not None:
            self._costs.clear()
        self._buffered_cost = 0

    def _item_cost(self, item: T) -> int:
        return checked_int_cost(self._cost(item), self._where)  # type: ignore[misc]

    def _stop_upstream(self) -> None:
        cancel, self._cancel_upstream = self._cancel_upstream, None
        if cancel is not None:
            try:
                cancel()
            except Exception as error:
                report_undeliverable(error)

    def _discarded(self, items: list[T], *, report: bool) -> None:
        """Pass discarded items to ``on_dropped``; a failing callback fails the stream."""
        on_dropped = self._on_dropped
        if on_dropped is None:
            return
        for item in items:
            try:
                on_dropped(item)
            except Exception as error:
                if report:
                    report_undeliverable(error)
                else:
                    self.fail(error)
                    report = True  # the stream has failed: later callback errors go to the hook

    def _reduce(self, pending: Any, item: T) -> EmitResult:
        """Fold ``item`` into the buffered ``pending`` item, outside the lock."""
        reducer = self._reducer
        try:
            merged = reducer(pending, item)  # type: ignore[misc]
        except Exception as error:
            with self._lock:
                self._reducing = False
                self._dropped += 2
            self.fail(error)
            self._discarded([pending, item], report=True)
            return EmitResult.TERMINATED
        run = False
        with self._lock:
            self._reducing = False
            self._dropped += 1
            cancelled = self._state is not ACTIVE
            if cancelled:  # cancelled while folding: discard the result
                self._dropped += 1
            else:
                self._queue.append(merged)
                run = self._enter_locked()
        if cancelled:
            self._discarded([merged], report=True)
            return self.ended_result()
        if run:
            self._run()
        return EmitResult.OK
