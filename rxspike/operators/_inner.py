"""Inner sources of flat_map, concat_map and merge, normalised once to a Flowable."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

import reactivex
from reactivex import abc
from reactivex.scheduler import CurrentThreadScheduler

from ..core import Flowable, Subscriber, from_async_iterable, from_iterable


def as_flowable(source: object, what: str) -> tuple[Flowable[Any], bool]:
    """``source`` as a Flowable, and whether it pushes regardless of demand.

    A Flowable as it is; an iterable or async iterable pulled on demand; a reactivex
    Observable pushed (the inner subscriber bounds what it may push ahead).

    Raises:
        TypeError: ``source`` is none of these; the message says what ``what`` returned.
    """
    if isinstance(source, Flowable):
        return source, False
    if isinstance(source, reactivex.Observable):
        return _pushed(source), True
    if isinstance(source, AsyncIterable):
        return from_async_iterable(source), False
    if isinstance(source, Iterable) and not isinstance(source, str | bytes):
        return from_iterable(source), False
    raise TypeError(
        f"{what} must be a Flowable, a reactivex Observable, an iterable or an async "
        f"iterable, got {type(source).__name__}"
    )


class _Disposer:
    """The subscription of a pushed Observable: ``request`` cannot slow it down."""

    __slots__ = ("cancelled", "disposable")

    def __init__(self) -> None:
        self.disposable: abc.DisposableBase | None = None
        self.cancelled = False

    def request(self, n: int) -> None:
        pass

    def cancel(self) -> None:
        self.cancelled = True
        disposable, self.disposable = self.disposable, None
        if disposable is not None:
            disposable.dispose()


_TRAMPOLINE = CurrentThreadScheduler.singleton()


def _pushed(observable: reactivex.Observable[Any]) -> Flowable[Any]:
    """An Observable that ignores demand; the inner subscriber fails the stream with
    MissingBackpressureError when it pushes more than the inner's prefetch ahead.

    It subscribes inside reactivex's trampoline, so a synchronous Observable
    (``from_iterable``, ``of``) emits only after its disposable is known: cancelling then
    stops it between items, even when it is endless.
    """

    def subscribe(subscriber: Subscriber[Any]) -> None:
        disposer = _Disposer()
        subscriber.on_subscribe(disposer)

        def connect(_: abc.SchedulerBase, __: Any = None) -> None:
            disposable = observable.subscribe(
                subscriber.on_next, subscriber.on_error, subscriber.on_completed
            )
            if disposer.cancelled:
                disposable.dispose()
            else:
                disposer.disposable = disposable

        _TRAMPOLINE.schedule(connect)

    return Flowable(subscribe)
