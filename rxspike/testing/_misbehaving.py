"""``MisbehavingPublisher``: a test double that breaks one Reactive Streams rule on purpose."""

from __future__ import annotations

import enum
import threading

from ..core.errors import InvalidDemandError
from ..core.flowable import Flowable
from ..core.kit import WorkLoop
from ..core.types import UNBOUNDED, Subscriber


class Misbehaviour(enum.Enum):
    """Which rule a :class:`MisbehavingPublisher` breaks."""

    #: Answers every ``request(n)`` with up to ``n + excess`` items (rule 1.1).
    EXCESS_ITEMS = "excess_items"
    #: After ``on_completed`` it calls ``on_next``, ``on_completed`` and ``on_error`` once
    #: each (rule 1.7).
    SIGNALS_AFTER_TERMINAL = "signals_after_terminal"
    #: ``cancel()`` is counted and otherwise ignored: the publisher keeps its subscriber,
    #: serves later requests, and at once sends ``excess`` items that nobody requested, as a
    #: runaway producer would (rules 3.12, 3.13, 1.1).
    IGNORES_CANCEL = "ignores_cancel"


class MisbehavingPublisher(Flowable[int]):
    """A publisher of ``0, 1, ..., size - 1`` that breaks one rule; a test double.

    Use it to check that a consumer turns a broken publisher into a clear error instead of
    growing without bound or hanging. Apart from its :class:`Misbehaviour` it keeps the
    rules: it emits from inside ``request`` with a trampoline (bounded recursion), answers
    ``request(n <= 0)`` with ``on_error(InvalidDemandError)``, and completes after the last
    item. It never emits more than ``size`` items in all, so a test using it cannot hang.

    ``requests`` (every ``n`` asked for), ``cancels`` and ``emitted`` count what all its
    subscriptions saw.

    >>> from rxspike.testing import TestSubscriber
    >>> publisher = MisbehavingPublisher(Misbehaviour.EXCESS_ITEMS, size=10, excess=2)
    >>> subscriber = TestSubscriber(initial_request=1)
    >>> _ = publisher.subscribe(subscriber)
    >>> subscriber.values
    [0, 1, 2]
    >>> subscriber.violations[0].rule
    '1.1'
    """

    def __init__(self, misbehaviour: Misbehaviour, size: int = 10, *, excess: int = 5) -> None:
        if size < 0 or excess < 0:
            raise ValueError(f"size and excess must be >= 0, got {size!r} and {excess!r}")
        super().__init__(self._subscribe_rogue)
        self.misbehaviour = misbehaviour
        self.size = size
        self.excess = excess
        self._lock = threading.Lock()
        #: The ``n`` of every ``request(n)`` any subscriber made, in order.
        self.requests: list[int] = []
        #: How many times ``cancel()`` was called.
        self.cancels = 0
        #: How many items were emitted in all.
        self.emitted = 0

    def _subscribe_rogue(self, subscriber: Subscriber[int]) -> None:
        subscriber.on_subscribe(_RogueSubscription(self, subscriber))

    def __repr__(self) -> str:
        return (
            f"MisbehavingPublisher({self.misbehaviour.name}, size={self.size}, "
            f"excess={self.excess}, requests={self.requests}, cancels={self.cancels}, "
            f"emitted={self.emitted})"
        )


class _RogueSubscription(WorkLoop):
    __slots__ = (
        "_bad",
        "_cancelled",
        "_done",
        "_next",
        "_outstanding",
        "_publisher",
        "_subscriber",
    )

    def __init__(self, publisher: MisbehavingPublisher, subscriber: Subscriber[int]) -> None:
        super().__init__()
        self._publisher = publisher
        self._subscriber: Subscriber[int] | None = subscriber
        self._outstanding = 0
        self._next = 0
        self._cancelled = False
        self._done = False
        self._bad: int | None = None

    def request(self, n: int) -> None:
        publisher = self._publisher
        with publisher._lock:
            publisher.requests.append(n)
        with self._lock:
            if n <= 0:
                self._bad = n
            else:
                if publisher.misbehaviour is Misbehaviour.EXCESS_ITEMS:
                    n += publisher.excess
                self._outstanding = min(UNBOUNDED, self._outstanding + n)
        self._schedule()

    def cancel(self) -> None:
        publisher = self._publisher
        with publisher._lock:
            publisher.cancels += 1
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            if publisher.misbehaviour is Misbehaviour.IGNORES_CANCEL:
                self._outstanding = min(UNBOUNDED, self._outstanding + publisher.excess)
        self._schedule()

    def _drain(self) -> None:
        publisher = self._publisher
        ignores_cancel = publisher.misbehaviour is Misbehaviour.IGNORES_CANCEL
        while True:
            subscriber = self._subscriber
            if subscriber is None or self._done:
                return
            if self._cancelled and not ignores_cancel:
                self._subscriber = None
                return
            if self._bad is not None:
                self._done = True
                self._subscriber = None
                subscriber.on_error(InvalidDemandError(self._bad))
                return
            if self._next >= publisher.size:
                self._done = True
                if not ignores_cancel:
                    self._subscriber = None
                subscriber.on_completed()
                if publisher.misbehaviour is Misbehaviour.SIGNALS_AFTER_TERMINAL:
                    subscriber.on_next(publisher.size)
                    subscriber.on_completed()
                    subscriber.on_error(RuntimeError("MisbehavingPublisher: on_error after end"))
                return
            with self._lock:
                if not self._outstanding:
                    return
                if self._outstanding != UNBOUNDED:
                    self._outstanding -= 1
            item = self._next
            self._next = item + 1
            with publisher._lock:
                publisher.emitted += 1
            subscriber.on_next(item)
