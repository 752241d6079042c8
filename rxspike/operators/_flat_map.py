"""``flat_map``, ``concat_map`` and ``merge``: inner sources under demand (RxJava's
FlowableFlatMap): at most ``max_concurrency`` inners at a time, ``prefetch`` per inner."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from ..core import (
    Flowable,
    MissingBackpressureError,
    Subscriber,
    Subscription,
    report_undeliverable,
)
from ..core.kit import ACTIVE, DemandLoop, Upstream
from ._inner import as_flowable


class _Inner:
    """One inner source: its queue (at most ``prefetch``), done flag and replenishing."""

    __slots__ = ("consumed", "done", "link", "parent", "pushes", "queue")

    def __init__(self, parent: _FlatMap, pushes: bool) -> None:
        self.parent = parent
        self.pushes = pushes
        self.queue: deque[Any] = deque()
        #: Upstream ended; read before the queue (the last item is queued before it is set).
        self.done = False
        self.consumed = 0
        self.link = Upstream(self, f"inner source of {parent.name}")

    # -- what the inner's Upstream calls ------------------------------------------------------

    def _on_item(self, item: Any) -> None:
        queue = self.queue
        queue.append(item)
        if len(queue) > self.parent.prefetch:
            self.parent._overflowed(self)
        self.parent._schedule()

    def _upstream_subscribed(self, subscription: Subscription) -> None:
        subscription.request(self.parent.prefetch)

    def _upstream_end(self, error: Exception | None) -> None:
        if error is not None:
            self.parent._failed(error)
        else:
            self.done = True
            self.parent._schedule()


class _FlatMap(DemandLoop):
    """Subscribes up to ``max_concurrency`` inners, each asked for ``prefetch`` items and for
    75 % more once 75 % of those went downstream; delivers from them while downstream asks.

    The first error, outer or inner, ends the stream at once and cancels everything.
    Completion comes when the outer source and every inner completed and all was delivered.
    """

    __slots__ = (
        "_downstream",
        "_emitted",
        "_error",
        "_inners",
        "_mapper",
        "_outer",
        "_outer_done",
        "_replenish",
        "max_concurrency",
        "name",
        "prefetch",
    )

    def __init__(
        self,
        downstream: Subscriber[Any],
        mapper: Callable[[Any], Any],
        max_concurrency: int,
        prefetch: int,
        name: str,
    ) -> None:
        super().__init__()
        self._downstream: Subscriber[Any] | None = downstream
        self._mapper = mapper
        self.max_concurrency = max_concurrency
        self.prefetch = prefetch
        self.name = name
        self._replenish = prefetch - prefetch // 4
        self._emitted = 0
        self._inners: list[_Inner] = []
        self._outer = Upstream(self, name)
        self._outer_done = False
        self._error: Exception | None = None

    # -- the outer source ---------------------------------------------------------------------

    def _upstream_subscribed(self, subscription: Subscription) -> None:
        subscription.request(self.max_concurrency)

    def _on_item(self, item: Any) -> None:
        try:
            inner_source, pushes = as_flowable(self._mapper(item), f"{self.name}: fn(item)")
        except Exception as error:  # the user's function raised or returned a wrong type
            self._failed(error)
            return
        inner = _Inner(self, pushes)
        with self._lock:
            self._inners.append(inner)
        inner_source.subscribe_flow(inner.link)

    def _upstream_end(self, error: Exception | None) -> None:
        if error is not None:
            self._failed(error)
        else:
            self._outer_done = True
            self._schedule()

    # -- signals --------------------------------------------------------------------------------

    def _failed(self, error: Exception) -> None:
        with self._lock:
            first = self._error is None
            if first:
                self._error = error
        if not first:  # a second failure while the first one ends the stream
            report_undeliverable(error)
        self._schedule()

    def _overflowed(self, inner: _Inner) -> None:
        advice = (
            "a reactivex Observable cannot be asked to wait: give it a bound with "
            "rxspike.from_observable(observable, capacity, overflow)"
            if inner.pushes
            else "it broke Reactive Streams rule 1.1"
        )
        self._failed(
            MissingBackpressureError(
                f"{self.name}: an inner source emitted more than the {self.prefetch} items "
                f"it was asked for; {advice}"
            )
        )

    # -- the drain ------------------------------------------------------------------------------

    def _drain(self) -> None:
        downstream = self._settle()
        if downstream is None:
            return
        while True:
            if self._check_terminated(False, False, self._error):
                return
            emitted, requested = self._emitted, self._requested
            progressed = False
            for inner in list(self._inners):
                queue = inner.queue
                while emitted != requested and queue:
                    emitted += 1
                    self._emitted = emitted
                    try:
                        downstream.on_next(queue.popleft())
                    except Exception as error:
                        self._abandon(error)
                        return
                    if self._state is not ACTIVE or self._error is not None:
                        break
                    progressed = True
                    inner.consumed += 1
                    if inner.consumed == self._replenish:
                        inner.consumed = 0
                        inner.link.request(self._replenish)
                    requested = self._requested
                done = inner.done
                if done and not queue:
                    with self._lock:
                        self._inners.remove(inner)
                    self._outer.request(1)
                    progressed = True
            if self._check_terminated(self._outer_done and not self._inners, True, self._error):
                return
            if not progressed:
                return

    def _release(self) -> None:
        self._downstream = None
        self._outer.cancel()
        with self._lock:
            inners, self._inners = self._inners, []
        for inner in inners:
            inner.link.cancel(inner.parent.prefetch)
            inner.queue.clear()


def flat_map_flowable(
    source: Flowable[Any],
    mapper: Callable[[Any], Any],
    max_concurrency: int,
    prefetch: int,
    name: str,
) -> Flowable[Any]:
    """``source`` with each item replaced by the items of ``mapper(item)``, under demand."""

    def subscribe(subscriber: Subscriber[Any]) -> None:
        stage = _FlatMap(subscriber, mapper, max_concurrency, prefetch, name)
        subscriber.on_subscribe(stage)
        if stage._state is ACTIVE:
            source.subscribe_flow(stage._outer)

    return Flowable(subscribe)
