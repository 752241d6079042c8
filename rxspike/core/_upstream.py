"""The one subscriber a stage puts upstream, and the rule-2.5 check every subscriber shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from .errors import ProtocolViolationError
from .hooks import report_undeliverable
from .types import UNBOUNDED, Subscriber, Subscription


class _NoDemand:
    """The subscription of a stream that ends before anyone could ask for anything."""

    __slots__ = ()

    def request(self, n: int) -> None:
        pass

    def cancel(self) -> None:
        pass


NO_DEMAND: Subscription = _NoDemand()


def validate_subscription(current: Subscription | None, incoming: Subscription, where: str) -> bool:
    """RxJava's ``SubscriptionHelper.validate``: may ``incoming`` become the subscription?

    True when there is none yet. Otherwise ``incoming`` is cancelled and the second
    ``on_subscribe`` is reported to the undeliverable hook (Reactive Streams rule 2.5).
    """
    if current is None:
        return True
    incoming.cancel()
    report_undeliverable(
        ProtocolViolationError(
            f"{where}: on_subscribe called a second time; the second subscription was "
            "cancelled (Reactive Streams rule 2.5)"
        )
    )
    return False


def subscribe_fenced(subscriber: Subscriber[Any], subscription: Subscription) -> bool:
    """Call ``subscriber.on_subscribe(subscription)``; False if it raised.

    Rule 2.13: a subscriber whose ``on_subscribe`` raised has exactly that one subscription,
    and it counts as cancelled: it is cancelled here and the error goes to the undeliverable
    hook (the subscriber is broken, so it is not called again, not even ``on_error``).
    """
    try:
        subscriber.on_subscribe(subscription)
    except Exception as error:
        subscription.cancel()
        report_undeliverable(error)
        return False
    return True


def signal_end(subscriber: Subscriber[Any], error: Exception | None) -> None:
    """The terminal signal, fenced: ``on_error(error)`` (``on_completed`` for None); what the
    subscriber raises from it goes to the hook, never into the producer (rule 2.13)."""
    try:
        if error is None:
            subscriber.on_completed()
        else:
            subscriber.on_error(error)
    except Exception as late:
        report_undeliverable(late)


def end_at_once(subscriber: Subscriber[Any], error: Exception | None) -> None:
    """End a stream before anyone could ask: ``on_subscribe(NO_DEMAND)``, then ``on_error``
    (or ``on_completed`` for None), each fenced: what they raise goes to the hook."""
    if not subscribe_fenced(subscriber, NO_DEMAND):
        if error is not None:
            report_undeliverable(error)
        return
    signal_end(subscriber, error)


class UpstreamStage(Protocol):
    """What a stage offers the :class:`Upstream` subscriber it puts in front of itself."""

    def _on_item(self, item: Any) -> object:
        """One item from upstream; called serially, any thread. What it returns is unused."""

    def _upstream_subscribed(self, subscription: Subscription) -> None:
        """Upstream's subscription arrived (the stage typically makes its first request)."""

    def _upstream_end(self, error: Exception | None) -> None:
        """Upstream completed (``None``) or failed; called at most once."""


class Upstream:
    """A stage's subscriber upstream, with the protocol bookkeeping written once.

    - Rule 2.5: a second ``on_subscribe`` is cancelled and reported
      (:func:`validate_subscription`); a subscription arriving after :meth:`cancel` is
      cancelled at once.
    - Late signals: after upstream's terminal signal, or after :meth:`cancel`, ``on_next`` is
      swapped for a function that drops items. Items after a terminal signal (rule 1.7),
      and items after ``cancel()`` beyond the demand still outstanding then (rules 1.1, 3.12),
      are reported to the undeliverable hook, once; items within that demand were in flight
      (rule 2.8) and are dropped quietly. A second terminal signal, and an error after
      ``cancel()``, are reported too.
    - Retention: :meth:`cancel` and the terminal signal drop the reference to the stage, so
      a finished stage (and its subscriber) can be collected while upstream lingers.

    ``on_next`` is an attribute: the stage's ``_on_item`` itself, one call per item.
    """

    __slots__ = ("ended", "in_flight", "on_next", "reported", "stage", "subscription", "where")

    def __init__(self, stage: UpstreamStage, where: str) -> None:
        self.stage: UpstreamStage | None = stage
        self.where = where
        self.subscription: Subscription | None = None
        self.on_next = cast(Callable[[Any], None], stage._on_item)
        #: Upstream's terminal signal, once it came.
        self.ended: str | None = None
        #: After cancel(): how many more items upstream may still deliver.
        self.in_flight = UNBOUNDED
        #: A late item was reported already.
        self.reported = False

    # -- Subscriber --------------------------------------------------------------------------

    def on_subscribe(self, subscription: Subscription) -> None:
        if not validate_subscription(self.subscription, subscription, f"upstream of {self.where}"):
            return
        stage = self.stage
        if stage is None or self.ended is not None:  # cancelled before upstream subscribed
            subscription.cancel()
            return
        self.subscription = subscription
        stage._upstream_subscribed(subscription)

    def on_error(self, error: Exception) -> None:
        stage = self._end("on_error", error)
        if stage is not None:
            stage._upstream_end(error)

    def on_completed(self) -> None:
        stage = self._end("on_completed", None)
        if stage is not None:
            stage._upstream_end(None)

    # -- the stage's side --------------------------------------------------------------------

    def request(self, n: int) -> None:
        """Ask upstream for ``n`` more (a positive int); a no-op once detached."""
        subscription = self.subscription
        if subscription is not None:
            subscription.request(n)

    def cancel(self, in_flight: int = UNBOUNDED) -> None:
        """Detach: cancel upstream once, drop the stage; idempotent, synchronous.

        ``in_flight``: how many items upstream may still deliver (asked for, not received);
        more than that is reported. After upstream ended, its subscription counts as
        cancelled already (rules 1.6, 2.4) and is not called again, least of all from inside
        its own ``on_completed`` (rule 2.3).
        """
        self.stage = None
        subscription, self.subscription = self.subscription, None
        if self.ended is None and self.on_next != self._next_after_cancel:
            self.in_flight = in_flight
            self.on_next = self._next_after_cancel  # before cancel(): it may emit inside
            if subscription is not None:
                subscription.cancel()

    # -- late signals ------------------------------------------------------------------------

    def late(self, item: Any) -> None:
        """An item the stage got after its end, through an ``on_next`` upstream had looked
        up before the end: accounted as the swapped-in ``on_next`` would."""
        if self.ended is not None:
            self._next_after_end(item)
        else:
            self._next_after_cancel(item)

    def _end(self, signal: str, error: Exception | None) -> UpstreamStage | None:
        """Record upstream's terminal signal; the stage to tell, if it is still attached."""
        ended = self.ended
        if ended is not None:
            violation = ProtocolViolationError(
                f"upstream of {self.where} called {signal} after {ended} "
                "(Reactive Streams rule 1.7)"
            )
            violation.__cause__ = error
            report_undeliverable(violation)
            return None
        self.ended = signal
        self.on_next = self._next_after_end
        self.subscription = None
        stage, self.stage = self.stage, None
        if stage is None and error is not None:  # cancelled: nobody can receive it
            report_undeliverable(error)
        return stage

    def _next_after_end(self, item: Any) -> None:
        self._report(f"called on_next after {self.ended} (Reactive Streams rule 1.7)")

    def _next_after_cancel(self, item: Any) -> None:
        if self.in_flight == UNBOUNDED:
            return
        self.in_flight -= 1
        if self.in_flight < 0:
            self._report(
                "kept emitting after cancel(), beyond the items it had been asked for "
                "(Reactive Streams rules 1.1, 3.12)"
            )

    def _report(self, problem: str) -> None:
        if not self.reported:
            self.reported = True
            report_undeliverable(
                ProtocolViolationError(
                    f"upstream of {self.where} {problem}; late items are dropped"
                )
            )
