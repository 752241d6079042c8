"""The life every queueing stage shares: subscribe, link upstream, end, release."""

from __future__ import annotations

from typing import Any

from ._demand import ACTIVE, DemandLoop
from ._upstream import Upstream, end_at_once, subscribe_fenced
from .flowable import Flowable
from .hooks import report_undeliverable
from .stats import StageStats
from .types import UNBOUNDED, Subscriber, Subscription


class LinkedStage(DemandLoop):
    """A stage between one upstream Flowable and one subscriber, with an :class:`Upstream`
    link in front of it (``batch``, ``throttle``'s shaper).

    :meth:`start` runs :meth:`_prepare` (whatever may fail the stream before it started,
    such as resolving a clock: it then ends at once), hands the subscriber this
    subscription, and subscribes the link. :meth:`_upstream_end` records upstream's end
    (``_done``, ``_error``) for the drain; a late one goes to the hook. :meth:`_release`
    detaches the link (``_in_flight()`` items may still come), drops the subscriber and the
    signalled error (its traceback would keep the subscriber's frames alive), then calls
    :meth:`_free`. Subclasses write ``_on_item``, ``_drain`` and ``statistics``.
    """

    __slots__ = (
        "_delivered",
        "_done",
        "_downstream",
        "_dropped",
        "_error",
        "_high_water",
        "_link",
        "_received",
        "_source",
        "_where",
    )

    def __init__(self, downstream: Subscriber[Any], source: Flowable[Any], where: str) -> None:
        super().__init__()
        self._downstream: Subscriber[Any] | None = downstream
        self._source: Flowable[Any] | None = source
        self._where = where
        self._link: Upstream | None = None
        #: Upstream ended (completed or failed).
        self._done = False
        #: The error to signal at once: upstream's, a callback's, or a rule broken upstream.
        self._error: Exception | None = None
        self._received = 0
        self._delivered = 0
        self._dropped = 0
        self._high_water = 0

    def start(self) -> None:
        downstream, source = self._downstream, self._source
        self._source = None
        if downstream is None or source is None:
            return
        try:
            self._prepare()
        except Exception as error:
            self._downstream = None
            end_at_once(downstream, error)
            return
        if not subscribe_fenced(downstream, self) or self._state is not ACTIVE:
            return
        link = self._link = Upstream(self, self._where)
        source.subscribe_flow(link)

    def _prepare(self) -> None:
        """Before the subscriber is subscribed: raise to end the stream at once."""

    # -- UpstreamStage ---------------------------------------------------------------------

    def _on_item(self, item: Any) -> object:
        """One item from upstream (the subclass's job)."""
        raise NotImplementedError

    def _upstream_subscribed(self, subscription: Subscription) -> None:
        self._schedule()  # the drain makes the first request

    def _upstream_end(self, error: Exception | None) -> None:
        run = False
        with self._lock:
            if self._done or self._state is not ACTIVE:
                late = error
            else:
                late = None
                self._done = True
                if error is not None and self._error is None:
                    self._error = error
                run = self._enter_locked()
        if late is not None:
            report_undeliverable(late)
        elif run:
            self._run()

    # -- ending ------------------------------------------------------------------------------

    def _release(self) -> None:
        self._downstream = None
        self._error = None
        link, self._link = self._link, None
        if link is not None:
            link.cancel(self._in_flight())
        self._free()

    def _in_flight(self) -> int:
        """Items asked for upstream and not yet received (allowed after cancel)."""
        return UNBOUNDED

    def _free(self) -> None:
        """Drop timers and held items; runs once, inside :meth:`_release`."""

    def _snapshot(
        self,
        *,
        buffered: int,
        capacity: int,
        served: int,
        buffered_cost: int = 0,
        max_cost: int | None = None,
    ) -> StageStats:
        """The stage's :class:`StageStats`; call with ``_lock`` held. ``served``: what
        counts against downstream demand (items, or batches for ``batch``)."""
        requested = self._requested
        return StageStats(
            buffered=buffered,
            capacity=capacity,
            requested=requested if requested == UNBOUNDED else requested - served,
            delivered=self._delivered,
            dropped=self._dropped,
            high_water=self._high_water,
            received=self._received,
            buffered_cost=buffered_cost,
            max_cost=max_cost,
        )
