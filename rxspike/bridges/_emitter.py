"""``Emitter``: a hot producer's handle on a bounded, demand-driven stream."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ..core import Flowable, Subscriber
from ..core.errors import ProtocolViolationError, RxSpikeError
from ..core.hooks import report_undeliverable
from ..core.kit import (
    NO_DEMAND,
    BufferStage,
    Cost,
    EmitResult,
    Lifecycle,
    OnDropped,
    Overflow,
    StageStats,
    check_callable,
    check_capacity,
    check_max_bytes,
    check_overflow,
    empty_stats,
)

T = TypeVar("T")


class WouldBlock(RxSpikeError):
    """``emit_nowait`` cannot take the item now: no subscriber yet, or the buffer is full.

    ``await emit(item)`` is the same call that waits for room instead.
    """


class EmitterClosedError(RxSpikeError):
    """The stream has ended on the producer's side: ``complete()`` or ``error()`` was called,
    or an overflow under ``Overflow.ERROR`` failed it. Stop emitting."""


class SubscriberCancelledError(RxSpikeError):
    """The subscriber cancelled: nobody will receive more items. Stop producing."""


class EmitterState(enum.Enum):
    """Where an emitter is in its life (from the producer's side)."""

    #: Nobody has subscribed yet: ``try_emit`` answers NO_SUBSCRIBER, ``emit`` waits.
    WAITING = "waiting"
    #: A subscriber is attached and items are accepted.
    ACTIVE = "active"
    #: The subscriber cancelled; nothing more is accepted.
    CANCELLED = "cancelled"
    #: ``complete()``/``error()`` was called or the stream failed; buffered items may still
    #: be on their way to the subscriber, but nothing more is accepted.
    TERMINATED = "terminated"


_COMPLETE = object()


def _future_waker(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]
) -> Callable[[], None]:
    loop_thread = threading.get_ident()

    def resolve() -> None:
        if not future.done():
            future.set_result(None)

    def wake() -> None:
        if threading.get_ident() == loop_thread:
            resolve()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
                loop.call_soon_threadsafe(resolve)

    return wake


class Emitter(Generic[T]):
    """The producer's handle on a unicast stream with a bounded buffer.

    Subscribe to :attr:`flowable` (once: one subscriber per emitter); then feed it:

    - :meth:`try_emit` answers at once with an :class:`EmitResult` and applies the overflow
      strategy when the buffer is full. It never blocks and never raises, from any thread.
    - ``await`` :meth:`emit` waits for room instead (and for a subscriber): lossless, for
      cooperative async producers, whatever the strategy. It stands on :meth:`emit_nowait`,
      which raises :class:`WouldBlock` rather than wait. A thread that may block uses
      :meth:`emit_blocking`.
    - :meth:`complete` and :meth:`error` end the stream; buffered items are delivered before
      completion, an error overtakes them. Both are synchronous and idempotent.

    The emitter is hot: before anyone subscribes, ``try_emit`` answers NO_SUBSCRIBER and
    keeps nothing. Items are delivered to the subscriber on the thread that emits or
    requests them; ``async for`` over the flowable hands them to its own loop.

    No future is made per item: only a producer that actually has to wait gets one.
    """

    __slots__ = ("_lock", "_options", "_stage", "_subscribed", "_terminal", "_waiters")

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        self._lock = threading.Lock()
        self._stage: BufferStage[T] | None = None
        self._subscribed = False
        #: ``complete()``/``error()`` called before anyone subscribed.
        self._terminal: object | None = None
        #: Producers waiting for a subscriber.
        self._waiters: list[Callable[[], None]] = []

    # -- the consumer's side -------------------------------------------------------------------

    @property
    def flowable(self) -> Flowable[T]:
        """The stream; it accepts one subscriber."""
        return Flowable(self._subscribe)

    def _subscribe(self, subscriber: Subscriber[T]) -> None:
        with self._lock:
            taken = self._subscribed
            self._subscribed = True
        if taken:
            subscriber.on_subscribe(NO_DEMAND)
            subscriber.on_error(
                ProtocolViolationError(
                    "an emitter serves exactly one subscriber, and this one already had one; "
                    "create one emitter per subscriber"
                )
            )
            return
        stage: BufferStage[T] = BufferStage(subscriber, **self._options)
        subscriber.on_subscribe(stage)
        with self._lock:
            self._stage = stage
            terminal = self._terminal
            waiters, self._waiters = self._waiters, []
        if terminal is _COMPLETE:
            stage.complete()
        elif isinstance(terminal, Exception):
            stage.fail(terminal)
        for wake in waiters:
            wake()

    # -- the producer's side -------------------------------------------------------------------

    @property
    def state(self) -> EmitterState:
        stage = self._stage
        if stage is None:
            return EmitterState.WAITING if self._terminal is None else EmitterState.TERMINATED
        if stage.state is Lifecycle.CANCELLED:
            return EmitterState.CANCELLED
        return EmitterState.TERMINATED if stage.closed else EmitterState.ACTIVE

    def try_emit(self, item: T) -> EmitResult:
        """Offer ``item`` and answer at once; never blocks, never raises.

        Returns:
            ``OK`` buffered or delivered (under ``DROP_OLDEST`` possibly by evicting an
            older item); ``DROPPED`` discarded under ``DROP_INCOMING``; ``OVERFLOW`` refused
            under ``ERROR``, and the stream failed with ``BufferOverflowError``;
            ``CANCELLED`` the subscriber went away; ``TERMINATED`` the stream has ended;
            ``NO_SUBSCRIBER`` nobody has subscribed yet (the item was not kept).
        """
        stage = self._stage
        if stage is None:
            return EmitResult.NO_SUBSCRIBER if self._terminal is None else EmitResult.TERMINATED
        return stage.offer(item)

    def emit_nowait(self, item: T) -> None:
        """Buffer ``item`` if there is room now, under every strategy; else raise.

        Raises:
            WouldBlock: no subscriber yet, or the buffer is full (nothing was dropped).
            SubscriberCancelledError: the subscriber cancelled.
            EmitterClosedError: the stream has ended (``complete``/``error``/overflow).
        """
        self._check(self._offer(item, None))

    async def emit(self, item: T) -> None:
        """Wait until there is a subscriber and room, then buffer ``item``: lossless.

        Atomic with respect to cancellation: if the awaiting task is cancelled, the item
        was not emitted. With ``max_bytes``, an item costing more than ``max_bytes`` on its
        own waits until the buffer is empty and downstream asks, then goes straight through.

        Raises:
            SubscriberCancelledError: the subscriber cancelled (also while waiting).
            EmitterClosedError: the stream has ended (also while waiting).
        """
        result = self._offer(item, None)
        if result is not None:
            self._check(result)
            return
        loop = asyncio.get_running_loop()
        while True:
            future: asyncio.Future[None] = loop.create_future()
            wake = _future_waker(loop, future)
            result = self._offer(item, wake)
            if result is not None:
                self._check(result)
                return
            try:
                await future
            finally:
                self._unpark(wake)

    def emit_blocking(self, item: T, timeout: float | None = None) -> None:
        """:meth:`emit` for producer threads: block until there is room (never on a loop).

        Raises:
            TimeoutError: no room within ``timeout`` seconds; the item was not emitted.
            SubscriberCancelledError, EmitterClosedError: as :meth:`emit`.
        """
        result = self._offer(item, None)
        while result is None:
            event = threading.Event()
            result = self._offer(item, event.set)
            if result is not None:
                break
            woken = event.wait(timeout)
            self._unpark(event.set)
            if not woken:
                raise TimeoutError(f"emit_blocking: no room within {timeout} s")
            result = self._offer(item, None)
        self._check(result)

    def complete(self) -> None:
        """End the stream once the buffered items were delivered. Idempotent."""
        with self._lock:
            stage = self._stage
            if stage is None:
                if self._terminal is None:
                    self._terminal = _COMPLETE
                waiters, self._waiters = self._waiters, []
        if stage is not None:
            stage.complete()
            return
        for wake in waiters:
            wake()

    def error(self, error: Exception) -> None:
        """Fail the stream with ``error`` at once (buffered items are discarded).

        After the stream has ended the error cannot be delivered; it goes to the
        undeliverable hook.
        """
        if not isinstance(error, Exception):
            raise TypeError(f"Emitter.error(error) needs an Exception, got {error!r}")
        with self._lock:
            stage = self._stage
            accepted = stage is None and self._terminal is None
            if accepted:
                self._terminal = error
            waiters, self._waiters = (self._waiters, []) if stage is None else ([], self._waiters)
        if stage is not None:
            stage.fail(error)
            return
        if not accepted:
            report_undeliverable(error)
        for wake in waiters:
            wake()

    def statistics(self) -> StageStats:
        """A snapshot of the emitter's buffer (all zero before a subscriber arrived)."""
        stage = self._stage
        if stage is None:
            return empty_stats(self._options["capacity"], self._options["max_cost"])
        return stage.statistics()

    # -- helpers -------------------------------------------------------------------------------

    def _offer(self, item: T, park: Callable[[], None] | None) -> EmitResult | None:
        """Buffer ``item`` if it fits; None (with ``park`` registered) if it has to wait."""
        stage = self._stage
        if stage is None:
            with self._lock:
                stage = self._stage
                if stage is None:
                    if self._terminal is not None:
                        return EmitResult.TERMINATED
                    if park is not None:
                        self._waiters.append(park)
                    return None
        return stage.offer_nowait(item, park)

    def _unpark(self, park: Callable[[], None]) -> None:
        with self._lock:
            if park in self._waiters:
                self._waiters.remove(park)
        stage = self._stage
        if stage is not None:
            stage.unpark(park)

    def _check(self, result: EmitResult | None) -> None:
        if result is None:
            raise WouldBlock(
                "no room in the emitter's buffer"
                if self._stage is not None
                else "the emitter has no subscriber yet"
            )
        if result is EmitResult.CANCELLED:
            raise SubscriberCancelledError("the emitter's subscriber cancelled; stop producing")
        if result is EmitResult.TERMINATED:
            raise EmitterClosedError("the emitter's stream has ended; nothing more is accepted")


def emitter(
    capacity: int,
    overflow: Overflow,
    *,
    on_dropped: OnDropped | None = None,
    max_bytes: int | None = None,
    cost: Cost = len,
) -> Emitter[Any]:
    """A hot producer's entry into a demand-driven stream, with a bounded buffer.

    Subscribe to ``emitter.flowable``; emit with ``try_emit`` (immediate answer, applies
    ``overflow`` when full), ``await emit`` (waits for room: lossless), or, from a thread,
    ``emit_blocking``; end with ``complete()`` or ``error(e)``.

    >>> import asyncio
    >>> from rxspike.operators import Overflow
    >>> async def main():
    ...     em = emitter(4, Overflow.DROP_INCOMING)
    ...     async def produce():
    ...         for i in range(10):
    ...             await em.emit(i)          # waits for room: nothing dropped
    ...         em.complete()
    ...     async def consume():
    ...         return [x async for x in em.flowable.iterate(prefetch=2)]
    ...     _, items = await asyncio.gather(produce(), consume())
    ...     return items, em.statistics().dropped
    >>> asyncio.run(main())
    ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 0)

    Args:
        capacity: the most items buffered at once (``>= 1``).
        overflow: what ``try_emit`` does with an item when the buffer is full.
        on_dropped: called with each discarded item; if it raises, the stream fails.
        max_bytes: optional bound on the summed ``cost`` of the buffered items.
        cost: an item's size, an int ``>= 0`` (default ``len``); used only with ``max_bytes``.

    Returns:
        A new :class:`Emitter`, waiting for its one subscriber.

    Raises:
        ValueError: ``capacity`` or ``max_bytes`` is not a positive int.
        TypeError: ``overflow`` is not an ``Overflow``, or a callback is not callable.
    """
    check_capacity(capacity, "emitter(capacity)")
    check_overflow(overflow, "emitter(overflow)")
    check_callable(on_dropped, "emitter(on_dropped)")
    check_max_bytes(max_bytes, cost, "emitter")
    return Emitter(
        {
            "where": f"emitter({capacity}, {overflow})",
            "capacity": capacity,
            "overflow": overflow,
            "on_dropped": on_dropped,
            "max_cost": max_bytes,
            "cost": cost,
        }
    )
