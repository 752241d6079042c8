"""``broadcast``: one hot source, any number of subscribers that come and go.

Each subscriber gets a bounded buffer of its own (a :class:`~rxspike.core.kit.BufferStage`,
the same one every overflow boundary uses), so its drops are counted and show in its
stream's statistics. The hub itself only fans items out:

- it subscribes to the source lazily, when the first subscriber arrives; when the last one
  leaves it keeps the source (the default: a live feed's producer is not restarted by
  clients coming and going, and an emitter can be subscribed only once) or, with
  ``release_when_idle=True``, cancels it and subscribes afresh for the next one;
- every item the source publishes is offered to each subscriber's buffer; replayed items
  (the last ``replay`` ones) are put into a new subscriber's buffer before any live item;
- a subscriber that cancels, or whose buffer fails (``Overflow.ERROR``), leaves at once and
  drops its references; the others are not affected;
- the source's completion or error reaches every subscriber (completion after its
  buffered items), and every later one after its replay.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from reactivex import Observable, abc

from ..core import UNBOUNDED, Flowable, Subscriber, Subscription
from ..core.hooks import report_undeliverable
from ..core.kit import (
    ACTIVE,
    BufferStage,
    OnDropped,
    Overflow,
    StageStats,
    Upstream,
    check_callable,
    check_capacity,
    check_overflow,
    empty_stats,
    member,
    non_negative_int,
    subscribe_fenced,
)
from ._emitter import Emitter

T = TypeVar("T")


class HubMode(enum.Enum):
    """Who sets the pace when subscribers read at different speeds."""

    #: A slow subscriber loses items: the source runs at its own pace, and a subscriber whose
    #: buffer is full drops what its overflow strategy says (Reactor's best-effort
    #: multicast). The others never wait for it.
    LOSSY = "lossy"
    #: The slowest subscriber paces the source: the hub asks the source only for what every
    #: subscriber's buffer can still hold, and nothing is dropped (Pekko's
    #: ``BroadcastHub``). Needs a source whose demand the hub controls: a Flowable or an
    #: emitter (whose ``await emit()`` then waits for the slowest subscriber).
    PACED = "paced"


class HubState(enum.Enum):
    """Where the hub is with its source."""

    #: Not subscribed to the source: nobody has subscribed yet, or (``release_when_idle``)
    #: the last subscriber left.
    IDLE = "idle"
    #: Subscribed to the source; items are fanned out as they come.
    LIVE = "live"
    #: The source completed; new subscribers get the replay, then completion.
    COMPLETED = "completed"
    #: The source failed; new subscribers get the replay, then the error.
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class HubStats:
    """A snapshot of a hub (each subscriber's own figures are its stream's ``StageStats``)."""

    #: Where the hub is with its source.
    state: HubState
    #: Subscribers attached now.
    subscribers: int
    #: Subscribers that ever joined, and that left (cancelled, failed or were completed).
    joined: int
    left: int
    #: Items the source published to the hub.
    published: int
    #: Of those, items published while nobody was subscribed (kept only in the replay).
    unheard: int
    #: Paced mode: items asked of the source and not yet received (0 in lossy mode, which
    #: asks for everything, and once the source ended).
    outstanding: int


class _Relay:
    """A paced subscriber's downstream: forwards each item, then tells the hub there is room."""

    __slots__ = ("_downstream", "member")

    def __init__(self, downstream: Subscriber[Any]) -> None:
        self._downstream = downstream
        self.member: _Member[Any] | None = None

    def on_subscribe(self, subscription: Subscription) -> None:  # never called: see _join
        raise AssertionError("the hub subscribes the subscriber itself")

    def on_next(self, item: Any) -> None:
        self._downstream.on_next(item)
        member = self.member
        if member is not None:
            member.delivered_one()

    def on_error(self, error: Exception) -> None:
        self._downstream.on_error(error)

    def on_completed(self) -> None:
        self._downstream.on_completed()


class _Member(BufferStage[T]):
    """One subscriber's bounded buffer, attached to a hub until it ends."""

    __slots__ = ("_hub", "limit")

    def __init__(self, hub: Hub[T], downstream: Subscriber[T], **options: Any) -> None:
        super().__init__(downstream, **options)
        self._hub: Hub[T] | None = hub
        #: Paced mode: the highest item number the hub may ask the source for on this
        #: member's behalf (what it has taken plus what its buffer holds).
        self.limit = 0
        self._cancel_upstream = self._detach

    def _detach(self) -> None:
        hub, self._hub = self._hub, None
        if hub is not None:
            hub._leave(self)

    def delivered_one(self) -> None:
        hub = self._hub
        if hub is not None:
            hub._room(self)


class HubFlowable(Flowable[T]):
    """A Flowable whose subscribers join a hub; it reports their buffer's statistics.

    ``rxspike.web`` streams find it in their pipeline (``Flowable.stage_reports``) and show
    the buffer's drops in the stream's statistics, as ``drops[label]``: take one
    ``hub.flowable`` per stream (each access makes a new one), so that each stream reports
    its own subscriber.
    """

    def __init__(self, hub: Hub[T], options: dict[str, Any], label: str) -> None:
        self._latest: _Member[T] | None = None
        self._hub = hub
        self._options = options
        super().__init__(self._subscribe_member)
        self.stage_reports = ((label, self),)

    def _subscribe_member(self, subscriber: Subscriber[T]) -> None:
        self._latest = self._hub._join(subscriber, self._options)

    def statistics(self) -> StageStats:
        """The most recent subscriber's buffer (all zero before anyone subscribed)."""
        latest = self._latest
        if latest is None:
            return empty_stats(self._options["capacity"])
        return latest.statistics()


_COMPLETE = object()


class Hub(Generic[T]):
    """One source fanned out to many subscribers, each with a bounded buffer of its own.

    Subscribe through :attr:`flowable` (any number of times, from any thread), or through
    :meth:`flowable_with` to give one subscriber its own capacity and strategy (lossy mode).
    See :func:`broadcast` for the parameters and the module docstring for the lifecycle.
    Each subscriber's buffer holds ``capacity + replay`` items, so replayed items never push
    out live ones: memory is bounded by that times the number of subscribers.
    """

    __slots__ = (
        "_at_floor",
        "_capacity",
        "_dispose",
        "_floor",
        "_joined",
        "_left",
        "_lock",
        "_members",
        "_mode",
        "_on_dropped",
        "_outstanding",
        "_overflow",
        "_published",
        "_release_when_idle",
        "_replay",
        "_replay_size",
        "_source",
        "_state",
        "_terminal",
        "_unheard",
        "_upstream",
    )

    def __init__(
        self,
        source: Flowable[T] | Observable[T],
        *,
        mode: HubMode,
        capacity: int,
        overflow: Overflow,
        on_dropped: OnDropped | None,
        replay: int,
        release_when_idle: bool,
    ) -> None:
        self._source = source
        self._mode = mode
        self._capacity = capacity
        self._overflow = overflow
        self._on_dropped = on_dropped
        self._replay_size = replay
        self._replay: deque[T] | None = deque(maxlen=replay) if replay else None
        self._release_when_idle = release_when_idle
        self._lock = threading.RLock()  # re-entered when a subscriber leaves from a callback
        self._members: tuple[_Member[T], ...] = ()
        self._state = HubState.IDLE
        self._terminal: object | None = None
        self._upstream: Upstream | None = None
        self._dispose: abc.DisposableBase | None = None
        self._published = 0
        self._unheard = 0
        self._joined = 0
        self._left = 0
        #: Paced mode: items asked of the source (counted like ``_published``) ...
        self._outstanding = 0
        #: ... the lowest member limit, and how many members sit at it.
        self._floor = 0
        self._at_floor = 0

    # -- the subscribers' side -----------------------------------------------------------------

    @property
    def flowable(self) -> HubFlowable[T]:
        """A new Flowable on this hub, with the hub's buffer settings; one per stream."""
        options = {
            "capacity": self._capacity,
            "overflow": self._overflow,
            "on_dropped": self._on_dropped,
        }
        return HubFlowable(self, options, self._label(self._overflow))

    def flowable_with(
        self,
        capacity: int,
        overflow: Overflow,
        on_dropped: OnDropped | None = None,
    ) -> HubFlowable[T]:
        """A Flowable on this hub whose subscribers get their own capacity and strategy.

        Raises:
            ValueError: a bad capacity, or a paced hub (where every buffer has the hub's
                capacity, since the hub asks the source for what all of them can hold).
            TypeError: ``overflow`` is not an ``Overflow``, ``on_dropped`` not callable.
        """
        if self._mode is HubMode.PACED:
            raise ValueError(
                "flowable_with() is for lossy hubs; a paced hub gives every subscriber "
                "its own capacity (the slowest one paces the source, nothing is dropped)"
            )
        check_capacity(capacity, "flowable_with(capacity)")
        check_overflow(overflow, "flowable_with(overflow)")
        check_callable(on_dropped, "flowable_with(on_dropped)")
        options = {"capacity": capacity, "overflow": overflow, "on_dropped": on_dropped}
        return HubFlowable(self, options, self._label(overflow))

    @property
    def state(self) -> HubState:
        return self._state

    def statistics(self) -> HubStats:
        with self._lock:
            return HubStats(
                state=self._state,
                subscribers=len(self._members),
                joined=self._joined,
                left=self._left,
                published=self._published,
                unheard=self._unheard,
                outstanding=self._outstanding - self._published
                if self._mode is HubMode.PACED and self._state is HubState.LIVE
                else 0,
            )

    def _label(self, overflow: Overflow) -> str:
        return "hub-paced" if self._mode is HubMode.PACED else f"hub-{overflow.value}"

    def _join(self, subscriber: Subscriber[T], options: dict[str, Any]) -> _Member[T]:
        paced = self._mode is HubMode.PACED
        relay = _Relay(subscriber) if paced else None
        capacity = options["capacity"]
        member: _Member[T] = _Member(
            self,
            relay if relay is not None else subscriber,
            where=f"broadcast subscriber ({self._mode.value}, capacity {capacity})",
            capacity=capacity + self._replay_size,
            overflow=Overflow.ERROR if paced else options["overflow"],
            on_dropped=options["on_dropped"],
        )
        if relay is not None:
            relay.member = member
        if not subscribe_fenced(subscriber, member):  # it raised: cancelled, reported
            return member
        # Hold the member's drain while its replay and first live items are buffered, so
        # they reach the subscriber in order, and never from inside the hub's lock.
        with member._lock:
            owned = member._enter_idle_locked()
        start = False
        try:
            with self._lock:
                if member.state is not ACTIVE:  # cancelled inside on_subscribe
                    return member
                replayed = list(self._replay) if self._replay is not None else []
                for item in replayed:
                    member.offer(item)
                terminal = self._terminal
                if terminal is None:
                    self._members = (*self._members, member)
                    self._joined += 1
                    if paced:
                        member.limit = self._published - len(replayed) + member._capacity
                        self._floor_add(member)
                    start = self._state is HubState.IDLE
                    if start:
                        self._state = HubState.LIVE
        finally:
            if owned:
                member._leave()
        if terminal is _COMPLETE:
            member.complete()
        elif isinstance(terminal, Exception):
            member.fail(terminal)
        elif start:
            self._subscribe_source()
        elif paced:
            self._replenish()
        return member

    def _leave(self, member: _Member[T]) -> None:
        release = False
        with self._lock:
            members = self._members
            if member not in members:
                return
            self._members = tuple(m for m in members if m is not member)
            self._left += 1
            if self._mode is HubMode.PACED and member.limit == self._floor:
                self._at_floor -= 1
                if self._at_floor <= 0:
                    self._recompute_floor()
            if not self._members and self._release_when_idle and self._state is HubState.LIVE:
                release = True
                self._state = HubState.IDLE
        if release:
            self._release_source()
        elif self._mode is HubMode.PACED:
            self._replenish()

    # -- the source's side ---------------------------------------------------------------------

    def _subscribe_source(self) -> None:
        source = self._source
        if isinstance(source, Flowable):
            upstream = Upstream(self, "broadcast")
            with self._lock:
                self._upstream = upstream
            source.subscribe_flow(upstream)
        else:
            disposable: abc.DisposableBase | None = source.subscribe(
                self._on_item, self._upstream_end, lambda: self._upstream_end(None)
            )
            with self._lock:
                if self._state is HubState.LIVE:
                    self._dispose, disposable = disposable, None
            if disposable is not None:  # released or ended while subscribing
                disposable.dispose()

    def _release_source(self) -> None:
        with self._lock:
            upstream, self._upstream = self._upstream, None
            disposable, self._dispose = self._dispose, None
            self._outstanding = self._published
        if upstream is not None:
            upstream.cancel()
        if disposable is not None:
            try:
                disposable.dispose()
            except Exception as error:
                report_undeliverable(error)

    def _upstream_subscribed(self, subscription: Subscription) -> None:
        if self._mode is HubMode.LOSSY:
            subscription.request(UNBOUNDED)
        else:
            self._replenish()

    def _on_item(self, item: T) -> None:
        with self._lock:
            self._published += 1
            if self._replay is not None:
                self._replay.append(item)
            members = self._members
            if not members:
                self._unheard += 1
        for each in members:
            each.offer(item)

    def _upstream_end(self, error: Exception | None) -> None:
        with self._lock:
            if self._terminal is not None:
                return
            self._terminal = _COMPLETE if error is None else error
            self._state = HubState.COMPLETED if error is None else HubState.FAILED
            members, self._members = self._members, ()
            self._left += len(members)
            self._upstream = None
            self._dispose = None
        for each in members:
            each._hub = None  # it has left: its end must not call back
            if error is None:
                each.complete()
            else:
                each.fail(error)

    # -- pacing (paced mode) -------------------------------------------------------------------

    def _room(self, member: _Member[T]) -> None:
        """``member`` delivered one item: its limit moves up; maybe the floor does too."""
        with self._lock:
            at_floor = member.limit == self._floor
            member.limit += 1
            if not at_floor:
                return
            self._at_floor -= 1
            if self._at_floor > 0:
                return
            self._recompute_floor()
        self._replenish()

    def _floor_add(self, member: _Member[T]) -> None:
        if len(self._members) == 1 or member.limit < self._floor:
            self._floor, self._at_floor = member.limit, 1
        elif member.limit == self._floor:
            self._at_floor += 1

    def _recompute_floor(self) -> None:
        members = self._members
        if not members:
            self._floor, self._at_floor = 0, 0
            return
        floor = min(m.limit for m in members)
        self._floor = floor
        self._at_floor = sum(1 for m in members if m.limit == floor)

    def _replenish(self) -> None:
        """Ask the source for what every member's buffer can hold, in batches of a quarter."""
        with self._lock:
            upstream = self._upstream
            if upstream is None or not self._members:
                return
            # Never more than ``capacity`` ahead of what arrived, so a member joining now
            # has room for everything already asked for.
            target = min(self._floor, self._published + self._capacity)
            want = target - self._outstanding
            nothing_pending = self._outstanding == self._published
            if want <= 0 or (want < max(1, self._capacity // 4) and not nothing_pending):
                return
            self._outstanding = target
        upstream.request(want)


def broadcast(
    source: Flowable[T] | Observable[T] | Emitter[T],
    *,
    mode: HubMode = HubMode.LOSSY,
    capacity: int = 256,
    overflow: Overflow = Overflow.DROP_OLDEST,
    on_dropped: OnDropped | None = None,
    replay: int = 0,
    release_when_idle: bool = False,
) -> Hub[T]:
    """Share one hot source with any number of subscribers, each with its own bounded buffer.

    ``hub.flowable`` is what each stream subscribes to (one per stream: each access makes a
    new Flowable, whose statistics are its subscriber's buffer, and which ``rxspike.web``
    reports in the stream's ``drops``). The source is subscribed when the first subscriber
    arrives; see :class:`HubMode` for the two ways a slow subscriber is handled.

    Lossy (the default), one slow subscriber among fast ones::

        source    --1--2--3--4--5--6--|
        fast      --1--2--3--4--5--6--|     request(∞)
        slow      --1--------------5--6--|  capacity 2, DROP_OLDEST: 2, 3, 4 dropped

    Paced: the source is asked for one item only once every buffer has room for it.

    >>> import asyncio, rxspike
    >>> async def main():
    ...     em = rxspike.emitter(16, Overflow.ERROR)
    ...     hub = broadcast(em, capacity=8, replay=2)
    ...     early = asyncio.ensure_future(hub.flowable.acollect())
    ...     await asyncio.sleep(0)
    ...     for n in range(5):
    ...         em.try_emit(n)
    ...     late = asyncio.ensure_future(hub.flowable.acollect())  # joins after 0..4
    ...     await asyncio.sleep(0)
    ...     em.try_emit(5)
    ...     em.complete()
    ...     return await early, await late
    >>> asyncio.run(main())
    ([0, 1, 2, 3, 4, 5], [3, 4, 5])

    Args:
        source: a Flowable, a reactivex Observable (lossy mode only: it cannot be slowed
            down), or an :class:`Emitter` (its flowable).
        mode: :attr:`HubMode.LOSSY` or :attr:`HubMode.PACED`.
        capacity: each subscriber's buffer, in items (``>= 1``), besides the replay.
        overflow: lossy mode: what a full buffer drops (``Overflow.ERROR`` fails only that
            subscriber). Paced mode never drops.
        on_dropped: called with each item a subscriber's buffer dropped.
        replay: how many of the latest items a new subscriber receives first (``>= 0``).
        release_when_idle: cancel the source when the last subscriber leaves, and subscribe
            again for the next one (a cold Flowable then starts over). By default the hub
            keeps its source: an emitter or a live feed runs on, and in lossy mode items
            published meanwhile are counted as ``unheard`` (and kept in the replay).

    Returns:
        The :class:`Hub`.

    Raises:
        TypeError: ``source`` is none of the three kinds, a paced hub over a plain
            Observable, or a bad ``mode``/``overflow``/``on_dropped``.
        ValueError: ``capacity`` not a positive int, ``replay`` not an int ``>= 0``.
    """
    member(mode, HubMode, "broadcast(mode)")
    check_capacity(capacity, "broadcast(capacity)")
    check_overflow(overflow, "broadcast(overflow)")
    check_callable(on_dropped, "broadcast(on_dropped)")
    non_negative_int(replay, "broadcast(replay)")
    if isinstance(source, Emitter):
        source = source.flowable
    if not isinstance(source, Observable):
        raise TypeError(
            "broadcast(source) needs a rxspike.Flowable, a reactivex.Observable or an "
            f"Emitter, got {type(source).__name__}"
        )
    if mode is HubMode.PACED and not isinstance(source, Flowable):
        raise TypeError(
            "broadcast(mode=HubMode.PACED) needs a source whose demand the hub controls (a "
            "rxspike.Flowable or an Emitter); a reactivex Observable cannot be slowed down: "
            "use HubMode.LOSSY, or put it behind rxspike.from_observable(...) first"
        )
    return Hub(
        source,
        mode=mode,
        capacity=capacity,
        overflow=overflow,
        on_dropped=on_dropped,
        replay=replay,
        release_when_idle=release_when_idle,
    )
