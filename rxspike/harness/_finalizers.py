"""Noticing when each stream's *source* was released: the finalizer probe.

The demo server builds each stream's source with a factory per approach (``pull_source``,
``push_source``, ``async_iterator_source`` in :mod:`rxspike.web.demo`); the handler looks
them up as module globals on every request. The harness's server launcher replaces those
globals with wrappers that hand out the same sources, wrapped so that the moment the source
is released is recorded:

- a Flowable (pull): its subscription was cancelled, or it completed or failed;
- an Observable (the push designs): the disposable of its subscription was disposed, which
  is what stops the producer (cancels its task, or its timer);
- an async generator: it was closed and its ``finally`` ran.

Each release is stamped with wall-clock time and the id of the client whose request built
the source (a context variable the request middleware sets), so the runner can tell per
client how long after the disconnect the source stopped, and whether it stopped at all.
A wrapped source behaves exactly like the original otherwise.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import reactivex
from reactivex import abc
from reactivex.disposable import Disposable

from rxspike.core import Flowable, Subscriber, Subscription

#: The client id of the request being handled (set by the launcher's middleware).
CURRENT_CLIENT: contextvars.ContextVar[str] = contextvars.ContextVar("rxspike_client", default="")


class FinalizerLog:
    """Sources created and released, per client id."""

    def __init__(self) -> None:
        #: client id -> wall time of the source's release (None: created, not yet released).
        self.released: dict[str, float | None] = {}
        #: Sources created without a client id (requests from other tools).
        self.anonymous = 0

    def created(self) -> Callable[[], None]:
        """Record a new source; returns the once-only callback that marks it released."""
        client = CURRENT_CLIENT.get()
        if not client:
            self.anonymous += 1
            return lambda: None
        self.released[client] = None
        done = False

        def release() -> None:
            nonlocal done
            if not done:
                done = True
                self.released[client] = time.time()

        return release


class _ReleasingSubscriber:
    """Passes every signal through; marks the release on cancel or a terminal signal."""

    __slots__ = ("_downstream", "_release")

    def __init__(self, downstream: Subscriber[Any], release: Callable[[], None]) -> None:
        self._downstream = downstream
        self._release = release

    def on_subscribe(self, subscription: Subscription) -> None:
        self._downstream.on_subscribe(_ReleasingSubscription(subscription, self._release))

    def on_next(self, value: Any) -> None:
        self._downstream.on_next(value)

    def on_error(self, error: Exception) -> None:
        self._release()
        self._downstream.on_error(error)

    def on_completed(self) -> None:
        self._release()
        self._downstream.on_completed()


class _ReleasingSubscription:
    __slots__ = ("_release", "_upstream")

    def __init__(self, upstream: Subscription, release: Callable[[], None]) -> None:
        self._upstream = upstream
        self._release = release

    def request(self, n: int) -> None:
        self._upstream.request(n)

    def cancel(self) -> None:
        self._upstream.cancel()
        self._release()


def wrap_flowable_factory(
    factory: Callable[..., Flowable[Any]], log: FinalizerLog
) -> Callable[..., Flowable[Any]]:
    def wrapped(*args: Any, **kwargs: Any) -> Flowable[Any]:
        inner = factory(*args, **kwargs)
        release = log.created()

        def subscribe(subscriber: Subscriber[Any]) -> None:
            inner.subscribe_flow(_ReleasingSubscriber(subscriber, release))

        return Flowable(subscribe)

    return wrapped


def wrap_observable_factory(
    factory: Callable[..., reactivex.Observable[Any]], log: FinalizerLog
) -> Callable[..., reactivex.Observable[Any]]:
    def wrapped(*args: Any, **kwargs: Any) -> reactivex.Observable[Any]:
        inner = factory(*args, **kwargs)
        release = log.created()

        def subscribe(
            observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            subscription = inner.subscribe(observer, scheduler=scheduler)

            def dispose() -> None:
                subscription.dispose()
                release()

            return Disposable(dispose)

        return reactivex.create(subscribe)

    return wrapped


def wrap_async_generator_factory(
    factory: Callable[..., AsyncIterator[Any]], log: FinalizerLog
) -> Callable[..., AsyncIterator[Any]]:
    def wrapped(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        release = log.created()

        async def generator() -> AsyncIterator[Any]:
            try:
                async with contextlib.aclosing(factory(*args, **kwargs)) as inner:  # type: ignore[type-var]
                    async for item in inner:
                        yield item
            finally:
                release()

        return generator()

    return wrapped


#: Demo factories the probe wraps, by kind.
WRAPPERS: dict[str, Callable[[Any, FinalizerLog], Any]] = {
    "pull_source": wrap_flowable_factory,
    "push_source": wrap_observable_factory,
    "async_iterator_source": wrap_async_generator_factory,
}


def install(module: Any, log: FinalizerLog) -> list[str]:
    """Wrap the factories ``module`` has; returns the names wrapped."""
    wrapped = []
    for name, wrap in WRAPPERS.items():
        factory = getattr(module, name, None)
        if callable(factory):
            setattr(module, name, wrap(factory, log))
            wrapped.append(name)
    return wrapped
