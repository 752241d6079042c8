"""Per-item cost of the overflow operators and bridges, next to plain reactivex.

Every row moves the same items into the same consumer; the cost column divides by the
plain reactivex row of the same kind, measured in the same run:

- cold rows start from ``range``: ``reactivex.from_iterable(...).subscribe`` is the baseline;
- hot rows push from a loop: ``Subject.on_next`` into ``subscribe`` is the baseline, and
  the rxspike rows put a bounded boundary (``from_observable``, an emitter) in between;
- "slow consumer" rows ask for one item per ten pushed, so nine in ten take the overflow
  path (eviction, refusal, conflation): the cost of dropping, not of delivering.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import reactivex
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

import rxspike
from rxspike.operators import (
    Overflow,
    ThrottleMode,
    batch,
    on_backpressure_buffer,
    on_backpressure_latest,
    on_backpressure_reduce,
    throttle,
)

from ._table import interleaved_medians, print_table

ITEMS = 100_000
ROUNDS = 7
CAPACITY = 1024
SLOWER = 10


def _sink() -> tuple[Callable[[Any], None], list[int]]:
    count = [0]

    def on_next(_: Any) -> None:
        count[0] += 1

    return on_next, count


# -- cold: a range through an operator, unbounded consumer ---------------------------------


def cold_reactivex() -> int:
    on_next, count = _sink()
    reactivex.from_iterable(range(ITEMS)).subscribe(on_next)
    return count[0]


def cold_rxspike(*operators: Any) -> Callable[[], int]:
    def run() -> int:
        on_next, count = _sink()
        rxspike.range_(ITEMS).pipe(*operators).subscribe(on_next)
        return count[0]

    return run


# -- hot: a loop pushing into a subject, emitter or boundary --------------------------------


def hot_reactivex() -> int:
    subject: Subject[int] = Subject()
    on_next, count = _sink()
    subject.subscribe(on_next)
    push = subject.on_next
    for i in range(ITEMS):
        push(i)
    return count[0]


def hot_from_observable(overflow: Overflow, *, slow: bool = False) -> Callable[[], int]:
    def run() -> int:
        subject: Subject[int] = Subject()
        on_next, count = _sink()
        flow = rxspike.from_observable(subject, CAPACITY, overflow)
        return _drive(flow, subject.on_next, on_next, count, slow)

    return run


def hot_emitter(overflow: Overflow, *, slow: bool = False) -> Callable[[], int]:
    def run() -> int:
        emitter = rxspike.emitter(CAPACITY, overflow)
        on_next, count = _sink()
        return _drive(emitter.flowable, emitter.try_emit, on_next, count, slow)

    return run


def hot_operator(op: Any, *, slow: bool = True) -> Callable[[], int]:
    """A hot subject behind a roomy ERROR boundary, then ``op`` as the bottleneck."""

    def run() -> int:
        subject: Subject[int] = Subject()
        on_next, count = _sink()
        flow = rxspike.from_observable(subject, ITEMS, Overflow.ERROR).pipe(op())
        return _drive(flow, subject.on_next, on_next, count, slow)

    return run


def _drive(
    flow: rxspike.Flowable[int],
    push: Callable[[int], object],
    on_next: Callable[[Any], None],
    count: list[int],
    slow: bool,
) -> int:
    if not slow:
        flow.subscribe(on_next)
        for i in range(ITEMS):
            push(i)
        return count[0]
    subscriber = rxspike.RequestSubscriber(on_next)
    flow.subscribe(subscriber)
    for i in range(ITEMS):
        push(i)
        if i % SLOWER == 0:
            subscriber.request(1)
    subscriber.cancel()
    return count[0]


def _cases() -> list[tuple[str, str, Callable[[], int]]]:
    clock = TestScheduler()
    return [
        ("reactivex from_iterable -> subscribe", "cold", cold_reactivex),
        (
            "range_ -> on_backpressure_buffer(ERROR)",
            "cold",
            cold_rxspike(on_backpressure_buffer(CAPACITY)),
        ),
        (
            "range_ -> on_backpressure_buffer(DROP_OLDEST)",
            "cold",
            cold_rxspike(on_backpressure_buffer(CAPACITY, Overflow.DROP_OLDEST)),
        ),
        ("range_ -> on_backpressure_latest()", "cold", cold_rxspike(on_backpressure_latest())),
        (
            "range_ -> on_backpressure_reduce(add)",
            "cold",
            cold_rxspike(on_backpressure_reduce(operator.add)),
        ),
        (
            "range_ -> throttle(ENFORCE_DROP, virtual time)",
            "cold",
            cold_rxspike(throttle(1e12, 1e12, ThrottleMode.ENFORCE_DROP, scheduler=clock)),
        ),
        ("range_ -> batch(64)", "cold", cold_rxspike(batch(64))),
        ("reactivex Subject.on_next -> subscribe", "hot", hot_reactivex),
        *(
            (f"Subject -> from_observable({o.name})", "hot", hot_from_observable(o))
            for o in Overflow
        ),
        *((f"emitter({o.name}).try_emit", "hot", hot_emitter(o)) for o in Overflow),
        *(
            (f"slow consumer: emitter({o.name})", "hot", hot_emitter(o, slow=True))
            for o in (Overflow.DROP_OLDEST, Overflow.DROP_INCOMING)
        ),
        (
            "slow consumer: Subject -> from_observable(DROP_OLDEST)",
            "hot",
            hot_from_observable(Overflow.DROP_OLDEST, slow=True),
        ),
        (
            "slow consumer: ... -> on_backpressure_latest()",
            "hot",
            hot_operator(on_backpressure_latest),
        ),
        (
            "slow consumer: ... -> on_backpressure_reduce(add)",
            "hot",
            hot_operator(lambda: on_backpressure_reduce(operator.add)),
        ),
    ]


def main() -> None:
    cases = _cases()
    medians = interleaved_medians([run for _, _, run in cases], ROUNDS)
    rows = []
    baselines: dict[str, float] = {}
    for (name, kind, _), seconds in zip(cases, medians, strict=True):
        baselines.setdefault(kind, seconds)
        rows.append(
            (
                name,
                kind,
                f"{seconds / ITEMS * 1e9:.0f}",
                f"{seconds / baselines[kind]:.2f}x",
            )
        )
    print_table(
        f"overflow operators and bridges, {ITEMS:,} items, median of {ROUNDS} interleaved "
        f"rounds (capacity {CAPACITY}; slow consumer asks for 1 in {SLOWER})",
        ("pipeline", "kind", "ns/item", "cost vs reactivex"),
        rows,
    )


if __name__ == "__main__":
    main()
