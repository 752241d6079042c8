"""Statistics of a running stage, and the operator handle that exposes them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ._segment import FlowOperator
from .flowable import Flowable
from .types import Subscriber

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class StageStats:
    """A snapshot of one stage (buffer, throttle, batch, emitter, ``from_observable``).

    Taken under the stage's lock, so the counters agree with each other:
    ``received == delivered + dropped + buffered`` holds in every snapshot.
    """

    #: Items held in the stage right now, waiting for downstream demand (or their turn).
    buffered: int
    #: The most items the stage may hold at once.
    capacity: int
    #: Downstream demand not yet served (:data:`rxspike.UNBOUNDED` when unbounded).
    requested: int
    #: Items handed downstream so far (for ``batch``: items, not batches).
    delivered: int
    #: Items that will never reach downstream as themselves: refused, evicted, folded into
    #: another by a reducer, or discarded when the stream failed or was cancelled.
    dropped: int
    #: The most items the stage ever held at once.
    high_water: int
    #: Items that entered the stage: from upstream, or accepted by an emitter.
    received: int
    #: Sum of ``cost(item)`` over the buffered items (0 when no cost bound is set).
    buffered_cost: int = 0
    #: Bound on ``buffered_cost`` (``max_bytes``), or None.
    max_cost: int | None = None


class Stage(Protocol):
    """What a :class:`StageOperator` needs of the per-subscription state it creates."""

    def statistics(self) -> StageStats: ...

    def start(self) -> None: ...


class StageOperator(FlowOperator[T, R], Generic[T, R]):
    """A flow operator whose running stage reports :class:`StageStats`.

    Each subscription creates a fresh stage; :meth:`statistics` describes the most recent
    one (while it runs, and its final figures after it ended).
    """

    __slots__ = ("_empty", "_factory", "_latest")

    def __init__(
        self,
        name: str,
        factory: Callable[[Subscriber[Any], Flowable[T]], Stage],
        empty: StageStats,
    ) -> None:
        super().__init__(name, self._lift)
        self._factory = factory
        self._empty = empty
        self._latest: Stage | None = None

    def _lift(self, source: Flowable[T]) -> Flowable[R]:
        def subscribe(subscriber: Subscriber[R]) -> None:
            stage = self._factory(subscriber, source)
            self._latest = stage
            stage.start()

        return Flowable(subscribe)

    def statistics(self) -> StageStats:
        """Statistics of the most recent subscription (all zero before the first one)."""
        stage = self._latest
        return self._empty if stage is None else stage.statistics()


def empty_stats(capacity: int, max_cost: int | None = None) -> StageStats:
    """The statistics of a stage that has not run yet."""
    return StageStats(0, capacity, 0, 0, 0, 0, 0, 0, max_cost)
