"""The subscriber a stage puts upstream: it forwards to the stage until cancelled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..core.hooks import report_undeliverable
from ..core.types import Subscription


class LinkedStage(Protocol):
    """What a stage offers its upstream link."""

    def _on_item(self, item: Any) -> None: ...

    def _upstream_subscribed(self, subscription: Subscription) -> None: ...

    def _upstream_end(self, error: Exception | None) -> None: ...


class UpstreamLink:
    """A stage's subscriber upstream. ``cancel()`` detaches it: later signals are ignored
    (an error goes to the undeliverable hook) and the stage can be collected."""

    __slots__ = ("on_next", "stage", "subscription")

    def __init__(self, stage: LinkedStage) -> None:
        self.stage: LinkedStage | None = stage
        self.subscription: Subscription | None = None
        self.on_next: Callable[[Any], None] = stage._on_item

    def on_subscribe(self, subscription: Subscription) -> None:
        stage = self.stage
        if self.subscription is not None or stage is None:
            subscription.cancel()
            return
        self.subscription = subscription
        stage._upstream_subscribed(subscription)

    def on_error(self, error: Exception) -> None:
        stage = self.stage
        if stage is None:
            report_undeliverable(error)
        else:
            stage._upstream_end(error)

    def on_completed(self) -> None:
        stage = self.stage
        if stage is not None:
            stage._upstream_end(None)

    def cancel(self) -> None:
        self.stage = None
        self.on_next = _ignore
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            subscription.cancel()


def _ignore(_: Any) -> None:
    pass
