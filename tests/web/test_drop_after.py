"""The demo's ``drop_after=K``: the server closes each connection after K items, with no
terminal frame and no final chunk, as a proxy or a crash would (the live page uses it to show
a resume); and ``X-Worker-Pid``, which process answered (``--workers N``)."""

from __future__ import annotations

import json
import os

import aiohttp
import pytest

from rxspike import demo

from .conftest import Served, ServeFactory, read_all


@pytest.fixture
async def demo_server(serve: ServeFactory) -> Served:
    return await serve(app=demo.make_app())


@pytest.mark.parametrize("approach", demo.APPROACHES)
async def test_drop_after_cuts_the_connection_without_a_terminal_frame(
    demo_server: Served, session: aiohttp.ClientSession, approach: str
) -> None:
    query = {"format": "ndjson", "count": "10", "interval_ms": "5", "drop_after": "4"}
    async with session.get(
        f"{demo_server.url}/stream", params={**query, "approach": approach}
    ) as response:
        assert response.status == 200
        body, error = await read_all(response)
    assert [json.loads(line)["seq"] for line in body.splitlines()] == [0, 1, 2, 3]
    assert isinstance(error, aiohttp.ClientPayloadError)  # truncated: no final chunk


async def test_drop_after_must_be_positive(
    demo_server: Served, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{demo_server.url}/stream?drop_after=0") as response:
        assert response.status == 400
        assert (await response.json())["parameter"] == "drop_after"


async def test_every_response_names_its_worker(
    demo_server: Served, session: aiohttp.ClientSession
) -> None:
    for path in ("/", "/metrics", "/stream?count=1"):
        async with session.get(demo_server.url + path) as response:
            assert response.headers["X-Worker-Pid"] == str(os.getpid())
