"""Ten streams producing as fast as they can share the event loop with each other and with a
1 ms ticker. The clients are curl processes, so only the server runs on this loop."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from aiohttp import web

import rxspike
import rxspike.web as rw

from .conftest import ServeFactory

STREAMS = 10
ITEMS = 200_000  # 16-byte payloads: 4.8 MB of SSE per stream


@pytest.mark.parametrize("handler_cancellation", [False], ids=["production"])
async def test_fast_streams_do_not_starve_each_other_or_the_loop(
    serve: ServeFactory, curl: str
) -> None:
    arrived: list[web.Request] = []
    all_in = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        # Start together, however long it takes to spawn the clients: fairness is about
        # streams that run at the same time.
        arrived.append(request)
        if len(arrived) == STREAMS:
            all_in.set()
        async with asyncio.timeout(30):
            await all_in.wait()
        return await rw.sse(request, rxspike.from_iterable(["x" * 16] * ITEMS))

    served = await serve(handle)
    registry = served.registry
    samples: list[dict[int, int]] = []  # per tick: bytes written so far, per open stream
    ended_at_tick: list[int] = []

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0.001)
            samples.append({s.id: s.bytes for s in registry.open_streams()})
            if registry.totals().ended["completed"] and not ended_at_tick:
                ended_at_tick.append(len(samples) - 1)

    ticking = asyncio.create_task(ticker())
    clients = [
        await asyncio.create_subprocess_exec(
            curl,
            "--no-buffer",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            served.url,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(STREAMS)
    ]
    async with asyncio.timeout(60):
        outputs = [(await client.communicate())[0] for client in clients]
    ticking.cancel()
    assert all(int(out) == 24 * ITEMS for out in outputs)
    ended = await served.wait_ended(STREAMS)
    assert all(s.reason is rw.EndReason.COMPLETED for s in ended)

    # The ticker kept running while the streams ran, often enough that no stream got far
    # between two ticks (a writer that never yields would do all its writing between two).
    total = 24 * ITEMS
    busy = [sample for sample in samples if sample]
    assert len(busy) >= 5, f"the 1 ms ticker ran only {len(busy)} times during the streams"
    for sid in range(1, STREAMS + 1):
        progress = [0] + [sample[sid] for sample in samples if sid in sample] + [total]
        step = max(b - a for a, b in itertools.pairwise(progress))
        assert step <= total // 5, f"stream {sid} wrote {step} of {total} bytes between ticks"
    # Before the first stream finished, every stream had sent bytes: none waited its turn.
    assert ended_at_tick, "no tick saw a stream end"
    first_end = ended_at_tick[0]
    seen_writing = {sid for sample in samples[: first_end + 1] for sid, b in sample.items() if b}
    assert len(seen_writing) == STREAMS
