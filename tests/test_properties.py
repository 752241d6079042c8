"""Property tests: random producer/consumer schedules against a reference model.

At every step: emitted = delivered + dropped + still buffered; buffered never exceeds the
capacity (items, and bytes when bounded); what is delivered is what the model says (so
the order is kept apart from the drops); ERROR ends with BufferOverflowError and nothing
after it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex.subject import Subject

import rxspike
from rxspike import RequestSubscriber
from rxspike.operators import (
    BufferOverflowError,
    Overflow,
    StageOperator,
    StageStats,
    on_backpressure_buffer,
    on_backpressure_latest,
)

SETTINGS = settings(max_examples=60, deadline=None)

# A schedule: ("emit", count) pushes that many items, ("request", n) asks for n more.
steps = st.lists(
    st.one_of(
        st.tuples(st.just("emit"), st.integers(1, 12)),
        st.tuples(st.just("request"), st.integers(1, 8)),
    ),
    max_size=40,
)


@dataclass
class Model:
    """What a bounded buffer must do, written as plainly as possible."""

    capacity: int
    overflow: Overflow
    max_bytes: int | None = None
    demand: int = 0
    queue: deque[bytes] = field(default_factory=deque)
    delivered: list[bytes] = field(default_factory=list)
    dropped: int = 0
    failed: bool = False

    def cost(self) -> int:
        return sum(map(len, self.queue))

    def fits(self, item: bytes) -> bool:
        if len(self.queue) >= self.capacity:
            return False
        return self.max_bytes is None or self.cost() + len(item) <= self.max_bytes

    def emit(self, item: bytes) -> None:
        if self.failed:
            return
        if self.demand and not self.queue:
            self.demand -= 1
            self.delivered.append(item)
        elif self.fits(item):
            self.queue.append(item)
        elif self.overflow is Overflow.DROP_INCOMING or (
            self.overflow is Overflow.DROP_OLDEST
            and self.max_bytes is not None
            and len(item) > self.max_bytes
        ):
            self.dropped += 1
        elif self.overflow is Overflow.DROP_OLDEST:
            while not self.fits(item):
                self.queue.popleft()
                self.dropped += 1
            self.queue.append(item)
        else:
            self.failed = True
            self.dropped += len(self.queue) + 1
            self.queue.clear()

    def request(self, n: int) -> None:
        if self.failed:
            return
        self.demand += n
        while self.demand and self.queue:
            self.demand -= 1
            self.delivered.append(self.queue.popleft())


class Harness:
    """One way of feeding a bounded stage, plus a consumer whose demand the test drives."""

    def __init__(
        self, push: Callable[[bytes], object], stats: Callable[[], StageStats], sub: Any
    ) -> None:
        self.push = push
        self.stats = stats
        self.sub = sub


def _consumer() -> tuple[RequestSubscriber[bytes], list[Any]]:
    events: list[Any] = []
    sub: RequestSubscriber[bytes] = RequestSubscriber(
        events.append, lambda e: events.append(("error", e)), lambda: events.append("done")
    )
    return sub, events


def _via_emitter(capacity: int, overflow: Overflow, max_bytes: int | None) -> Any:
    emitter = rxspike.emitter(capacity, overflow, max_bytes=max_bytes)
    sub, events = _consumer()
    emitter.flowable.subscribe(sub)
    return Harness(emitter.try_emit, emitter.statistics, sub), events


def _via_from_observable(capacity: int, overflow: Overflow, max_bytes: int | None) -> Any:
    subject: Subject[bytes] = Subject()
    flow = rxspike.from_observable(subject, capacity, overflow, max_bytes=max_bytes)
    sub, events = _consumer()
    flow.subscribe(sub)
    return Harness(subject.on_next, flow.statistics, sub), events


def _via_operator(capacity: int, overflow: Overflow, max_bytes: int | None) -> Any:
    subject: Subject[bytes] = Subject()
    source = rxspike.from_observable(subject, 10_000, Overflow.ERROR)  # never the bottleneck
    op: StageOperator[bytes, bytes] = on_backpressure_buffer(
        capacity, overflow, max_bytes=max_bytes
    )
    sub, events = _consumer()
    source.pipe(op).subscribe(sub)
    return Harness(subject.on_next, op.statistics, sub), events


FEEDS = {"emitter": _via_emitter, "from_observable": _via_from_observable, "op": _via_operator}


def _check(model: Model, harness: Harness, events: list[Any], emitted: int, cap: int) -> None:
    stats = harness.stats()
    assert stats.received == stats.delivered + stats.dropped + stats.buffered
    assert stats.buffered <= cap
    assert stats.high_water <= cap
    if model.max_bytes is not None:
        assert stats.buffered_cost <= model.max_bytes
    items = [e for e in events if isinstance(e, bytes)]
    assert items == model.delivered
    if model.failed:
        assert len(events) == len(items) + 1
        assert isinstance(events[-1][1], BufferOverflowError)
        assert stats.buffered == 0
    else:
        assert stats.received == emitted
        assert (stats.dropped, stats.buffered) == (model.dropped, len(model.queue))


@SETTINGS
@given(
    feed=st.sampled_from(sorted(FEEDS)),
    capacity=st.integers(1, 6),
    overflow=st.sampled_from(list(Overflow)),
    schedule=steps,
    sizes=st.lists(st.integers(0, 10), min_size=1, max_size=7),
    bytes_bound=st.one_of(st.none(), st.integers(1, 24)),
)
def test_bounded_buffer_matches_the_model(
    *,
    feed: str,
    capacity: int,
    overflow: Overflow,
    schedule: list[tuple[str, int]],
    sizes: list[int],
    bytes_bound: int | None,
) -> None:
    harness, events = FEEDS[feed](capacity, overflow, bytes_bound)
    model = Model(capacity, overflow, bytes_bound)
    emitted = 0
    for action, n in schedule:
        if action == "emit":
            for _ in range(n):
                size = sizes[emitted % len(sizes)]
                item = emitted.to_bytes(2, "big") + b"x" * size  # unique, of varying size
                emitted += 1
                harness.push(item)
                model.emit(item)
        else:
            harness.sub.request(n)
            model.request(n)
        _check(model, harness, events, emitted, capacity)


@SETTINGS
@given(schedule=steps, reentrant=st.integers(0, 3))
def test_latest_with_requests_from_inside_on_next(
    schedule: list[tuple[str, int]], reentrant: int
) -> None:
    """Requests made from inside on_next (rule 3.2) keep the invariants and the order."""
    subject: Subject[int] = Subject()
    op: StageOperator[int, int] = on_backpressure_latest()
    got: list[int] = []

    def on_next(x: int) -> None:
        got.append(x)
        if reentrant:
            sub.request(reentrant)

    sub: RequestSubscriber[int] = RequestSubscriber(on_next)
    rxspike.from_observable(subject, 10_000, Overflow.ERROR).pipe(op).subscribe(sub)
    emitted = 0
    for action, n in schedule:
        if action == "emit":
            for _ in range(n):
                subject.on_next(emitted)
                emitted += 1
        else:
            sub.request(n)
        stats = op.statistics()
        assert stats.received == emitted == stats.delivered + stats.dropped + stats.buffered
        assert stats.buffered <= 1
        assert got == sorted(set(got))  # in order, no duplicates


@SETTINGS
@given(schedule=steps, capacity=st.integers(1, 5))
def test_await_free_emitter_answers_match_the_buffer(
    schedule: list[tuple[str, int]], capacity: int
) -> None:
    """try_emit's answer says exactly what happened to the item."""
    from rxspike.operators import EmitResult

    emitter = rxspike.emitter(capacity, Overflow.DROP_INCOMING)
    sub, events = _consumer()
    emitter.flowable.subscribe(sub)
    accepted: list[int] = []
    emitted = 0
    for action, n in schedule:
        if action == "emit":
            for _ in range(n):
                if emitter.try_emit(emitted.to_bytes(4, "big")) is EmitResult.OK:
                    accepted.append(emitted)
                emitted += 1
        else:
            sub.request(n)
        delivered = [int.from_bytes(e, "big") for e in events if isinstance(e, bytes)]
        assert delivered == accepted[: len(delivered)]
        assert emitter.statistics().dropped == emitted - len(accepted)
