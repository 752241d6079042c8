"""The broadcast hub: the cost of fanning one item out to 1000 subscribers, and what one slow
subscriber costs the others.

Every row publishes the same items to the same number of counting subscribers; rounds are
interleaved (one run of each row per round) and each row's figure is its median. Baseline:
a reactivex ``Subject`` with as many observers (no buffers, no demand). "+1 slow" rows have one
more subscriber that never asks for anything (16-item buffer, ``DROP_OLDEST``): the others'
cost per item should not change, which is the lossy hub's promise.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from reactivex.subject import Subject

import rxspike
from rxspike.operators import Overflow

from ._table import print_table

SUBSCRIBERS = 1000
ITEMS = 200
ROUNDS = 7
CAPACITY = 16


class _Counter(rxspike.RequestSubscriber[Any]):
    def __init__(self, initial_request: int) -> None:
        self.count = 0
        super().__init__(self._add, initial_request=initial_request)

    def _add(self, _: Any) -> None:
        self.count += 1


def subject_fan_out() -> int:
    subject: Subject[int] = Subject()
    counts = [0]

    def on_next(_: int) -> None:
        counts[0] += 1

    for _ in range(SUBSCRIBERS):
        subject.subscribe(on_next)
    for n in range(ITEMS):
        subject.on_next(n)
    return counts[0]


def hub_fan_out(slow: int) -> Callable[[], int]:
    def run() -> int:
        em = rxspike.emitter(CAPACITY, Overflow.ERROR)
        hub = rxspike.broadcast(em, capacity=CAPACITY, overflow=Overflow.DROP_OLDEST)
        fast = [_Counter(rxspike.UNBOUNDED) for _ in range(SUBSCRIBERS)]
        for subscriber in fast:
            hub.flowable.subscribe(subscriber)
        for _ in range(slow):
            hub.flowable.subscribe(_Counter(0))
        for n in range(ITEMS):
            em.try_emit(n)
        return sum(s.count for s in fast)

    return run


def paced_fan_out() -> int:
    em = rxspike.emitter(ITEMS, Overflow.ERROR)  # room for all: pacing never refuses here
    hub = rxspike.broadcast(em, mode=rxspike.HubMode.PACED, capacity=CAPACITY)
    fast = [_Counter(rxspike.UNBOUNDED) for _ in range(SUBSCRIBERS)]
    for subscriber in fast:
        hub.flowable.subscribe(subscriber)
    for n in range(ITEMS):
        em.try_emit(n)
    return sum(s.count for s in fast)


def _cases() -> list[tuple[str, Callable[[], int]]]:
    return [
        ("reactivex Subject, 1000 observers", subject_fan_out),
        ("hub lossy, 1000 subscribers", hub_fan_out(0)),
        ("hub lossy, 1000 subscribers +1 slow", hub_fan_out(1)),
        ("hub lossy, 1000 subscribers +10 slow", hub_fan_out(10)),
        ("hub paced, 1000 subscribers", paced_fan_out),
    ]


def main() -> None:
    cases = _cases()
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _, run in cases:
        run()  # warm-up
    for _ in range(ROUNDS):
        for name, run in cases:
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    baseline = medians[cases[0][0]]
    print_table(
        f"fan-out of {ITEMS} items to {SUBSCRIBERS} subscribers (setup included), "
        f"median of {ROUNDS} interleaved rounds",
        ("pipeline", "ms per run", "ns per item per subscriber", "cost vs Subject"),
        [
            (
                name,
                f"{seconds * 1e3:.1f}",
                f"{seconds / (ITEMS * SUBSCRIBERS) * 1e9:.0f}",
                f"{seconds / baseline:.2f}x",
            )
            for name, seconds in medians.items()
        ],
    )


if __name__ == "__main__":
    main()
