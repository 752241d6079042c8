"""Sources that emit only what was requested."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any, Generic, TypeVar

from ._demand import ACTIVE, DemandSubscription
from ._upstream import NO_DEMAND, end_at_once, subscribe_fenced
from .errors import ProtocolViolationError
from .flowable import Flowable
from .types import UNBOUNDED, Subscriber

T = TypeVar("T")
S = TypeVar("S")


#: No item is held back (``_IterableSubscription._ahead``).
_NOTHING: Any = object()


class _IterableSubscription(DemandSubscription[T]):
    """Pulls one item per unit of demand; when demand runs out it looks one item ahead.

    The look-ahead (RxJava's ``hasNext`` after each item in ``fromIterable``) lets a finite
    iterable complete as soon as its last item went out, without waiting for more demand:
    ``from_iterable(range(5))`` with exactly ``request(5)`` completes. The item read ahead is
    kept for the next request. It is taken only when demand is exhausted and the
    subscription still active, so ``take(n)`` (which cancels inside its last ``on_next``)
    makes a generator produce no item that is thrown away.
    """

    __slots__ = ("_ahead", "_iterable", "_iterator")

    def __init__(self, subscriber: Subscriber[T], iterable: Iterable[T]) -> None:
        super().__init__(subscriber)
        self._iterable = iterable
        self._iterator: Iterator[T] | None = None
        self._ahead: Any = _NOTHING

    def _emit(self) -> None:
        subscriber = self._downstream
        if subscriber is None:
            return
        iterator = self._iterator
        if iterator is None:
            try:
                iterator = self._iterator = iter(self._iterable)
            except Exception as error:
                self._end(error)
                return
        on_next = subscriber.on_next
        emitted, requested = self._emitted, self._requested
        if emitted == requested:
            return
        ahead = self._ahead
        if ahead is not _NOTHING:
            self._ahead = _NOTHING
            emitted += 1
            self._emitted = emitted
            on_next(ahead)
            if self._state is not ACTIVE:
                return
            requested = self._requested
        if requested == UNBOUNDED:
            # Unbounded demand cannot shrink: no counting on this path.
            try:
                for item in iterator:
                    try:
                        on_next(item)
                    except Exception as error:  # the subscriber's fault, not the iterator's
                        self._abandon(error)
                        return
                    if self._state is not ACTIVE:
                        return
            except Exception as error:
                self._end(error)
                return
            self._end(None)
            return
        while True:
            if emitted == requested:
                requested = self._requested  # on_next may have asked for more
                if requested == UNBOUNDED:
                    self._emitted = emitted
                    self._emit()
                    return
                if emitted == requested:
                    self._emitted = emitted
                    self._look_ahead(iterator)
                    return
            try:
                item = next(iterator)
            except StopIteration:
                self._end(None)
                return
            except Exception as error:
                self._end(error)
                return
            emitted += 1
            on_next(item)
            if self._state is not ACTIVE:
                return

    def _look_ahead(self, iterator: Iterator[T]) -> None:
        """Demand is used up: complete now if the iterator is exhausted, else keep its next
        item for the next request."""
        try:
            self._ahead = next(iterator)
        except StopIteration:
            self._end(None)
        except Exception as error:
            self._end(error)

    def _free(self) -> None:
        self._ahead = _NOTHING
        iterator, self._iterator = self._iterator, None
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def from_iterable(iterable: Iterable[T]) -> Flowable[T]:
    """Emit the items of ``iterable``, pulling one per unit of demand.

    The iterable is iterated afresh for each subscriber. A sized, empty iterable completes at
    once; one whose last item was requested completes right after it (the iterator is read
    one item ahead when demand runs out, as RxJava's ``fromIterable`` asks ``hasNext``). A
    generator is closed on cancel, so its ``finally`` runs.

    >>> from_iterable("abc").collect()
    ['a', 'b', 'c']
    """

    def subscribe(subscriber: Subscriber[T]) -> None:
        subscription = _IterableSubscription(subscriber, iterable)
        if not subscribe_fenced(subscriber, subscription):
            return
        if isinstance(iterable, Sized) and len(iterable) == 0:
            subscription.request(UNBOUNDED)  # nothing to emit: complete without being asked

    return Flowable(subscribe)


def range_(start: int, stop: int | None = None, step: int = 1) -> Flowable[int]:
    """Emit the integers of ``range(start, stop, step)`` (``range_(n)`` counts from 0).

    >>> range_(3).collect()
    [0, 1, 2]
    >>> range_(10, 0, -4).collect()
    [10, 6, 2]
    """
    numbers = builtins.range(start) if stop is None else builtins.range(start, stop, step)
    return from_iterable(numbers)


def just(*items: T) -> Flowable[T]:
    """Emit the given items, then complete.

    >>> just(1, 2).collect()
    [1, 2]
    """
    return from_iterable(items)


def empty() -> Flowable[Any]:
    """Complete at once, without being asked.

    >>> empty().collect()
    []
    """
    return from_iterable(())


def error(exception: Exception) -> Flowable[Any]:
    """Fail at once with ``exception``, without being asked.

    >>> error(ValueError("boom")).collect()
    Traceback (most recent call last):
    ...
    ValueError: boom
    """

    def subscribe(subscriber: Subscriber[Any]) -> None:
        end_at_once(subscriber, exception)

    return Flowable(subscribe)


def defer(factory: Callable[[], Flowable[T]]) -> Flowable[T]:
    """Call ``factory`` anew for each subscriber and subscribe to the Flowable it returns.

    An exception from ``factory`` fails the stream.

    >>> calls = []
    >>> flow = defer(lambda: just(len(calls)))
    >>> calls.append(1); flow.collect()
    [1]
    """

    def subscribe(subscriber: Subscriber[T]) -> None:
        try:
            source = factory()
            if not isinstance(source, Flowable):
                raise TypeError(f"defer() factory must return a Flowable, got {source!r}")
        except Exception as failure:
            end_at_once(subscriber, failure)
            return
        source.subscribe_flow(subscriber)

    return Flowable(subscribe)


class GenerateSink(Generic[T]):
    """What a :func:`generate` step may signal: one ``next``, or ``complete``, or ``error``."""

    __slots__ = ("_done", "_error", "_item", "_signalled")

    def __init__(self) -> None:
        self._signalled = False
        self._item: Any = None
        self._done = False
        self._error: Exception | None = None

    def next(self, item: T) -> None:
        """Emit ``item``; at most once per step."""
        if self._signalled:
            raise ProtocolViolationError("generate step called next() twice in one step")
        self._signalled = True
        self._item = item

    def complete(self) -> None:
        """End the stream after this step."""
        self._done = True

    def error(self, error: Exception) -> None:
        """Fail the stream after this step."""
        self._error = error


class _GenerateSubscription(DemandSubscription[T], Generic[T, S]):
    __slots__ = ("_cleanup", "_initial", "_started", "_state_value", "_step")

    def __init__(
        self,
        subscriber: Subscriber[T],
        initial: Callable[[], S],
        step: Callable[[S, GenerateSink[T]], S],
        cleanup: Callable[[S], None] | None,
    ) -> None:
        super().__init__(subscriber)
        self._initial = initial
        self._step = step
        self._cleanup = cleanup
        self._started = False
        self._state_value: Any = None

    def _emit(self) -> None:
        subscriber = self._downstream
        if subscriber is None:
            return
        if not self._started:
            try:
                self._state_value = self._initial()
            except Exception as failure:
                self._end(failure)
                return
            self._started = True
        sink: GenerateSink[T] = GenerateSink()
        emitted, requested = self._emitted, self._requested
        while emitted != requested:
            sink._signalled = False
            try:
                self._state_value = self._step(self._state_value, sink)
            except Exception as failure:
                self._end(failure)
                return
            if sink._signalled:
                emitted += 1
                self._emitted = emitted
                item, sink._item = sink._item, None
                subscriber.on_next(item)
            if sink._error is not None:
                self._end(sink._error)
                return
            if sink._done:
                self._end(None)
                return
            if self._state is not ACTIVE:
                return
            if emitted == requested:
                requested = self._requested

    def _free(self) -> None:
        if self._started and self._cleanup is not None:
            self._started = False
            state, self._state_value = self._state_value, None
            self._cleanup(state)


def generate(
    initial: Callable[[], S],
    step: Callable[[S, GenerateSink[T]], S],
    cleanup: Callable[[S], None] | None = None,
) -> Flowable[T]:
    """A stateful source driven by demand (RxJava's ``Flowable.generate``).

    For each subscriber, ``initial()`` makes the state; then, once per requested item,
    ``step(state, sink)`` calls ``sink.next(item)`` (at most once), ``sink.complete()`` or
    ``sink.error(e)``, and returns the next state. ``cleanup(state)`` runs exactly once, after
    completion, failure or cancellation: close files, sockets, cursors there.

    >>> def count(n, sink):
    ...     sink.next(n)
    ...     if n == 2:
    ...         sink.complete()
    ...     return n + 1
    >>> generate(lambda: 0, count, cleanup=lambda n: print("closed at", n)).collect()
    closed at 3
    [0, 1, 2]
    """

    def subscribe(subscriber: Subscriber[T]) -> None:
        subscribe_fenced(subscriber, _GenerateSubscription(subscriber, initial, step, cleanup))

    return Flowable(subscribe)


__all__ = [
    "NO_DEMAND",
    "GenerateSink",
    "defer",
    "empty",
    "error",
    "from_iterable",
    "generate",
    "just",
    "range_",
]
