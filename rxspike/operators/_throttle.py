"""``throttle``: a token bucket that shapes (delays) or enforces (drops, fails) a rate."""

from __future__ import annotations

import enum
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from reactivex import abc

from ..core import UNBOUNDED, Flowable, MissingBackpressureError, Subscriber, Subscription
from ..core.errors import InvalidCallbackResultError, RxSpikeError
from ..core.hooks import report_undeliverable
from ..core.kit import (
    ACTIVE,
    DemandLoop,
    OnDropped,
    StageOperator,
    StageStats,
    Upstream,
    check_callable,
    checked_cost,
    checked_delay,
    empty_stats,
    end_at_once,
    member,
    positive_int,
    positive_number,
    subscribe_fenced,
    validate_subscription,
)
from ..core.kit import rate as token_rate
from ._clock import Clock, check_scheduler, resolve_scheduler

T = TypeVar("T")


class ThrottleMode(enum.Enum):
    """What ``throttle`` does with an item the bucket has no tokens for."""

    #: Delay it until the bucket has refilled: lossless. Upstream is asked for at most
    #: ``prefetch`` items ahead, so a demand-driven source slows down to the rate.
    SHAPE = "shape"
    #: Drop it (counted, passed to ``on_dropped``) and ask upstream for one more instead.
    ENFORCE_DROP = "enforce_drop"
    #: Fail the stream with :class:`ThrottleExceededError` and cancel upstream.
    ENFORCE_FAIL = "enforce_fail"


class ThrottleExceededError(RxSpikeError):
    """An item arrived faster than ``throttle(..., mode=ThrottleMode.ENFORCE_FAIL)`` allows.

    Slow the producer down, raise the rate or burst, or shape instead of enforcing.
    """


#: Float slack when comparing tokens, so a bucket refilled "exactly" by a timer conforms.
_EPSILON = 1e-9


class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` tokens per second; starts full."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = 0.0

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, cost: float, now: float, *, debt: bool) -> bool:
        """Take ``cost`` tokens if there are enough. With ``debt``, an item costing more than
        ``burst`` goes once the bucket is full and leaves it negative (shaping stays fair)."""
        if now > self.stamp:  # refill(), inlined: this runs once per item
            tokens = self.tokens + (now - self.stamp) * self.rate
            self.tokens = tokens if tokens < self.burst else self.burst
            self.stamp = now
        need = cost if not debt or cost < self.burst else self.burst
        if self.tokens + _EPSILON * max(1.0, need) < need:
            return False
        self.tokens -= cost
        return True

    def wait(self, cost: float) -> float:
        """Seconds until :meth:`take` can succeed with ``debt`` (after a refill at ``stamp``)."""
        return max(0.0, (min(cost, self.burst) - self.tokens) / self.rate)


Cost = Callable[[Any], float]


def _unit_cost(_: Any) -> int:
    return 1


def _no_time() -> float:
    raise RuntimeError("throttle() read the time before it was subscribed")


class _Shaper(DemandLoop, Generic[T]):
    """SHAPE mode: hold up to ``prefetch`` items, release each when its tokens are there.

    Runs in the shared drain loop; a timer on the scheduler wakes it when the bucket will
    have refilled enough for the head item.
    """

    __slots__ = (
        "_bucket",
        "_clock",
        "_consumed",
        "_cost",
        "_delivered",
        "_done",
        "_downstream",
        "_dropped",
        "_error",
        "_high_water",
        "_link",
        "_prefetch",
        "_queue",
        "_received",
        "_replenish",
        "_scheduler",
        "_source",
        "_timer",
        "_timer_pending",
    )

    def __init__(
        self,
        downstream: Subscriber[T],
        source: Flowable[T],
        bucket: TokenBucket,
        cost: Cost,
        *,
        scheduler: abc.SchedulerBase | None,
        prefetch: int,
    ) -> None:
        super().__init__()
        self._downstream: Subscriber[T] | None = downstream
        self._source: Flowable[T] | None = source
        self._bucket = bucket
        self._cost = cost
        self._scheduler = scheduler
        self._clock: Clock | None = None
        self._prefetch = prefetch
        self._replenish = prefetch - prefetch // 4
        self._consumed = 0
        self._delivered = 0
        self._queue: deque[tuple[T, float]] = deque()
        self._received = 0
        self._dropped = 0
        self._high_water = 0
        self._done = False
        self._error: Exception | None = None
        self._link: Upstream | None = None
        self._timer: abc.DisposableBase | None = None
        self._timer_pending = False

    def start(self) -> None:
        downstream, source = self._downstream, self._source
        self._source = None
        if downstream is None or source is None:
            return
        try:
            self._clock = Clock(resolve_scheduler(self._scheduler, "throttle()"))
        except RuntimeError as error:
            self._downstream = None
            end_at_once(downstream, error)
            return
        if not subscribe_fenced(downstream, self) or self._state is not ACTIVE:
            return
        link = self._link = Upstream(self, "throttle()")
        source.subscribe_flow(link)

    # -- upstream ------------------------------------------------------------------------------

    def _on_item(self, item: T) -> None:
        try:
            cost = checked_cost(self._cost(item), "throttle()")
        except Exception as error:
            self._upstream_end(error)
            return
        with self._lock:
            queue = self._queue
            self._received += 1
            if len(queue) >= self._prefetch:
                self._dropped += 1
                if self._error is None:
                    self._error = MissingBackpressureError(
                        f"upstream of throttle() emitted more than the {self._prefetch} items "
                        "it was asked for (Reactive Streams rule 1.1)"
                    )
            else:
                queue.append((item, cost))
                self._high_water = max(self._high_water, len(queue))
            if not self._enter_locked():
                return
        self._run()

    def _upstream_subscribed(self, subscription: Subscription) -> None:
        subscription.request(self._prefetch)

    def _upstream_end(self, error: Exception | None) -> None:
        run = False
        with self._lock:
            if self._done or self._state is not ACTIVE:
                late = error
            else:
                late = None
                self._done = True
                if error is not None and self._error is None:
                    self._error = error
                run = self._enter_locked()
        if late is not None:
            report_undeliverable(late)
        elif run:
            self._run()

    def _tick(self) -> None:
        self._timer_pending = False
        self._timer = None
        self._schedule()

    # -- the drain -----------------------------------------------------------------------------

    def _drain(self) -> None:
        downstream = self._settle()
        if downstream is None:
            return
        queue, bucket, clock = self._queue, self._bucket, self._clock
        if clock is None:  # start() sets it before the subscriber can request
            return
        while True:
            if self._error is not None:
                self._end(self._error)
                return
            if not queue:
                if self._done:
                    self._end(None)
                return
            if self._delivered == self._requested:
                return
            item, cost = queue[0]
            if not bucket.take(cost, clock.now(), debt=True):
                if not self._timer_pending:
                    try:
                        wait = checked_delay(bucket.wait(cost), "throttle()")
                    except InvalidCallbackResultError as error:
                        self._end(error)
                        return
                    self._timer_pending = True
                    self._timer = clock.after(wait, self._tick)
                return
            with self._lock:
                queue.popleft()
                self._delivered += 1
            try:
                downstream.on_next(item)
            except Exception as error:  # the subscriber broke rule 2.13
                self._abandon(error)
                return
            if self._state is not ACTIVE:
                self._release_fenced()
                return
            consumed = self._consumed + 1
            if consumed == self._replenish:
                consumed = 0
                link = self._link
                if link is not None:
                    link.request(self._replenish)
            self._consumed = consumed

    def _release(self) -> None:
        self._downstream = None
        # Signalled already; its traceback's frames would keep the failed subscriber alive.
        self._error = None
        link, self._link = self._link, None
        if link is not None:
            link.cancel(max(self._prefetch - len(self._queue) - self._consumed, 0))
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.dispose()
        with self._lock:
            self._dropped += len(self._queue)
            self._queue.clear()

    def statistics(self) -> StageStats:
        with self._lock:
            requested = self._requested
            return StageStats(
                buffered=len(self._queue),
                capacity=self._prefetch,
                requested=requested if requested == UNBOUNDED else requested - self._delivered,
                delivered=self._delivered,
                dropped=self._dropped,
                high_water=self._high_water,
                received=self._received,
            )


class _Enforcer(Generic[T]):
    """ENFORCE modes: pass demand through; an item without tokens is dropped or fails."""

    __slots__ = (
        "_bucket",
        "_clock",
        "_cost",
        "_delivered",
        "_downstream",
        "_dropped",
        "_fail",
        "_lock",
        "_on_dropped",
        "_origin",
        "_read",
        "_requested",
        "_scheduler",
        "_source",
        "_upstream",
    )

    def __init__(
        self,
        downstream: Subscriber[T],
        source: Flowable[T],
        bucket: TokenBucket,
        cost: Cost | None,
        *,
        scheduler: abc.SchedulerBase | None,
        fail: bool,
        on_dropped: OnDropped | None,
    ) -> None:
        self._downstream: Subscriber[T] | None = downstream
        self._source: Flowable[T] | None = source
        self._bucket = bucket
        self._cost = cost
        self._scheduler = scheduler
        self._clock: Clock | None = None
        self._fail = fail
        self._on_dropped = on_dropped
        self._upstream: Subscription | None = None
        self._lock = threading.Lock()
        self._requested = 0
        self._delivered = 0
        self._dropped = 0
        self._read: Callable[[], float] = _no_time
        self._origin = 0.0

    def start(self) -> None:
        downstream, source = self._downstream, self._source
        self._source = None
        if downstream is None or source is None:
            return
        try:
            clock = self._clock = Clock(resolve_scheduler(self._scheduler, "throttle()"))
        except RuntimeError as error:
            self._downstream = None
            end_at_once(downstream, error)
            return
        self._read, self._origin = clock.read, clock.origin
        source.subscribe_flow(self)

    # -- Subscriber (upstream side) ----------------------------------------------------------

    def on_subscribe(self, subscription: Subscription) -> None:
        if not validate_subscription(self._upstream, subscription, "upstream of throttle()"):
            return
        downstream = self._downstream
        if downstream is None:  # cancelled before upstream subscribed
            subscription.cancel()
            return
        self._upstream = subscription
        subscribe_fenced(downstream, self)

    def on_next(self, item: T) -> None:
        downstream = self._downstream
        if downstream is None:
            return
        if self._cost is None:
            cost = 1.0
        else:
            try:
                cost = checked_cost(self._cost(item), "throttle()")
            except Exception as error:
                self._stop(error)
                return
        # The clock's reader, called directly: one call per item instead of two.
        if self._bucket.take(cost, self._read() - self._origin, debt=False):
            self._delivered += 1
            downstream.on_next(item)
            return
        self._refuse(item, cost)

    def _refuse(self, item: T, cost: float) -> None:
        """An item without tokens: fail, or drop it and ask upstream for one more instead."""
        self._dropped += 1
        if self._fail:
            self._stop(
                ThrottleExceededError(
                    f"throttle(rate={self._bucket.rate}, burst={self._bucket.burst}): an item of "
                    f"cost {cost} arrived with {max(self._bucket.tokens, 0.0):.3g} tokens left"
                )
            )
            return
        if self._on_dropped is not None:
            try:
                self._on_dropped(item)
            except Exception as error:
                self._stop(error)
                return
        upstream = self._upstream
        if upstream is not None:
            upstream.request(1)  # the dropped item does not use up downstream's demand

    def on_error(self, error: Exception) -> None:
        downstream, self._downstream = self._downstream, None
        self._upstream = None
        if downstream is None:
            report_undeliverable(error)
        else:
            downstream.on_error(error)

    def on_completed(self) -> None:
        downstream, self._downstream = self._downstream, None
        self._upstream = None
        if downstream is not None:
            downstream.on_completed()

    def _stop(self, error: Exception) -> None:
        downstream = self._downstream
        self.cancel()
        if downstream is not None:
            downstream.on_error(error)

    # -- Subscription (downstream side) ------------------------------------------------------

    def request(self, n: int) -> None:
        upstream = self._upstream
        if upstream is None:
            return
        if type(n) is int and n > 0:
            with self._lock:
                total = self._requested + n
                self._requested = total if total < UNBOUNDED else UNBOUNDED
        upstream.request(n)  # not a positive int: the source answers with InvalidDemandError

    def cancel(self) -> None:
        self._downstream = None
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            upstream.cancel()

    def statistics(self) -> StageStats:
        with self._lock:
            requested, delivered, dropped = self._requested, self._delivered, self._dropped
        return StageStats(
            buffered=0,
            capacity=0,
            requested=requested if requested == UNBOUNDED else max(0, requested - delivered),
            delivered=delivered,
            dropped=dropped,
            high_water=0,
            received=delivered + dropped,
        )


def throttle(
    rate: float,
    burst: float,
    mode: ThrottleMode = ThrottleMode.SHAPE,
    *,
    cost: Callable[[T], float] | None = None,
    scheduler: abc.SchedulerBase | None = None,
    on_dropped: OnDropped | None = None,
    prefetch: int = 16,
) -> StageOperator[T, T]:
    """Limit the stream to ``rate`` per second with bursts of ``burst``: a token bucket.

    The bucket holds at most ``burst`` tokens and starts full; it refills at ``rate``
    tokens per second. An item costs ``cost(item)`` tokens (1 by default; ``cost=len``
    limits bytes). What happens to an item the bucket cannot pay for is the ``mode``:

    - ``ThrottleMode.SHAPE`` delays it until the bucket has refilled (lossless). Upstream is
      asked for at most ``prefetch`` items ahead. An item costing more than ``burst`` goes
      once the bucket is full and leaves it in debt, so the long-run rate still holds.
    - ``ThrottleMode.ENFORCE_DROP`` drops it (counted, passed to ``on_dropped``) and asks
      upstream for another; items that conform pass at once. An item costing more than
      ``burst`` never conforms.
    - ``ThrottleMode.ENFORCE_FAIL`` fails the stream with :class:`ThrottleExceededError`
      and cancels upstream.

    Enforcing judges items when they arrive: use it after a hot source (``from_observable``,
    an emitter). Time comes from ``scheduler``: by default an ``AsyncIOScheduler`` on the
    loop running at subscribe time; pass a ``reactivex.testing.TestScheduler`` to test in
    virtual time.

    .. code::

        rate 1/s, burst 2, SHAPE (t in seconds)
        request:  r(∞)
        upstream: r(16) a b c d |            (all at t=0)
        result:   a b (t=0) --- c (t=1) --- d (t=2) |

        rate 1/s, burst 2, ENFORCE_DROP
        upstream: a b c d (t=0) ------ e (t=1) |
        result:   a b     (c, d dropped) e |

    >>> from reactivex.testing import TestScheduler
    >>> from rxspike import range_
    >>> clock = TestScheduler()
    >>> times = []
    >>> _ = range_(4).pipe(throttle(1, 2, scheduler=clock)).subscribe(
    ...     lambda x: times.append((x, clock.clock)))
    >>> clock.advance_to(10)
    >>> times
    [(0, 0), (1, 0), (2, 1.0), (3, 2.0)]

    Args:
        rate: tokens added per second (> 0).
        burst: the bucket's size in tokens (> 0): how much may pass at once.
        mode: shape, enforce by dropping, or enforce by failing.
        cost: tokens an item costs (a number >= 0); 1 per item by default.
        scheduler: the reactivex scheduler time comes from.
        on_dropped: ``ENFORCE_DROP`` only: called with each dropped item.
        prefetch: ``SHAPE`` only: items requested ahead of their turn (>= 1).

    Returns:
        An operator for ``Flowable.pipe``; its ``statistics()`` describe the running stage.

    Raises:
        ValueError: ``rate`` or ``burst`` is not a finite positive number, or ``prefetch``
            is not a positive int.
        TypeError: ``mode`` is not a :class:`ThrottleMode`, ``scheduler`` not a reactivex
            scheduler, or ``cost``/``on_dropped`` not callable.
    """
    positive_number(rate, "throttle(rate)")
    burst = positive_number(burst, "throttle(burst)")
    rate = token_rate(rate, burst, "throttle(rate)")
    member(mode, ThrottleMode, "throttle(mode)")
    check_callable(cost, "throttle(cost)")
    check_callable(on_dropped, "throttle(on_dropped)")
    check_scheduler(scheduler, "throttle(scheduler)")
    positive_int(prefetch, "throttle(prefetch)")
    if on_dropped is not None and mode is not ThrottleMode.ENFORCE_DROP:
        raise ValueError(f"throttle(on_dropped) is only used with ENFORCE_DROP, not {mode}")
    item_cost: Cost = cost if cost is not None else _unit_cost
    name = f"throttle({rate:g}/s, burst {burst:g}, {mode})"

    def factory(subscriber: Subscriber[Any], source: Flowable[T]) -> _Shaper[T] | _Enforcer[T]:
        bucket = TokenBucket(rate, burst)
        if mode is ThrottleMode.SHAPE:
            return _Shaper(
                subscriber, source, bucket, item_cost, scheduler=scheduler, prefetch=prefetch
            )
        return _Enforcer(
            subscriber,
            source,
            bucket,
            cost,
            scheduler=scheduler,
            fail=mode is ThrottleMode.ENFORCE_FAIL,
            on_dropped=on_dropped,
        )

    capacity = prefetch if mode is ThrottleMode.SHAPE else 0
    return StageOperator(name, factory, empty_stats(capacity))
