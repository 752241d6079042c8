"""``delay``: each item ``duration`` later, with upstream asked for exactly what downstream
asked for (RxJava's Flowable.delay leaves demand to the source the same way)."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from typing import Any

from reactivex import abc

from ..core import UNBOUNDED, Flowable, Subscriber, Subscription
from ..core.kit import ACTIVE, DemandLoop, Upstream


class _Delay(DemandLoop):
    """Items wait in ``_pending`` with their due time, in arrival order; one timer at a time
    (for the oldest) moves the due ones to ``_ready``, so order holds on any scheduler.

    Upstream has been asked for ``_asked`` items, never more than downstream requested, so
    pending plus ready never exceeds the demand. Completion is delayed like the items; an
    error is signalled at once (reactivex and RxJava do the same).
    """

    __slots__ = (
        "_armed",
        "_asked",
        "_done",
        "_downstream",
        "_duration",
        "_emitted",
        "_error",
        "_link",
        "_pending",
        "_ready",
        "_scheduler",
        "_subscription",
        "_timer",
    )

    def __init__(
        self, downstream: Subscriber[Any], duration: timedelta, scheduler: abc.SchedulerBase
    ) -> None:
        super().__init__()
        self._downstream: Subscriber[Any] | None = downstream
        self._duration = duration
        self._scheduler = scheduler
        self._pending: deque[tuple[datetime, Any]] = deque()
        self._ready: deque[Any] = deque()
        self._emitted = 0
        self._asked = 0
        self._done = False
        self._error: Exception | None = None
        #: A timer is set for the oldest pending item (set before it is scheduled, so a
        #: timer that fires at once cannot be mistaken for one still to come).
        self._armed = False
        #: The latest timer, for release to dispose.
        self._timer: abc.DisposableBase | None = None
        self._subscription: Subscription | None = None
        self._link = Upstream(self, f"delay({duration.total_seconds():g} s)")

    # -- upstream -----------------------------------------------------------------------------

    def _upstream_subscribed(self, subscription: Subscription) -> None:
        self._subscription = subscription
        self._schedule()  # the drain asks for what downstream asked so far

    def _on_item(self, item: Any) -> None:
        due = self._scheduler.now + self._duration
        with self._lock:
            pending = self._pending
            pending.append((due, item))
            arm = not self._armed
            self._armed = True
        if arm:
            self._arm(self._duration)

    def _upstream_end(self, error: Exception | None) -> None:
        if error is not None:
            self._error = error
        self._done = True
        self._schedule()

    # -- the timer ------------------------------------------------------------------------------

    def _arm(self, wait: timedelta) -> None:
        timer = self._scheduler.schedule_relative(max(wait, timedelta(0)), self._fire)
        with self._lock:
            if self._state is ACTIVE:
                self._timer = timer
                return
        timer.dispose()

    def _fire(self, _scheduler: abc.SchedulerBase, _state: Any = None) -> None:
        now = self._scheduler.now
        with self._lock:
            pending, ready = self._pending, self._ready
            while pending and pending[0][0] <= now:
                ready.append(pending.popleft()[1])
            wait = pending[0][0] - now if pending else None
            self._armed = wait is not None
        if wait is not None:
            self._arm(wait)
        self._schedule()

    # -- the drain ------------------------------------------------------------------------------

    def _drain(self) -> None:
        downstream = self._settle()
        if downstream is None:
            return
        if self._check_terminated(False, False, self._error):
            return
        requested = self._requested
        if self._asked != requested and self._subscription is not None:
            more = requested - self._asked
            self._asked = requested
            self._link.request(more)
        ready = self._ready
        while ready and self._emitted != self._requested:
            self._emitted += 1
            try:
                downstream.on_next(ready.popleft())
            except Exception as error:
                self._abandon(error)
                return
            if self._check_terminated(False, False, self._error):
                return
        with self._lock:
            idle = not self._pending and not ready
        self._check_terminated(self._done, idle, None)

    def _release(self) -> None:
        self._downstream = None
        with self._lock:
            held = len(self._pending) + len(self._ready)
        asked = self._asked
        self._link.cancel(asked if asked >= UNBOUNDED else asked - self._emitted - held)
        with self._lock:
            timer, self._timer = self._timer, None
            self._pending.clear()
            self._ready.clear()
        if timer is not None:
            timer.dispose()


def delay_flowable(
    source: Flowable[Any], duration: timedelta, scheduler: abc.SchedulerBase
) -> Flowable[Any]:
    def subscribe(subscriber: Subscriber[Any]) -> None:
        stage = _Delay(subscriber, duration, scheduler)
        subscriber.on_subscribe(stage)
        if stage._state is ACTIVE:
            source.subscribe_flow(stage._link)

    return Flowable(subscribe)
