"""One subscription through a fused segment, one class per mode.

- :class:`DirectRun`: downstream asked for everything before the operators subscribed, so
  nothing can pile up: unbounded demand goes upstream and items run straight through.
- :class:`BoundedRun`: the segment keeps ``prefetch`` items requested upstream, feeds one
  into the operators only while downstream has demand, and holds what they emit beyond it
  (at most ``prefetch``, else :class:`MissingBackpressureError`). Operators that multiply
  items are fed one item per round of reactivex's trampoline, so an inner source subscribes
  after the feeding call returned and disposing the operators stops it, however endless.
- :class:`PacedRun`: a bounded run whose operators emit later (``observe_on``, ``delay``,
  ``debounce``): it also counts what each of them holds and stops feeding while they hold
  a full window, so it never runs ahead of what comes out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from threading import get_ident
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import Disposable
from reactivex.scheduler import CurrentThreadScheduler

from ._demand import ACTIVE, DemandLoop, Lifecycle
from ._families import Family, OperatorKind
from ._upstream import Upstream
from .errors import MissingBackpressureError
from .flowable import Flowable
from .hooks import report_undeliverable
from .types import UNBOUNDED, Subscriber

PushOperator = Any  # Callable[[Observable[Any]], Observable[Any]]; Any keeps reduce() typed

_TRAMPOLINE = CurrentThreadScheduler.singleton()


@dataclass(frozen=True, slots=True)
class SegmentPlan:
    """A segment as assembled by ``pipe``: its operators and what they do to demand."""

    operators: Sequence[PushOperator]
    #: One list of kinds per operator (a ``compose`` has several).
    kinds: Sequence[Sequence[OperatorKind]]
    names: str
    prefetch: int
    replenish: int
    #: Pass unbounded downstream demand upstream (False for boundaries such as limit_rate).
    pass_unbounded: bool = True

    @property
    def multiplies(self) -> bool:
        """An operator may emit many items per item fed (inner sources included)."""
        return any(k.family is Family.MULTIPLIES for ks in self.kinds for k in ks)

    @property
    def emits_later(self) -> bool:
        """An operator holds items past the feeding call (timers, other threads)."""
        return any(k.family in _LATER for ks in self.kinds for k in ks)

    def overflow_error(self) -> MissingBackpressureError:
        """The error for output beyond the bound, naming the operators and the remedy."""
        advice = [
            f"{k.name}: {k.advice}"
            for ks in self.kinds
            for k in ks
            if k.family is Family.MULTIPLIES and k.advice
        ]
        remedy = " ".join(f"Use {a}." for a in advice) + (
            " Or put an explicit backpressure operator such as on_backpressure_buffer() or "
            "on_backpressure_latest() after the operator that multiplies items."
        )
        return MissingBackpressureError(
            f"operators [{self.names}] emitted more than {self.prefetch} items beyond "
            f"downstream demand, and the segment holds no more; the operators were "
            f"disposed.{remedy}"
        )


_LATER = (Family.EMITS_LATER, Family.EMITS_SETTLED)


class SegmentRun(DemandLoop):
    """What every mode shares: the subscriber, the upstream link and the operator chain.

    Signals into the operators and out to ``_downstream`` are serialised by the drain loop.
    """

    __slots__ = (
        "_abort_error",
        "_chain",
        "_chain_done",
        "_downstream",
        "_inlet",
        "_inlet_closed",
        "_link",
        "_source",
        "_starting",
        "_upstream_done",
        "_upstream_error",
        "plan",
    )

    def __init__(self, downstream: Subscriber[Any], source: Flowable[Any], plan: SegmentPlan):
        super().__init__()
        self._downstream: Subscriber[Any] | None = downstream
        self._source = source
        self.plan = plan
        self._link: Upstream | None = None
        self._inlet: abc.ObserverBase[Any] | None = None
        self._inlet_closed = False
        self._upstream_done = False
        self._upstream_error: Exception | None = None
        self._chain: abc.DisposableBase | None = None
        self._chain_done = False
        #: Ends the stream at once, ahead of queued items: an operator's error, items beyond
        #: the segment's bound, an upstream that broke rule 1.1.
        self._abort_error: Exception | None = None
        #: True while the operators subscribe; the upstream link waits for them to finish.
        self._starting = False

    # -- setup ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe the operators to the inlet, then connect the inlet upstream."""
        if self._state is not ACTIVE:
            return
        try:
            chained = self._build(Observable(self._attach))
            if not isinstance(chained, Observable):
                raise TypeError(
                    f"operators [{self.plan.names}] must return a reactivex Observable, "
                    f"got {type(chained).__name__}"
                )
            # reactivex subscribes inside its current-thread trampoline, which defers any
            # subscription made meanwhile (a flat_map's inner source, say). Connect upstream
            # only once that is over, so items run through the operators synchronously.
            self._starting = True
            try:
                self._chain = chained.subscribe(
                    self._chain_observer(), self._chain_failed, self._chain_completed
                )
            finally:
                self._starting = False
        except Exception as error:
            self._chain_failed(error)
            return
        link = self._link
        if link is not None and link.subscription is None:
            self._source.subscribe_flow(link)

    def _build(self, inlet: Observable[Any]) -> Any:
        return reduce(lambda obs, op: op(obs), self.plan.operators, inlet)

    def _chain_observer(self) -> Any:
        """The callable that receives the operators' items."""
        raise NotImplementedError

    def _link_next(self, observer: abc.ObserverBase[Any]) -> Any:
        """The callable the upstream link hands items to."""
        raise NotImplementedError

    def _attach(
        self, observer: abc.ObserverBase[Any], _: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        """The operators subscribed to the segment's inlet: connect it to the upstream."""
        previous = self._link
        if previous is not None:
            previous.cancel()
        link = Upstream(self, f"segment [{self.plan.names}]")
        link.on_next = self._link_next(observer)
        self._link = link
        self._inlet = observer
        self._inlet_closed = False
        self._upstream_done = False
        self._upstream_error = None
        self._reset_inputs()
        if not self._starting:
            self._source.subscribe_flow(link)
        return Disposable(link.cancel)

    def _reset_inputs(self) -> None:
        """A new upstream subscription (``repeat``, ``retry``) starts with nothing queued."""

    # The Upstream link calls these; a link that was cancelled (a repeat resubscribed, the
    # run ended) no longer reaches the run at all.

    def _on_item(self, item: Any) -> None:
        """Unused: each link's ``on_next`` is set to the mode's own item handler."""

    def _upstream_subscribed(self, subscription: Any) -> None:
        raise NotImplementedError

    def _upstream_end(self, error: Exception | None) -> None:
        raise NotImplementedError

    # -- the operators' signals ----------------------------------------------------------------

    def _chain_failed(self, error: Exception) -> None:
        raise NotImplementedError

    def _chain_completed(self) -> None:
        raise NotImplementedError

    def _dispose_chain(self) -> None:
        chain, self._chain = self._chain, None
        if chain is not None:
            try:
                chain.dispose()
            except Exception as error:  # a finally_action, say: nobody else can receive it
                report_undeliverable(error)

    def _release(self) -> None:
        """Cancel upstream, dispose the operators, drop the subscriber."""
        self._downstream = None
        link, self._link = self._link, None
        if link is not None:
            link.cancel(self._in_flight())
        self._dispose_chain()
        self._inlet = None

    def _in_flight(self) -> int:
        """What upstream may still deliver after cancel()."""
        return UNBOUNDED


class DirectRun(SegmentRun):
    """Unbounded demand: items run from upstream through the operators to downstream."""

    __slots__ = ()

    def _chain_observer(self) -> Any:
        assert self._downstream is not None  # set until the run ends
        return self._downstream.on_next

    def _link_next(self, observer: abc.ObserverBase[Any]) -> Any:
        return observer.on_next

    def _upstream_subscribed(self, subscription: Any) -> None:
        subscription.request(UNBOUNDED)

    def _upstream_end(self, error: Exception | None) -> None:
        self._upstream_done = True
        inlet = self._inlet
        if inlet is None:
            return
        self._inlet_closed = True
        try:
            if error is None:
                inlet.on_completed()
            else:
                inlet.on_error(error)
        except Exception as late:  # a disposal action raised after the end went through
            report_undeliverable(late)

    def _chain_failed(self, error: Exception) -> None:
        self._terminate(error)

    def _chain_completed(self) -> None:
        self._terminate(None)

    def _terminate(self, error: Exception | None) -> None:
        with self._lock:
            active = self._state is ACTIVE
        if not active:
            if error is not None:
                report_undeliverable(error)
            return
        self._end(error)

    def _drain(self) -> None:
        self._settle()  # only cancel and bad demand can reach a direct run


class BoundedRun(SegmentRun):
    """Bounded demand: ``prefetch`` requested upstream, output held up to ``prefetch``.

    ``_inputs`` holds upstream items waiting for downstream demand (at most ``prefetch``:
    what was requested); ``_outputs`` what the operators emitted beyond downstream demand.
    """

    __slots__ = (
        "_consumed",
        "_credit",
        "_emitted",
        "_fast_next",
        "_feeding",
        "_halted",
        "_held",
        "_inlet_next",
        "_inputs",
        "_outputs",
        "_pending_pull",
        "_pulling",
        "_queue_next",
        "_replenish",
        "_room",
        "_room_granted",
        "_straight",
    )

    def __init__(self, downstream: Subscriber[Any], source: Flowable[Any], plan: SegmentPlan):
        super().__init__(downstream, source, plan)
        self._emitted = 0
        self._inputs: deque[Any] = deque()
        self._outputs: deque[Any] = deque()
        self._consumed = 0
        #: Thread id of the drain while it pushes items into the operators, else 0.
        self._feeding = 0
        #: While the drain asks upstream for more (items then arrive inside that call): the
        #: drain's thread id if they may go straight into the operators, else -1; 0 otherwise.
        self._pulling = 0
        #: Items may go straight from a pull into the operators: none of them multiplies or
        #: emits later, so each item is answered before the call returns.
        self._straight = not (plan.multiplies or plan.emits_later)
        #: The first request upstream, made by the drain so the items land in its queue.
        self._pending_pull = 0
        #: Items requested upstream and not yet received; below zero is a rule 1.1 breach.
        self._credit = 0
        #: Items the operators that emit later hold now (see PacedRun); 0 in other runs.
        self._held = 0
        #: Nothing more may go into the operators: cancelled, ended, failed, or they completed.
        #: One flag for the hot path, set wherever one of those happens.
        self._halted = False
        self._replenish = plan.replenish
        #: Items that may still go straight into the operators with no other check: at most
        #: the downstream demand left, the items left before the next replenish, and the
        #: credit (granted by ``_grant``; when it runs out the slow path looks again).
        self._room = 0
        #: What the last grant gave; ``_room_granted - _room`` items were fed since.
        self._room_granted = 0
        self._inlet_next: Any = None
        # The link's two item handlers, bound once: a straight pull swaps them.
        self._queue_next = self._upstream_next
        self._fast_next = self._straight_next

    def _chain_observer(self) -> Any:
        return self._chain_next

    def _link_next(self, observer: abc.ObserverBase[Any]) -> Any:
        self._inlet_next = observer.on_next
        return self._queue_next

    def cancel(self) -> None:
        self._halted = True  # read without the lock by the hot path; the drain releases
        super().cancel()

    def _reset_inputs(self) -> None:
        self._inputs.clear()
        self._consumed = 0
        self._credit = 0

    def _upstream_subscribed(self, subscription: Any) -> None:
        if self._state is not ACTIVE:
            return  # the release cancels the link
        # Ask from inside the drain: a synchronous source then fills the queue in one go
        # and the drain, not the source, drives the loop (one lock per batch, not per item).
        self._pending_pull = self.plan.prefetch
        self._schedule()

    def _in_flight(self) -> int:
        return max(self._credit, 0)

    # -- upstream signals ----------------------------------------------------------------------

    def _upstream_next(self, item: Any) -> None:
        """An item from upstream, queued for the drain to feed."""
        credit = self._credit - 1
        self._credit = credit
        if credit < 0:
            self._upstream_overflowed()
            return
        self._inputs.append(item)
        # Appended first, flag read second: a drain that is pulling will see the item.
        if not self._pulling:
            self._schedule()

    def _straight_next(self, item: Any) -> None:
        """The hot path: an item asked for by the drain, on the drain's thread, while room
        is granted goes straight into the operators. One counter decides; everything else
        (demand, replenishing, the queue, the end) is looked at when the room runs out."""
        room = self._room - 1
        if room < 0 or self._pulling != get_ident():
            if not self._regrant():
                self._upstream_next(item)
                return
            room = self._room - 1  # fed from this frame too: the stack depth stays the same
        self._room = room
        self._credit -= 1
        try:
            self._inlet_next(item)
        except Exception as error:
            self._chain_raised(error)
            return
        if not room:
            # The room is used up: replenish now, from inside upstream's emitting loop (a
            # synchronous source goes on in the same loop), and grant the next items room.
            self._settle_room()
            self._grant()

    def _regrant(self) -> bool:
        """The room ran out (or the item came from another thread): count what went straight
        in, replenish upstream when due, and grant new room; False: queue the item."""
        self._settle_room()
        return self._pulling == get_ident() and self._grant()

    def _settle_room(self, pull: bool = True) -> None:
        """Count the items fed straight since the last grant; replenish when it is due (or,
        with ``pull=False``, leave the request to the drain's loop: no nesting)."""
        fed = self._room_granted - self._room
        self._room_granted = self._room = 0
        if fed:
            consumed = self._consumed + fed
            if consumed >= self._replenish:
                self._consumed = consumed - self._replenish
                if pull:
                    self._pull(self._replenish)
                else:
                    self._pending_pull += self._replenish
            else:
                self._consumed = consumed

    def _grant(self) -> bool:
        """Room for the next items, if they may go straight in; False: queue them."""
        if self._inputs or self._halted or self._credit <= 0:
            return False
        room = min(self._requested - self._emitted, self._replenish - self._consumed, self._credit)
        if room <= 0:
            return False
        self._room = self._room_granted = room
        return True

    def _upstream_overflowed(self) -> None:
        """Upstream broke rule 1.1: fail at once, ahead of queued items; drop what follows."""
        if self._abort_error is not None or self._upstream_done:
            return
        self._abort_error = MissingBackpressureError(
            f"upstream of segment [{self.plan.names}] emitted more than the items it was "
            f"asked for (at most {self.plan.prefetch} ahead; Reactive Streams rule 1.1)"
        )
        self._halted = True
        link = self._link
        if link is not None:
            link.cancel()
        if not self._feeding:
            self._schedule()

    def _upstream_end(self, error: Exception | None) -> None:
        self._upstream_done = True
        self._upstream_error = error
        self._schedule()

    # -- operator chain output -----------------------------------------------------------------

    def _chain_next(self, item: Any) -> None:
        outputs = self._outputs
        if self._feeding == get_ident() and not outputs and not self._halted:
            # Emitted synchronously while the drain feeds the operators: hand it straight on.
            emitted = self._emitted
            if emitted != self._requested:
                self._emitted = emitted + 1
                try:
                    self._downstream.on_next(item)  # type: ignore[union-attr]  # set while feeding
                except Exception as error:  # the subscriber raised (rule 2.13)
                    self._abandon(error)
                return
        outputs.append(item)
        if len(outputs) > self.plan.prefetch and self._abort_error is None:
            self._abort_error = self.plan.overflow_error()
            self._halted = True
            # Dispose at once, from inside the operators: an inner source that emits
            # synchronously and endlessly checks its disposal between items and stops.
            self._dispose_chain()
            outputs.clear()
        # Appended first, flag read second: a drain that is feeding will see the item.
        if not self._feeding:
            self._schedule()

    def _chain_failed(self, error: Exception) -> None:
        if self._abort_error is None and self._state is ACTIVE:
            self._abort_error = error
            self._halted = True
        else:
            report_undeliverable(error)
        if not self._feeding:
            self._schedule()

    def _chain_completed(self) -> None:
        self._chain_done = True
        self._halted = True
        if not self._feeding:
            self._schedule()

    def _chain_raised(self, error: Exception) -> None:
        """An operator raised out of a call into it (they fence user callbacks, so this is a
        disposal action or a broken operator): fail the stream, or report it if it ended."""
        if self._state is ACTIVE and not self._chain_done and self._abort_error is None:
            self._abort_error = error
            self._halted = True
        else:
            report_undeliverable(error)

    # -- the drain -----------------------------------------------------------------------------

    def _drain(self) -> None:
        downstream = self._settle()
        if downstream is None:
            return
        inputs, outputs = self._inputs, self._outputs
        while True:
            if self._pending_pull:
                pull, self._pending_pull = self._pending_pull, 0
                self._pull(pull)
            if self._state is not ACTIVE:
                self._release()
                return
            if self._abort_error is not None:
                self._fail(self._abort_error)
                return
            emitted, requested = self._emitted, self._requested
            while outputs and emitted != requested:
                emitted += 1
                self._emitted = emitted
                try:
                    downstream.on_next(outputs.popleft())
                except Exception as error:
                    self._abandon(error)
                    return
                if self._state is not ACTIVE:
                    self._release()
                    return
                requested = self._requested
            if outputs:
                if self._pending_pull:
                    continue  # replenish upstream even while output waits for demand
                return
            if self._chain_done:
                self._end(None)
                return
            inlet = self._inlet
            if inlet is None:
                return
            if self._upstream_done and not self._inlet_closed and not inputs:
                # The end of upstream, error or not, goes into the operators after the items
                # queued before it, as in plain reactivex: a fused segment is no asynchronous
                # boundary, so it must not reorder (Reactor's publishOn delays errors alike).
                self._close_inlet(inlet)
                continue
            if emitted == requested or not inputs or not self._may_feed():
                if self._pending_pull:
                    continue
                return
            if self.plan.multiplies:
                if not self._feed_deferred(inlet):
                    return
            elif not self._feed(inlet, -1 if _TRAMPOLINE.schedule_required() else None):
                return

    def _fail(self, error: Exception) -> None:
        """End with ``error`` ahead of what is queued (an overflow, an operator's error)."""
        waiting, self._upstream_error = self._upstream_error, None
        self._end(error)
        if waiting is not None:
            # Upstream had failed too, behind items that now never go through: the error
            # must not vanish with them, so the hook gets it.
            report_undeliverable(waiting)

    def _close_inlet(self, inlet: abc.ObserverBase[Any]) -> None:
        self._inlet_closed = True
        error = self._upstream_error
        self._upstream_error = None
        self._feeding = get_ident()
        try:
            if error is None:
                inlet.on_completed()
            else:
                inlet.on_error(error)
        except Exception as late:  # finally_action raising as the operators dispose
            self._chain_raised(late)
        finally:
            self._feeding = 0

    def _may_feed(self) -> bool:
        """Room to feed another item; PacedRun also asks its window."""
        return True

    def _feed(self, inlet: abc.ObserverBase[Any], budget: int | None) -> bool:
        """Push queued inputs through the operators while downstream has demand.

        ``budget``: how many items at most (-1: no limit; None: one prefetch, then continue
        from the trampoline we are nested in, after the work it deferred). Returns False
        when the drain must stop here: the stream ended, or it yielded to the trampoline.
        """
        inputs, outputs = self._inputs, self._outputs
        inlet_next = inlet.on_next
        consumed, replenish = self._consumed, self._replenish
        left = self.plan.prefetch if budget is None else budget
        #: Replenishing requested while items were still queued: asked for once the queue
        #: is fed, so that a synchronous upstream's answer goes straight into the operators.
        owed = 0
        yielded = False
        feeding, self._feeding = self._feeding, get_ident()
        try:
            while (
                inputs
                and self._emitted != self._requested
                and not outputs
                and not self._halted
                and self._may_feed()
            ):
                if left == 0:
                    if budget is None:
                        _TRAMPOLINE.schedule(self._continue)
                    yielded = True
                    break
                left -= 1
                inlet_next(inputs.popleft())
                consumed += 1
                if consumed == replenish:
                    consumed = 0
                    if inputs:
                        owed += replenish
                    else:
                        self._consumed = 0
                        self._pull(replenish)
                        consumed = self._consumed  # items fed inside the pull counted
        except Exception as error:
            self._chain_raised(error)
        finally:
            self._feeding = feeding
            self._consumed = consumed
        if owed and not self._halted:
            self._pull(owed)
        return self._state is ACTIVE and not yielded

    def _feed_deferred(self, inlet: abc.ObserverBase[Any]) -> bool:
        """Feed operators that multiply items one item per trampoline round.

        Inside reactivex's current-thread trampoline an inner source's subscription is
        deferred until the feeding call returned, so its disposable exists when the segment
        disposes the operators at the bound: even an endless synchronous inner stops.
        """
        if _TRAMPOLINE.schedule_required():
            # Idle: run a trampoline here; schedule() returns once the inner work is done.
            # What the inner sources emit meanwhile counts as fed by this drain.
            self._feeding = get_ident()
            try:
                _TRAMPOLINE.schedule(self._feed_one, inlet)
            finally:
                self._feeding = 0
            return True
        # Nested in a trampoline that is already running: feed one, go on after its work.
        if self._feed(inlet, 1):
            _TRAMPOLINE.schedule(self._continue)
        return False

    def _feed_one(self, _scheduler: abc.SchedulerBase, inlet: Any = None) -> None:
        self._feed(inlet, 1)

    def _continue(self, _scheduler: abc.SchedulerBase, _state: Any = None) -> None:
        self._schedule()

    def _pull(self, n: int) -> None:
        """Ask upstream for ``n`` more from inside the drain.

        A synchronous upstream emits inside this call; while the drain is not nested in
        reactivex's trampoline, those items go straight into the operators.
        """
        link = self._link
        if link is None or link.subscription is None:
            return
        subscription = link.subscription
        self._credit += n
        pulling, feeding = self._pulling, self._feeding
        if pulling and pulling == get_ident() and link.on_next is self._fast_next:
            # Nested in a straight pull on this thread (replenishing from the hot path):
            # everything is set up already; a synchronous upstream only notes the demand.
            subscription.request(n)
            return
        if self._straight and not self._inputs and _TRAMPOLINE.schedule_required():
            # Items that arrive inside this call go straight into the operators.
            thread = self._pulling = self._feeding = get_ident()
            previous, link.on_next = link.on_next, self._fast_next
            try:
                subscription.request(n)
            finally:
                self._pulling, self._feeding = pulling, feeding
                if thread != pulling:  # the outermost straight pull
                    # Unless the link was detached meanwhile (it then swapped in its own).
                    if link.on_next is self._fast_next:
                        link.on_next = previous
                    self._settle_room(pull=False)
            return
        self._pulling = -1
        try:
            subscription.request(n)
        finally:
            self._pulling, self._feeding = pulling, feeding

    def _release(self) -> None:
        self._halted = True
        super()._release()
        self._inputs.clear()
        self._outputs.clear()


class _Gauge:
    """What one operator that emits later holds: items fed into it, not yet out."""

    __slots__ = ("held", "settles")

    def __init__(self, settles: bool) -> None:
        self.held = 0
        #: One emission accounts for everything taken in so far (debounce, sample, buffers).
        self.settles = settles


class PacedRun(BoundedRun):
    """A bounded run whose operators emit later: it feeds only while they hold less than a
    window (``prefetch`` items), counted around each such operator by two probes."""

    __slots__ = ()

    def _build(self, inlet: Observable[Any]) -> Any:
        chained: Any = inlet
        for operator, kinds in zip(self.plan.operators, self.plan.kinds, strict=True):
            later = [k for k in kinds if k.family in _LATER]
            if later:
                gauge = _Gauge(all(k.family is Family.EMITS_SETTLED for k in later))
                chained = self._probe_out(operator(self._probe_in(chained, gauge)), gauge)
            else:
                chained = operator(chained)
        return chained

    def _may_feed(self) -> bool:
        return self._held < self.plan.prefetch

    def _probe_in(self, source: Observable[Any], gauge: _Gauge) -> Observable[Any]:
        lock = self._lock

        def subscribe(
            observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(item: Any) -> None:
                with lock:
                    gauge.held += 1
                    self._held += 1
                observer.on_next(item)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    def _probe_out(self, source: Observable[Any], gauge: _Gauge) -> Observable[Any]:
        lock = self._lock
        window = self.plan.prefetch

        def subscribe(
            observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(item: Any) -> None:
                with lock:
                    released = gauge.held if gauge.settles else min(gauge.held, 1)
                    gauge.held -= released
                    was_full = self._held >= window
                    self._held -= released
                observer.on_next(item)
                if was_full and not self._feeding:
                    self._schedule()  # the window opened: feed again

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)


def run_class(plan: SegmentPlan, unbounded: bool) -> type[SegmentRun]:
    """The mode for a subscription whose subscriber asked for ``unbounded`` demand at once."""
    if plan.emits_later:
        # Unbounded demand does not bound what a timer or another thread holds: pace it.
        return PacedRun
    if unbounded and plan.pass_unbounded:
        return DirectRun
    return BoundedRun


__all__ = ["BoundedRun", "DirectRun", "Lifecycle", "PacedRun", "SegmentPlan", "SegmentRun"]
