"""The segment's subscriber upstream: it guards the operators against a rule-breaking publisher."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import ProtocolViolationError
from .hooks import report_undeliverable
from .types import UNBOUNDED, Subscription

if TYPE_CHECKING:
    from ._segment_runs import SegmentRun


class SegmentLink:
    """The segment's subscriber upstream; one per time the operators subscribe the inlet.

    Once upstream ended, or the link was cancelled, ``on_next`` is swapped for one that drops
    items, so a publisher that breaks the rules cannot push them into the operators or the
    dead segment's queue. It reports, once each, to the undeliverable hook: items after
    ``on_completed`` / ``on_error`` (rule 1.7) and items after ``cancel()`` beyond the
    demand still outstanding at that moment (rules 1.1, 3.12); items within that demand were
    legitimately in flight (rule 2.8) and are dropped quietly. A second terminal signal is
    reported too.
    """

    __slots__ = ("ended", "in_flight", "on_next", "reported", "segment", "subscription")

    def __init__(self, segment: SegmentRun, on_next: Callable[[Any], None]) -> None:
        self.segment = segment
        self.subscription: Subscription | None = None
        # In the direct (unbounded) mode this is the first operator's observer itself.
        self.on_next = on_next
        #: The upstream's terminal signal, once it came.
        self.ended: str | None = None
        #: After cancel(): how many more items upstream may still deliver.
        self.in_flight = UNBOUNDED
        #: A late item was reported already.
        self.reported = False

    def on_subscribe(self, subscription: Subscription) -> None:
        if self.subscription is not None:
            subscription.cancel()
            report_undeliverable(
                ProtocolViolationError("upstream called on_subscribe twice (rule 2.5)")
            )
            return
        self.subscription = subscription
        self.segment.link_subscribed(self, subscription)

    def on_error(self, error: Exception) -> None:
        if self._end("on_error", error):
            self.segment.upstream_terminated(self, error)

    def on_completed(self) -> None:
        if self._end("on_completed", None):
            self.segment.upstream_terminated(self, None)

    def cancel(self, in_flight: int = UNBOUNDED) -> None:
        """Cancel upstream, which may still deliver ``in_flight`` items; idempotent.

        After upstream ended its subscription counts as cancelled already (rules 1.6, 2.4):
        it is not called again, least of all from inside its on_completed (rule 2.3).
        """
        subscription, self.subscription = self.subscription, None
        if subscription is not None and self.ended is None:
            self.in_flight = in_flight
            self.on_next = self._next_after_cancel  # before cancel(): it may emit inside
            subscription.cancel()

    def _end(self, signal: str, error: Exception | None) -> bool:
        """Record upstream's terminal signal; False (and reported) if one came before."""
        ended = self.ended
        if ended is None:
            self.ended = signal
            self.on_next = self._next_after_end
            return True
        violation = ProtocolViolationError(
            f"upstream of segment [{self.segment.plan.names}] called {signal} after {ended} "
            "(Reactive Streams rule 1.7)"
        )
        violation.__cause__ = error
        report_undeliverable(violation)
        return False

    def _next_after_end(self, item: Any) -> None:
        if not self.reported:
            self.reported = True
            report_undeliverable(
                ProtocolViolationError(
                    f"upstream of segment [{self.segment.plan.names}] called on_next after "
                    f"{self.ended} (Reactive Streams rule 1.7); late items are dropped"
                )
            )

    def _next_after_cancel(self, item: Any) -> None:
        in_flight = self.in_flight - 1
        self.in_flight = in_flight
        if in_flight < 0 and not self.reported:
            self.reported = True
            report_undeliverable(
                ProtocolViolationError(
                    f"upstream of segment [{self.segment.plan.names}] kept emitting after "
                    "cancel(), beyond the items it had been asked for (Reactive Streams "
                    "rules 1.1, 3.12); the extra items are dropped"
                )
            )
