"""``Flowable``: a reactivex Observable that honours Reactive Streams demand."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, overload

from reactivex import Observable, abc
from reactivex.disposable import Disposable

from .hooks import report_undeliverable
from .subscribers import LambdaSubscriber
from .types import Subscriber

if TYPE_CHECKING:
    from ._aiter import FlowIterator
    from .stats import StageStats

T = TypeVar("T")
# The item types after each operator of a pipe.
_A = TypeVar("_A")
_B = TypeVar("_B")
_C = TypeVar("_C")
_D = TypeVar("_D")
_E = TypeVar("_E")
_F = TypeVar("_F")
_G = TypeVar("_G")
_H = TypeVar("_H")

#: Items a fused segment asks for up front; it asks for 75 % more once 75 % are consumed.
DEFAULT_PREFETCH = 256

SubscribeFunction = Callable[[Subscriber[T]], None]


class StageReport(Protocol):
    """A stage a stream should report: its statistics (a broadcast hub's subscriber buffer)."""

    def statistics(self) -> StageStats: ...


class Flowable(Observable[T]):
    """A stream that emits only what its subscriber requested.

    It is a ``reactivex.Observable``, so it goes wherever one is accepted: a plain
    ``subscribe(on_next, on_error, on_completed)`` or any reactivex operator applied to it
    means unbounded demand, as in RxJava and Reactor. ``subscribe(subscriber)`` with an
    object that has ``on_subscribe`` follows the Reactive Streams protocol instead: nothing
    flows until ``subscription.request(n)``.

    ``pipe`` takes rxspike's flow operators and plain reactivex operators alike; each run of
    consecutive reactivex operators is fused into one push segment behind a bounded demand
    boundary (see :func:`rxspike.operators.fuse`).

    >>> import reactivex.operators as ops
    >>> from rxspike import from_iterable
    >>> from_iterable(range(5)).pipe(ops.map(lambda x: x * 10)).subscribe(print)
    0
    10
    20
    30
    40
    <reactivex.disposable.disposable.Disposable object at ...>
    """

    #: Stages whose statistics a stream over this Flowable reports, as ``(label, stage)``:
    #: set by a source that owns a per-subscriber buffer (a broadcast hub's), and carried
    #: on by :meth:`pipe`, so ``rxspike.web`` finds them without being told.
    stage_reports: tuple[tuple[str, StageReport], ...] = ()

    def __init__(self, subscribe: SubscribeFunction[T]) -> None:
        super().__init__()
        self._subscribe_flow = subscribe

    def subscribe(  # also accepts a Reactive Streams Subscriber
        self,
        on_next: Subscriber[T] | abc.ObserverBase[T] | Callable[[T], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        on_completed: Callable[[], None] | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        """Subscribe a Reactive Streams subscriber, a reactivex observer, or callbacks.

        Returns a disposable whose ``dispose()`` cancels the subscription.
        """
        if hasattr(on_next, "on_subscribe"):
            subscriber = cast(Subscriber[T], on_next)
            self.subscribe_flow(subscriber)
            return Disposable(getattr(subscriber, "cancel", None))
        if on_next is not None and hasattr(on_next, "on_next"):
            observer = cast(abc.ObserverBase[T], on_next)
            on_next, on_error, on_completed = (
                observer.on_next,
                observer.on_error,
                observer.on_completed,
            )
        lambda_subscriber = LambdaSubscriber(on_next, on_error, on_completed)
        self.subscribe_flow(lambda_subscriber)
        return Disposable(lambda_subscriber.cancel)

    def _subscribe_core(
        self, observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return self.subscribe(observer, scheduler=scheduler)

    def subscribe_flow(self, subscriber: Subscriber[T]) -> None:
        """Subscribe with Reactive Streams semantics: ``on_subscribe`` comes first, always.

        If the subscribe function raises, the subscriber gets an empty subscription and
        ``on_error`` (Reactor's ``reportThrowInSubscribe``); had it already been subscribed,
        it rejects the second subscription as rule 2.5 requires and the error is reported.
        """
        try:
            self._subscribe_flow(subscriber)
        except Exception as error:
            from .sources import NO_DEMAND

            try:
                subscriber.on_subscribe(NO_DEMAND)
                subscriber.on_error(error)
            except Exception as late:
                report_undeliverable(late)

    # Typed like reactivex's Observable.pipe, except that what comes out is always a Flowable
    # (a run of reactivex operators is fused into one): each operator takes the Flowable
    # built so far and returns an Observable of its items, so a reactivex operator
    # (Observable[T] -> Observable[R]) and a flow operator (Flowable[T] -> Flowable[R]) both
    # fit, and the item type flows from one to the next. Up to eight operators, as
    # reactivex has seven: nest a pipe for more.
    # As with reactivex's pipe, mypy infers an overloaded call's arguments before it picks
    # the overload, so a lambda's parameter inside a generic reactivex operator
    # (``ops.map(lambda x: x * 2)``) is not inferred: pass a typed function there.
    @overload  # type: ignore[override]
    def pipe(self) -> Flowable[T]: ...

    @overload
    def pipe(
        self,
        op1: Callable[[Flowable[T]], Observable[_A]],
        /,
    ) -> Flowable[_A]: ...

    @overload
    def pipe(
        self,
        op1: Callable[[Flowable[T]], Observable[_A]],
        op2: Callable[[Flowable[_A]], Observable[_B]],
        /,
    ) -> Flowable[_B]: ...

    @overload
    def pipe(
        self,
        op1: Callable[[Flowable[T]], Observable[_A]],
        op2: Callable[[Flowable[_A]], Observable[_B]],
        op3: Callable[[Flowable[_B]], Observable[_C]],
        /,
    ) -> Flowable[_C]: ...

    @overload
    def pipe(
        self,
        op1: Callable[[Flowable[T]], Observable[_A]],
        op2: Callable[[Flowable[_A]], Observable[_B]],
        op3: Callable[[Flowable[_B]], Observable[_C]],
        op4: Callable[[Flowable[_C]], Observable[_D]],
        /,
    ) -> Flowable[_D]: ...

    @overload
    def pipe(
        self,
        op1: Callable[[Flowable[T]], Observable[_A]],
        op2: Callable[[Flowable[_A]], Observable[_B]],
        op3: Callable[[Flowable[_B]], Observable[_C]],
        op4: Callable[[Flowable[_C]], Observable[_D]],
        op5: Callable[[Flowable[_D]], Observable[_E]],
        /,
    ) -> Flowable[_E]: ...

    @overload
    def pipe(
        self,
        op1: Callable[[Flowable[T]], Observable[_A]],
        op2: Callable[[Flowable[_A]], Observable[_B]],
        op3: Callable[[Flowable[_B]], Observable[_C]],
        op4: Callable[[Flowable[_C]], Observable[_D]],
        op5: Callable[[Flowable[_D]], Observable[_E]],
        op6: Callable[[Flowable[_E]], Observable[_F]],
        /,
    ) -> Flowable[_F]: ...

    @overload
    def pipe(
        self,
        op1: Callable[[Flowable[T]], Observable[_A]],
        op2: Callable[[Flowable[_A]], Observable[_B]],
        op3: Callable[[Flowable[_B]], Observable[_C]],
        op4: Callable[[Flowable[_C]], Observable[_D]],
        op5: Callable[[Flowable[_D]], Observable[_E]],
        op6: Callable[[Flowable[_E]], Observable[_F]],
        op7: Callable[[Flowable[_F]], Observable[_G]],
        /,
    ) -> Flowable[_G]: ...

    @overload
    def pipe(
        self,
        op1: Callable[[Flowable[T]], Observable[_A]],
        op2: Callable[[Flowable[_A]], Observable[_B]],
        op3: Callable[[Flowable[_B]], Observable[_C]],
        op4: Callable[[Flowable[_C]], Observable[_D]],
        op5: Callable[[Flowable[_D]], Observable[_E]],
        op6: Callable[[Flowable[_E]], Observable[_F]],
        op7: Callable[[Flowable[_F]], Observable[_G]],
        op8: Callable[[Flowable[_G]], Observable[_H]],
        /,
    ) -> Flowable[_H]: ...

    def pipe(self, *operators: Callable[[Any], Any]) -> Flowable[Any]:
        """Apply operators left to right, fusing runs of reactivex operators into segments.

        >>> import reactivex.operators as ops
        >>> from rxspike import from_iterable, operators as flow_ops
        >>> flow = from_iterable(range(100)).pipe(
        ...     ops.filter(lambda x: x % 2 == 0),   # }  fused into one push segment
        ...     ops.map(lambda x: x * x),           # }
        ...     flow_ops.take(3),                   # a demand-aware operator
        ... )
        >>> flow.collect()
        [0, 4, 16]
        """
        from ._segment import FlowOperator, fuse

        result: Flowable[Any] = self
        run: list[Callable[[Any], Any]] = []
        for operator in operators:
            if isinstance(operator, FlowOperator):
                if run:
                    result = fuse(*run)(result)
                    run = []
                result = operator(result)
            else:
                run.append(operator)
        if run:
            result = fuse(*run)(result)
        if self.stage_reports and result is not self:
            result.stage_reports = self.stage_reports + result.stage_reports
        return result

    def __aiter__(self) -> FlowIterator[T]:
        """``async for item in flowable``: requests ahead by :data:`DEFAULT_PREFETCH`."""
        return self.iterate()

    def iterate(self, prefetch: int = DEFAULT_PREFETCH) -> FlowIterator[T]:
        """An async iterator that keeps at most ``prefetch`` items requested ahead.

        Leaving the loop (``break``, an exception, task cancellation) cancels the
        subscription, which runs the source's finalizers.
        """
        from ._aiter import FlowIterator

        return FlowIterator(self, prefetch)

    async def acollect(self) -> list[T]:
        """Await every item, in order, as a list (the stream's error is raised)."""
        return [item async for item in self]

    def collect(self) -> list[T]:
        """Subscribe synchronously and return every item; for sources that emit on request.

        Raises the stream's error, and ``RuntimeError`` if the stream did not finish during
        the call (it emits later, from a timer, a thread or an event loop: use ``acollect``).
        """
        items: list[T] = []
        errors: list[Exception] = []
        finished: list[bool] = []
        subscriber = LambdaSubscriber(items.append, errors.append, lambda: finished.append(True))
        self.subscribe_flow(subscriber)
        if errors:
            raise errors[0]
        if not finished:
            subscriber.cancel()
            raise RuntimeError(
                "collect() needs a stream that finishes while it is being subscribed; "
                "this one emits later, so await flowable.acollect() instead"
            )
        return items
