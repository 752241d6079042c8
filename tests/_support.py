"""Small helpers for the core tests: a source that records what it was asked for."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rxspike import Flowable, Subscriber, Subscription


@dataclass
class Spy:
    """What a :func:`spy` source saw: requests, cancels, and whether its finalizer ran."""

    requests: list[int] = field(default_factory=list)
    cancels: int = 0
    emitted: int = 0
    finalized: int = 0


def spy(flow: Flowable[Any]) -> tuple[Flowable[Any], Spy]:
    """Wrap ``flow`` so every request and cancel from downstream is recorded."""
    seen = Spy()

    class _Recorder:
        def __init__(self, downstream: Subscriber[Any]) -> None:
            self.downstream = downstream
            self.upstream: Subscription | None = None

        def on_subscribe(self, subscription: Subscription) -> None:
            self.upstream = subscription
            self.downstream.on_subscribe(self)

        def on_next(self, item: Any) -> None:
            seen.emitted += 1
            self.downstream.on_next(item)

        def on_error(self, error: Exception) -> None:
            self.downstream.on_error(error)

        def on_completed(self) -> None:
            self.downstream.on_completed()

        def request(self, n: int) -> None:
            seen.requests.append(n)
            assert self.upstream is not None
            self.upstream.request(n)

        def cancel(self) -> None:
            seen.cancels += 1
            assert self.upstream is not None
            self.upstream.cancel()

    return Flowable(lambda subscriber: flow.subscribe_flow(_Recorder(subscriber))), seen


def counting(seen: Spy, count: int | None = None) -> Iterator[int]:
    """A generator that counts its finalizer runs into ``seen``."""
    try:
        n = 0
        while count is None or n < count:
            yield n
            n += 1
    finally:
        seen.finalized += 1


class Overlap:
    """Detects signals that overlap in time (Reactive Streams rule 1.3)."""

    def __init__(self) -> None:
        self._inside = threading.Lock()
        self.overlaps = 0

    @contextlib.contextmanager
    def signal(self) -> Iterator[None]:
        if not self._inside.acquire(blocking=False):
            self.overlaps += 1
            yield
            return
        try:
            yield
        finally:
            self._inside.release()
