"""Pipeline cost: source -> map -> filter -> map -> consumer, rxspike vs plain reactivex.

The same three reactivex operators run in both; rxspike fuses them into one push segment
behind a demand boundary. Rows:

Every row feeds the same consumer callback (see :class:`Consumer`).

- ``reactivex``: plain push, ``reactivex.from_iterable`` and ``subscribe(on_next)``;
- ``rxspike, unbounded``: ``subscribe(on_next)`` on a Flowable (unbounded demand: the
  segment passes it upstream, items run straight through);
- ``rxspike, request(256) batches, prefetch P``: a demand-driven consumer that asks for 256
  items at a time, as an async sink does, through ``fuse(..., prefetch=P)``;
- ``rxspike, async for``: the same through ``async for`` with the default prefetch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import reactivex
import reactivex.operators as ops

import rxspike
from rxspike.operators import fuse

from ._table import interleaved_medians, print_table

ITEMS = 200_000
REPEATS = 7
BATCH = 256


def _operators() -> tuple[Callable[[Any], Any], ...]:
    return (
        ops.map(lambda x: x + 1),
        ops.filter(lambda x: x % 2 == 0),
        ops.map(lambda x: x * 2),
    )


class Consumer:
    """The same consumer for every row: it keeps the items and asks for 256 more per 256.

    Against reactivex and an unbounded subscribe, asking is a no-op; so every row pays for
    the same callback and the differences are the pipelines' own.
    """

    def __init__(self) -> None:
        self.items: list[int] = []
        self.request: Callable[[int], None] = _ignore

    def on_next(self, item: int) -> None:
        items = self.items
        items.append(item)
        if len(items) % BATCH == 0:
            self.request(BATCH)


def _ignore(_: int) -> None:
    pass


def plain_reactivex() -> int:
    consumer = Consumer()
    reactivex.from_iterable(range(ITEMS)).pipe(*_operators()).subscribe(consumer.on_next)
    return len(consumer.items)


def rxspike_unbounded() -> int:
    consumer = Consumer()
    rxspike.range_(ITEMS).pipe(*_operators()).subscribe(consumer.on_next)
    return len(consumer.items)


def rxspike_batches(prefetch: int) -> Callable[[], int]:
    def run() -> int:
        consumer = Consumer()
        subscriber = rxspike.RequestSubscriber(consumer.on_next, initial_request=BATCH)
        consumer.request = subscriber.request
        rxspike.range_(ITEMS).pipe(fuse(*_operators(), prefetch=prefetch)).subscribe(subscriber)
        return len(consumer.items)

    return run


def rxspike_async_for() -> int:
    async def consume() -> int:
        count = 0
        async for _ in rxspike.range_(ITEMS).pipe(*_operators()):
            count += 1
        return count

    return asyncio.run(consume())


def main() -> None:
    expected = plain_reactivex()
    cases: list[tuple[str, Callable[[], int]]] = [
        ("reactivex (plain push)", plain_reactivex),
        ("rxspike, unbounded subscribe", rxspike_unbounded),
        *(
            (f"rxspike, request({BATCH}) batches, prefetch {p}", rxspike_batches(p))
            for p in (1, 16, 256)
        ),
        ("rxspike, async for (prefetch 256)", rxspike_async_for),
    ]
    for name, run in cases:
        if run() != expected:
            raise AssertionError(f"{name} delivered a different number of items")
    medians = interleaved_medians([run for _, run in cases], REPEATS, warmup=0)
    rows = []
    baseline = medians[0]
    for (name, _), seconds in zip(cases, medians, strict=True):
        rows.append((name, f"{ITEMS / seconds / 1e6:.2f}", f"{seconds / baseline:.2f}x"))
    print_table(
        f"source -> map -> filter -> map -> consumer, {ITEMS:,} items, median of {REPEATS} "
        "interleaved rounds",
        ("pipeline", "M items/s", "cost vs reactivex"),
        rows,
    )


if __name__ == "__main__":
    main()
