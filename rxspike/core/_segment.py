"""Fused push segments: a run of reactivex operators behind one bounded demand boundary."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from functools import reduce
from threading import get_ident
from typing import Any, Generic, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import Disposable
from reactivex.scheduler import CurrentThreadScheduler

from ._demand import ACTIVE, DemandLoop
from .errors import MissingBackpressureError, ProtocolViolationError
from .flowable import DEFAULT_PREFETCH, Flowable
from .hooks import report_undeliverable
from .types import UNBOUNDED, Subscriber, Subscription

T = TypeVar("T")
R = TypeVar("R")

PushOperator = Callable[[Observable[Any]], Observable[Any]]

_TRAMPOLINE = CurrentThreadScheduler.singleton()


class FlowOperator(Generic[T, R]):
    """A demand-aware operator, ``Flowable[T] -> Flowable[R]``.

    ``Flowable.pipe`` applies it as it is; anything else in ``pipe`` is a reactivex operator
    and is fused into a push segment.
    """

    __slots__ = ("_apply", "name")

    def __init__(self, name: str, apply: Callable[[Flowable[T]], Flowable[R]]) -> None:
        self.name = name
        self._apply = apply

    def __call__(self, source: Flowable[T]) -> Flowable[R]:
        return self._apply(source)

    def __repr__(self) -> str:
        return f"<flow operator {self.name}>"


def describe_operator(operator: Callable[..., Any]) -> str:
    """A readable name for a reactivex operator (``map``), for error messages."""
    for cell in getattr(operator, "__closure__", None) or ():
        content = cell.cell_contents
        name = getattr(content, "__name__", "")
        if callable(content) and name.endswith("_") and not name.startswith("_"):
            return name.rstrip("_")
    return getattr(operator, "__name__", repr(operator))


def validate_prefetch(prefetch: int, what: str = "prefetch") -> int:
    if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
        raise ValueError(f"{what} must be a positive int, got {prefetch!r}")
    return prefetch


def fuse(*operators: PushOperator, prefetch: int = DEFAULT_PREFETCH) -> FlowOperator[Any, Any]:
    """Run reactivex operators as one push segment behind a bounded demand boundary.

    ``Flowable.pipe`` does this on its own for every run of reactivex operators, with
    :data:`DEFAULT_PREFETCH`; call ``fuse`` to choose the prefetch.

    The segment asks upstream for ``prefetch`` items, and for ``prefetch - prefetch // 4``
    more each time that many have gone through. It feeds an item into the operators only
    while downstream has demand; what the operators emit beyond that demand is held, up to
    ``prefetch`` items, and more than that fails the stream with
    :class:`MissingBackpressureError` (put an explicit backpressure operator where items
    multiply). When downstream demand is unbounded nothing can pile up, so the segment
    passes unbounded demand upstream and items run straight through the operators.

    Args:
        operators: reactivex operators, applied left to right.
        prefetch: how many items the segment keeps requested ahead.
    """
    validate_prefetch(prefetch)
    names = ", ".join(describe_operator(op) for op in operators)

    def apply(source: Flowable[Any]) -> Flowable[Any]:
        return Flowable(
            lambda subscriber: _Segment(
                subscriber,
                source,
                operators,
                names=names,
                prefetch=prefetch,
                replenish=prefetch - prefetch // 4,
            ).start()
        )

    return FlowOperator(f"fuse({names})", apply)


def boundary(name: str, prefetch: int, replenish: int) -> FlowOperator[Any, Any]:
    """An operator-free boundary that never asks upstream for more than ``prefetch`` items."""

    def apply(source: Flowable[Any]) -> Flowable[Any]:
        return Flowable(
            lambda subscriber: _Segment(
                subscriber,
                source,
                (),
                names=name,
                prefetch=prefetch,
                replenish=replenish,
                pass_unbounded=False,
            ).start()
        )

    return FlowOperator(name, apply)


class _Link:
    """The segment's subscriber upstream; one per time the operators subscribe the inlet.

    Once upstream ended, or the link was cancelled, ``on_next`` is swapped for one that drops
    items, so a publisher that breaks the rules cannot push them into the operators or the
    dead segment's queue. It reports, once each, to the undeliverable hook: items after
    ``on_completed`` / ``on_error`` (rule 1.7) and items after ``cancel()`` beyond the
    demand still outstanding at that moment (rules 1.1, 3.12); items within that demand were
    legitimately in flight (rule 2.8) and are dropped quietly. A second terminal signal is
    reported too.
    """

    __slots__ = ("ended", "in_flight", "on_next", "reported", "segment", "subscription")

    def __init__(self, segment: _Segment, on_next: Callable[[Any], None]) -> None:
        self.segment = segment
        self.subscription: Subscription | None = None
        # In the direct (unbounded) mode this is the first operator's observer itself.
        self.on_next = on_next
        #: The upstream's terminal signal, once it came.
        self.ended: str | None = None
        #: After cancel(): how many more items upstream may still deliver.
        self.in_flight = UNBOUNDED
        #: A late item was reported already.
        self.reported = False

    def on_subscribe(self, subscription: Subscription) -> None:
        if self.subscription is not None:
            subscription.cancel()
            report_undeliverable(
                ProtocolViolationError("upstream called on_subscribe twice (rule 2.5)")
            )
            return
        self.subscription = subscription
        self.segment._link_subscribed(self, subscription)

    def on_error(self, error: Exception) -> None:
        if self._end("on_error", error):
            self.segment._upstream_terminated(self, error)

    def on_completed(self) -> None:
        if self._end("on_completed", None):
            self.segment._upstream_terminated(self, None)

    def cancel(self, in_flight: int = UNBOUNDED) -> None:
        """Cancel upstream, which may still deliver ``in_flight`` items; idempotent.

        After upstream ended its subscription counts as cancelled already (rules 1.6, 2.4):
        it is not called again, least of all from inside its on_completed (rule 2.3).
        """
        subscription, self.subscription = self.subscription, None
        if subscription is not None and self.ended is None:
            self.in_flight = in_flight
            self.on_next = self._next_after_cancel  # before cancel(): it may emit inside
            subscription.cancel()

    def _end(self, signal: str, error: Exception | None) -> bool:
        """Record upstream's terminal signal; False (and reported) if one came before."""
        ended = self.ended
        if ended is None:
            self.ended = signal
            self.on_next = self._next_after_end
            return True
        violation = ProtocolViolationError(
            f"upstream of segment [{self.segment._names}] called {signal} after {ended} "
            "(Reactive Streams rule 1.7)"
        )
        violation.__cause__ = error
        report_undeliverable(violation)
        return False

    def _next_after_end(self, item: Any) -> None:
        if not self.reported:
            self.reported = True
            report_undeliverable(
                ProtocolViolationError(
                    f"upstream of segment [{self.segment._names}] called on_next after "
                    f"{self.ended} (Reactive Streams rule 1.7); late items are dropped"
                )
            )

    def _next_after_cancel(self, item: Any) -> None:
        in_flight = self.in_flight - 1
        self.in_flight = in_flight
        if in_flight < 0 and not self.reported:
            self.reported = True
            report_undeliverable(
                ProtocolViolationError(
                    f"upstream of segment [{self.segment._names}] kept emitting after "
                    "cancel(), beyond the items it had been asked for (Reactive Streams "
                    "rules 1.1, 3.12); the extra items are dropped"
                )
            )


class _Segment(DemandLoop):
    """One subscription through a fused segment: upstream link, operator chain, downstream.

    Signals into the operators (``_inlet``) and out to ``_downstream`` are serialised by the
    drain loop. ``_inputs`` holds upstream items waiting for downstream demand (at most
    ``prefetch``: what was requested); ``_outputs`` holds what the operators emitted beyond
    downstream demand (at most ``prefetch``, else :class:`MissingBackpressureError`).
    """

    __slots__ = (
        "_abort_error",
        "_chain",
        "_chain_done",
        "_consumed",
        "_credit",
        "_direct",
        "_downstream",
        "_emitted",
        "_feeding",
        "_inlet",
        "_inlet_closed",
        "_inputs",
        "_link",
        "_names",
        "_operators",
        "_outputs",
        "_pass_unbounded",
        "_pending_pull",
        "_prefetch",
        "_pulling",
        "_replenish",
        "_source",
        "_starting",
        "_upstream_done",
        "_upstream_error",
    )

    def __init__(
        self,
        downstream: Subscriber[Any],
        source: Flowable[Any],
        operators: Sequence[PushOperator],
        *,
        names: str,
        prefetch: int,
        replenish: int,
        pass_unbounded: bool = True,
    ) -> None:
        super().__init__()
        self._downstream: Subscriber[Any] | None = downstream
        self._source = source
        self._operators = operators
        self._names = names
        self._prefetch = prefetch
        self._replenish = replenish
        self._pass_unbounded = pass_unbounded
        self._emitted = 0
        self._direct = False
        self._inputs: deque[Any] = deque()
        self._outputs: deque[Any] = deque()
        self._consumed = 0
        #: Thread id of the drain while it pushes items into the operators, else 0.
        self._feeding = 0
        #: While the drain asks upstream for more (items then arrive inside that call): the
        #: drain's thread id if they may go straight into the operators, else -1; 0 otherwise.
        self._pulling = 0
        #: The first request upstream, made by the drain so the items land in its queue.
        self._pending_pull = 0
        #: Items requested upstream and not yet received; below zero is a rule 1.1 breach.
        self._credit = 0
        self._link: _Link | None = None
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
        downstream = self._downstream
        if downstream is None:
            return
        downstream.on_subscribe(self)
        if self._state is not ACTIVE:
            return
        self._direct = (
            self._pass_unbounded and self._requested == UNBOUNDED and self._bad_request is None
        )
        try:
            chained = reduce(lambda obs, op: op(obs), self._operators, Observable(self._attach))
            if not isinstance(chained, Observable):
                raise TypeError(
                    f"operators [{self._names}] must return a reactivex Observable, "
                    f"got {type(chained).__name__}"
                )
            on_next = downstream.on_next if self._direct else self._chain_next
            # reactivex subscribes inside its current-thread trampoline, which defers any
            # subscription made meanwhile (a flat_map's inner source, say). Connect upstream
            # only once that is over, so items run through the operators synchronously.
            self._starting = True
            try:
                self._chain = chained.subscribe(on_next, self._chain_failed, self._chain_completed)
            finally:
                self._starting = False
        except Exception as error:
            self._chain_failed(error)
            return
        link = self._link
        if link is not None and link.subscription is None:
            self._source.subscribe_flow(link)

    def _attach(
        self, observer: abc.ObserverBase[Any], _: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        """The operators subscribed to the segment's inlet: connect it to the upstream."""
        previous = self._link
        if previous is not None:
            previous.cancel()
        link = _Link(self, observer.on_next if self._direct else self._upstream_next)
        self._link = link
        self._inlet = observer
        self._inlet_closed = False
        self._upstream_done = False
        self._upstream_error = None
        self._inputs.clear()
        self._consumed = 0
        self._credit = 0
        if not self._starting:
            self._source.subscribe_flow(link)
        return Disposable(link.cancel)

    def _link_subscribed(self, link: _Link, subscription: Subscription) -> None:
        if link is not self._link or self._state is not ACTIVE:
            link.cancel()
            return
        if self._direct:
            subscription.request(UNBOUNDED)
        else:
            # Ask from inside the drain: a synchronous source then fills the queue in one go
            # and the drain, not the source, drives the loop (one lock per batch, not per item).
            self._pending_pull = self._prefetch
            self._schedule()

    # -- upstream signals (bounded mode) -------------------------------------------------------

    def _upstream_next(self, item: Any) -> None:
        credit = self._credit - 1
        self._credit = credit
        if credit < 0:
            self._upstream_overflowed()
            return
        inputs = self._inputs
        if (
            self._pulling == get_ident()
            and not inputs
            and self._emitted != self._requested
            and self._state is ACTIVE
            and self._abort_error is None
            and not self._chain_done
        ):
            # Asked for by the drain on this thread, downstream has demand, nothing queued:
            # straight into the operators, no queue round trip. (The hot path: inlined.)
            inlet = self._inlet
            if inlet is None:
                return
            try:
                inlet.on_next(item)
            except Exception as error:  # the operators fence their callbacks: downstream raised
                self._abandon(error)
                return
            consumed = self._consumed + 1
            if consumed == self._replenish:
                self._consumed = 0
                self._pull(self._replenish)
            else:
                self._consumed = consumed
            return
        inputs.append(item)
        # Appended first, flag read second: a drain that is pulling will see the item.
        if not self._pulling:
            self._schedule()

    def _upstream_overflowed(self) -> None:
        """Upstream broke rule 1.1: fail at once, ahead of queued items; drop what follows."""
        if self._abort_error is not None or self._upstream_done:
            return
        self._abort_error = MissingBackpressureError(
            f"upstream of segment [{self._names}] emitted more than the items it was "
            f"asked for (at most {self._prefetch} ahead; Reactive Streams rule 1.1)"
        )
        link = self._link
        if link is not None:
            link.cancel()
        if not self._feeding:
            self._schedule()

    def _upstream_terminated(self, link: _Link | None, error: Exception | None) -> None:
        if link is not self._link or self._upstream_done:
            if error is not None:
                report_undeliverable(error)
            return
        self._upstream_done = True
        self._upstream_error = error
        if self._direct:
            inlet = self._inlet
            if inlet is not None:
                self._inlet_closed = True
                if error is None:
                    inlet.on_completed()
                else:
                    inlet.on_error(error)
            return
        self._schedule()

    # -- operator chain output -----------------------------------------------------------------

    def _chain_next(self, item: Any) -> None:
        outputs = self._outputs
        if self._feeding == get_ident() and not outputs and self._state is ACTIVE:
            # Emitted synchronously while the drain feeds the operators: hand it straight on.
            emitted = self._emitted
            if emitted != self._requested:
                self._emitted = emitted + 1
                self._downstream.on_next(item)  # type: ignore[union-attr]  # set while feeding
                return
        outputs.append(item)
        if len(outputs) > self._prefetch and self._abort_error is None:
            self._abort_error = MissingBackpressureError(
                f"operators [{self._names}] emitted more than {self._prefetch} items beyond "
                "downstream demand; put an explicit backpressure operator such as "
                "on_backpressure_buffer() or on_backpressure_latest() after the operator "
                "that multiplies items"
            )
        # Appended first, flag read second: a drain that is feeding will see the item.
        if not self._feeding:
            self._schedule()

    def _chain_failed(self, error: Exception) -> None:
        if self._direct:
            self._terminate_direct(error)
            return
        if self._abort_error is None:
            self._abort_error = error
        else:
            report_undeliverable(error)
        if not self._feeding:
            self._schedule()

    def _chain_completed(self) -> None:
        if self._direct:
            self._terminate_direct(None)
            return
        self._chain_done = True
        if not self._feeding:
            self._schedule()

    def _terminate_direct(self, error: Exception | None) -> None:
        with self._lock:
            if self._state is not ACTIVE:
                if error is not None:
                    report_undeliverable(error)
                return
        self._end(error)

    # -- the drain -----------------------------------------------------------------------------

    def _drain(self) -> None:
        downstream = self._settle()
        if downstream is None:
            return
        if self._direct:
            return
        if self._pending_pull:
            pull, self._pending_pull = self._pending_pull, 0
            self._pull(pull)
        inputs, outputs = self._inputs, self._outputs
        while True:
            if self._abort_error is not None:
                self._end(self._abort_error)
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
                self._inlet_closed = True
                self._feeding = get_ident()
                try:
                    if self._upstream_error is None:
                        inlet.on_completed()
                    else:
                        inlet.on_error(self._upstream_error)
                finally:
                    self._feeding = 0
                continue
            if emitted == requested or not inputs:
                return
            if not self._feed(inlet):
                return

    def _feed(self, inlet: abc.ObserverBase[Any]) -> bool:
        """Push queued inputs through the operators while downstream has demand.

        The hot path of a bounded segment. Returns False when the drain must stop here: the
        subscriber raised, or the drain yielded to reactivex's trampoline.
        """
        inputs, outputs = self._inputs, self._outputs
        inlet_next = inlet.on_next
        consumed, replenish = self._consumed, self._replenish
        # Inside an active current-thread trampoline, operators defer work (inner
        # subscriptions) until we return; feeding on regardless would never see their output.
        # So feed one prefetch, then continue from the trampoline, after the deferred work.
        budget = -1 if _TRAMPOLINE.schedule_required() else self._prefetch
        self._feeding = get_ident()
        try:
            while (
                inputs
                and self._emitted != self._requested
                and not outputs
                and self._state is ACTIVE
                and self._abort_error is None
                and not self._chain_done
            ):
                if budget == 0:
                    _TRAMPOLINE.schedule(self._continue)
                    return False
                budget -= 1
                inlet_next(inputs.popleft())
                consumed += 1
                if consumed == replenish:
                    self._consumed = 0
                    self._pull(replenish)
                    consumed = self._consumed  # items fed inside the pull counted themselves
        except Exception as error:  # the operators fence their own callbacks: downstream raised
            self._abandon(error)
            return False
        finally:
            self._feeding = 0
            self._consumed = consumed
        # Cancelled from inside on_next: stop; the cancel's mark makes the drain release.
        return self._state is ACTIVE

    def _continue(self, _scheduler: abc.SchedulerBase, _state: Any = None) -> None:
        self._schedule()

    def _pull(self, n: int) -> None:
        """Ask upstream for ``n`` more from inside the drain.

        A synchronous upstream emits inside this call; while the drain is not nested in
        reactivex's trampoline, those items go straight into the operators.
        """
        link = self._link
        subscription = link.subscription if link is not None else None
        if subscription is None:
            return
        self._credit += n
        pulling, feeding = self._pulling, self._feeding
        thread = get_ident() if _TRAMPOLINE.schedule_required() else -1
        self._pulling = thread
        if thread != -1:
            self._feeding = thread
        try:
            subscription.request(n)
        finally:
            self._pulling, self._feeding = pulling, feeding

    def _release(self) -> None:
        """Cancel upstream, dispose the operators, drop queued items and the subscriber."""
        self._downstream = None
        link, self._link = self._link, None
        if link is not None:
            # What upstream may still deliver: the credit it was given and has not used.
            # Direct mode passed unbounded demand.
            link.cancel(UNBOUNDED if self._direct else max(self._credit, 0))
        chain, self._chain = self._chain, None
        if chain is not None:
            chain.dispose()
        self._inlet = None
        self._inputs.clear()
        self._outputs.clear()
