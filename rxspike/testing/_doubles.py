"""Test doubles for the subscriber side: a subscription that records, a publisher you drive."""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from ..core.flowable import Flowable
from ..core.types import Subscriber

T = TypeVar("T")


class ProbeSubscription:
    """A subscription test double: records every ``request`` and ``cancel`` and does nothing.

    ``calls`` holds ``("request", n)`` and ``("cancel", None)`` in order. Hand it to a
    subscriber's ``on_subscribe`` and drive the subscriber's other methods yourself.

    >>> probe = ProbeSubscription()
    >>> probe.request(3); probe.cancel()
    >>> probe.requests, probe.cancelled
    ([3], True)
    """

    __slots__ = ("_lock", "calls")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: Every call in order: ``("request", n)`` or ``("cancel", None)``.
        self.calls: list[tuple[str, int | None]] = []

    def request(self, n: int) -> None:
        with self._lock:
            self.calls.append(("request", n))

    def cancel(self) -> None:
        with self._lock:
            self.calls.append(("cancel", None))

    @property
    def requests(self) -> list[int]:
        """The ``n`` of every ``request(n)``, in order."""
        with self._lock:
            return [n for name, n in self.calls if name == "request" and n is not None]

    @property
    def requested(self) -> int:
        """Total positive demand requested."""
        return sum(n for n in self.requests if n > 0)

    @property
    def cancelled(self) -> bool:
        """``cancel()`` was called at least once."""
        with self._lock:
            return any(name == "cancel" for name, _ in self.calls)

    def __repr__(self) -> str:
        return f"ProbeSubscription(calls={self.calls!r})"


class ManualPublisher(Flowable[T]):
    """A publisher test double that only records its subscribers: your test sends the signals.

    Subscribing does not call ``on_subscribe``; call it yourself, typically with a
    :class:`ProbeSubscription`. Useful to get hold of the subscriber an operator puts
    upstream (a segment's link, ``take``'s subscriber, an async iterator's receiver) and check
    it with :class:`SubscriberVerification`.

    >>> from rxspike.operators import take
    >>> upstream = ManualPublisher()
    >>> downstream = upstream.pipe(take(2)).subscribe(print)
    >>> probe = ProbeSubscription()
    >>> upstream.subscriber.on_subscribe(probe)
    >>> probe.requests
    [2]
    >>> upstream.subscriber.on_next("a")
    a
    """

    def __init__(self) -> None:
        super().__init__(self._record)
        self._lock = threading.Lock()
        #: Every subscriber that subscribed, in order.
        self.subscribers: list[Subscriber[T]] = []

    def _record(self, subscriber: Subscriber[T]) -> None:
        with self._lock:
            self.subscribers.append(subscriber)

    @property
    def subscriber(self) -> Subscriber[Any]:
        """The latest subscriber.

        Raises:
            AssertionError: nobody subscribed yet.
        """
        with self._lock:
            if not self.subscribers:
                raise AssertionError("nobody subscribed to this ManualPublisher yet")
            return self.subscribers[-1]
