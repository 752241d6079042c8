"""Memory stays bounded: 1,000,000 items of about 100 bytes, a consumer ten times slower.

The producer pushes ten items for every one the consumer asks for. Through a bounded
strategy the peak stays under :data:`LIMIT` whatever the length of the run; through the
naive unbounded queue (an Rx subject into a deque, what a plain Rx -> queue bridge does)
900,000 items pile up: about 130 MiB, measured by the slow comparison below
(``make test-slow``).
"""

from __future__ import annotations

import asyncio
import gc
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reactivex.subject import Subject

import rxspike
from rxspike.operators import Overflow

#: Items per run.
ITEMS = 1_000_000
#: The consumer asks for one item per this many produced.
SLOWER = 10
#: Peak allocation allowed for a bounded run (the naive queue needs about 130 MiB).
LIMIT = "4 MB"
LIMIT_BYTES = 4 * 1024 * 1024


def _item(i: int) -> bytes:
    """About 100 bytes, a fresh object each time (so nothing is shared between items)."""
    return i.to_bytes(8, "little") * 12 + b"tail"


def _slow_consumer() -> tuple[rxspike.RequestSubscriber[bytes], list[int]]:
    count = [0]

    def on_next(_: bytes) -> None:
        count[0] += 1

    return rxspike.RequestSubscriber(on_next), count


def run_emitter(overflow: Overflow, items: int = ITEMS) -> int:
    emitter = rxspike.emitter(1000, overflow)
    consumer, count = _slow_consumer()
    emitter.flowable.subscribe(consumer)
    for i in range(items):
        emitter.try_emit(_item(i))
        if i % SLOWER == 0:
            consumer.request(1)
    emitter.complete()
    assert emitter.statistics().high_water <= 1000
    return count[0]


def run_hot_subject(items: int = ITEMS) -> int:
    subject: Subject[bytes] = Subject()
    consumer, count = _slow_consumer()
    flow = rxspike.from_observable(subject, 1000, Overflow.DROP_INCOMING)
    flow.subscribe(consumer)
    for i in range(items):
        subject.on_next(_item(i))
        if i % SLOWER == 0:
            consumer.request(1)
    subject.on_completed()
    return count[0]


def run_naive_queue(items: int = ITEMS) -> int:
    subject: Subject[bytes] = Subject()
    queue: deque[bytes] = deque()
    subject.subscribe(queue.append)
    delivered = 0
    for i in range(items):
        subject.on_next(_item(i))
        if i % SLOWER == 0:
            queue.popleft()
            delivered += 1
    return delivered


@pytest.mark.limit_memory(LIMIT)
def test_emitter_drop_oldest_stays_bounded() -> None:
    assert run_emitter(Overflow.DROP_OLDEST) == ITEMS // SLOWER


@pytest.mark.limit_memory(LIMIT)
def test_hot_observable_drop_incoming_stays_bounded() -> None:
    assert run_hot_subject() == ITEMS // SLOWER


@pytest.mark.limit_memory(LIMIT)
async def test_await_emit_is_lossless_and_bounded() -> None:
    emitter = rxspike.emitter(64, Overflow.ERROR)
    items = ITEMS // 10  # every item crosses the event loop here: a tenth keeps it quick

    async def produce() -> None:
        for i in range(items):
            await emitter.emit(_item(i))
        emitter.complete()

    async def consume() -> int:
        count = 0
        async for _ in emitter.flowable.iterate(prefetch=16):
            count += 1
            if count % 16 == 0:
                for _ in range(SLOWER):
                    await asyncio.sleep(0)
        return count

    _, received = await asyncio.wait_for(asyncio.gather(produce(), consume()), timeout=120)
    assert received == items
    assert emitter.statistics().dropped == 0


def _peak_bytes(run: Callable[[], Any], path: Path) -> int:
    import memray

    with memray.Tracker(destination=memray.FileDestination(str(path), overwrite=True)):
        run()
        gc.collect()
    return int(memray.FileReader(str(path)).metadata.peak_memory)


@pytest.mark.slow
def test_naive_unbounded_queue_exceeds_the_bound(tmp_path: Path) -> None:
    bounded = _peak_bytes(lambda: run_emitter(Overflow.DROP_OLDEST), tmp_path / "bounded.bin")
    naive = _peak_bytes(run_naive_queue, tmp_path / "naive.bin")
    print(f"\npeak: bounded {bounded / 2**20:.2f} MiB, naive queue {naive / 2**20:.2f} MiB")
    assert bounded < LIMIT_BYTES < naive
