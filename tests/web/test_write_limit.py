"""``write_limit``: queued frames are joined into writes of at most that many bytes (a frame
larger than the limit goes alone), in order, none lost or repeated."""

from __future__ import annotations

import aiohttp
from aiohttp import web

import rxspike
import rxspike.web as rw

from .conftest import ServeFactory

LIMIT = 100
#: Frames of mixed sizes, one of them larger than the limit.
FRAMES = [bytes([65 + n % 26]) * (1 + n * 7 % 60) for n in range(300)] + [b"z" * 150, b"end"]


async def test_writes_join_frames_up_to_the_limit_in_order(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    options = rw.StreamOptions(write_limit=LIMIT, max_items_ahead=64)

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.raw(request, rxspike.from_iterable(FRAMES), options=options)

    served = await serve(handle)
    async with session.get(served.url) as response:
        body = await response.read()
    [ended] = await served.wait_ended()
    assert body == b"".join(FRAMES)
    assert ended.reason is rw.EndReason.COMPLETED and ended.items == len(FRAMES)
    # At most LIMIT bytes per write, except the one frame above it, which goes alone.
    assert ended.writes >= (len(body) - 150) // LIMIT + 1
    assert ended.writes < len(FRAMES)  # and the frames were joined, not written one by one
