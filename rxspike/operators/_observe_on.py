"""``observe_on``: deliver on a scheduler through a bounded queue (RxJava's
FlowableObserveOn: prefetch upstream, replenish 75 % once 75 % went downstream)."""

from __future__ import annotations

from collections import deque
from typing import Any

from reactivex import abc

from ..core import Flowable, MissingBackpressureError, Subscriber, Subscription
from ..core.kit import ACTIVE, DemandLoop, Upstream, WorkLoop


class _ObserveOn(DemandLoop):
    """Every drain runs on the scheduler: the door (``_run``) hands it over instead of
    running it in place, so ``request``, ``cancel`` and upstream's items never call
    downstream on their own thread.

    The queue holds at most ``prefetch`` items: exactly what was requested upstream. Each
    replenishing request is its own scheduled action, so an endless synchronous upstream
    refills the queue between drains instead of inside one, and an event loop gets to run
    other work after every batch.
    """

    __slots__ = (
        "_consumed",
        "_done",
        "_downstream",
        "_emitted",
        "_error",
        "_link",
        "_overflow",
        "_prefetch",
        "_queue",
        "_replenish",
        "_scheduler",
    )

    def __init__(
        self, downstream: Subscriber[Any], scheduler: abc.SchedulerBase, prefetch: int
    ) -> None:
        super().__init__()
        self._downstream: Subscriber[Any] | None = downstream
        self._scheduler = scheduler
        self._prefetch = prefetch
        self._replenish = prefetch - prefetch // 4
        self._queue: deque[Any] = deque()
        self._emitted = 0
        self._consumed = 0
        self._done = False
        #: Upstream's error: delivered after the items queued before it, as reactivex does.
        self._error: Exception | None = None
        #: Upstream broke rule 1.1: signalled at once, ahead of the queue.
        self._overflow: Exception | None = None
        self._link = Upstream(self, f"observe_on(prefetch={prefetch})")

    def _run(self) -> None:
        self._scheduler.schedule(self._run_here)

    def _run_here(self, _scheduler: abc.SchedulerBase, _state: Any = None) -> None:
        WorkLoop._run(self)

    # -- upstream -----------------------------------------------------------------------------

    def _upstream_subscribed(self, subscription: Subscription) -> None:
        subscription.request(self._prefetch)

    def _on_item(self, item: Any) -> None:
        queue = self._queue
        queue.append(item)
        if len(queue) > self._prefetch and self._overflow is None:
            self._overflow = MissingBackpressureError(
                f"upstream of observe_on emitted more than the {self._prefetch} items it was "
                "asked for (Reactive Streams rule 1.1)"
            )
        self._schedule()

    def _upstream_end(self, error: Exception | None) -> None:
        self._error = error
        self._done = True
        self._schedule()

    def _request_more(self, _scheduler: abc.SchedulerBase, n: Any = None) -> None:
        self._link.request(n)

    # -- the drain ------------------------------------------------------------------------------

    def _drain(self) -> None:
        downstream = self._settle()
        if downstream is None:
            return
        queue = self._queue
        emitted, consumed = self._emitted, self._consumed
        while True:
            if self._check_terminated(False, False, self._overflow):
                return
            done = self._done  # read before the queue: the last item comes before done
            if not queue:
                if done:
                    self._end(self._error)
                return
            if emitted == self._requested:
                return
            emitted += 1
            self._emitted = emitted
            try:
                downstream.on_next(queue.popleft())
            except Exception as error:
                self._abandon(error)
                return
            consumed += 1
            if consumed == self._replenish:
                consumed = 0
                self._scheduler.schedule(self._request_more, self._replenish)
            self._consumed = consumed

    def _release(self) -> None:
        self._downstream = None
        self._link.cancel(self._prefetch)
        self._queue.clear()


def observe_on_flowable(
    source: Flowable[Any], scheduler: abc.SchedulerBase, prefetch: int
) -> Flowable[Any]:
    def subscribe(subscriber: Subscriber[Any]) -> None:
        stage = _ObserveOn(subscriber, scheduler, prefetch)
        subscriber.on_subscribe(stage)
        if stage._state is ACTIVE:
            source.subscribe_flow(stage._link)

    return Flowable(subscribe)
