"""Noticing when each stream's *source* was released: the finalizer probe.

The demo application builds each stream's source with the factories it was given
(:class:`rxspike.demo.Sources`: ``pull``, ``push``, ``async_iterator``). The harness's server
launcher hands it wrappers of the demo's own factories (:func:`wrap_sources`) that return the
same sources, wrapped so that the moment the source is released is recorded:

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
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import reactivex
from reactivex import abc
from reactivex.disposable import Disposable

from rxspike.core import Flowable, Subscriber, Subscription
from rxspike.demo import Sources

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


def wrap_sources(sources: Sources, log: FinalizerLog) -> Sources:
    """``sources`` with each factory wrapped to record its sources' release in ``log``."""
    return dataclasses.replace(
        sources,
        pull=wrap_flowable_factory(sources.pull, log),
        push=wrap_observable_factory(sources.push, log),
        async_iterator=wrap_async_generator_factory(sources.async_iterator, log),
    )


#: The factories :func:`wrap_sources` wraps (the names ``/_harness/requests`` reports).
WRAPPED = ("pull", "push", "async_iterator")
