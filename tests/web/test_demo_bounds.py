"""The demo's honest defaults: every parameter bounded (capacity x size, tiny intervals,
ASCII digits only), ``/metrics`` paged, and the naive design quiet in the log."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest

from rxspike import demo
from rxspike.web import EndReason

from .conftest import Served, ServeFactory, read_all


@pytest.fixture
async def demo_server(serve: ServeFactory) -> Served:
    return await serve(app=demo.make_app())


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"interval_ms": "1e-310"}, "interval_ms"),  # denormal: 1/interval overflows
        ({"interval_ms": "0.0001"}, "interval_ms"),  # below a microsecond
        ({"interval_ms": "\uff11"}, "interval_ms"),  # full-width digit
        ({"count": "\uff11\uff10"}, "count"),
        ({"count": "1_000"}, "count"),
        ({"count": " 10"}, "count"),
        ({"size": "\uff16\uff14"}, "size"),
        ({"rate": "1_000"}, "rate"),
        ({"approach": "push-buffer", "capacity": "100000", "size": "1048576"}, "capacity"),
        ({"approach": "push-throttle", "capacity": "2000", "size": "65536"}, "capacity"),
    ],
)
async def test_out_of_bounds_parameters_are_a_400_naming_them(
    demo_server: Served, session: aiohttp.ClientSession, query: dict[str, str], parameter: str
) -> None:
    async with session.get(f"{demo_server.url}/stream", params=query) as response:
        assert response.status == 400, await response.text()
        body = await response.json()
    assert body["parameter"] == parameter and body["allowed"], body
    assert parameter in body["error"]


@pytest.mark.parametrize(
    "query",
    [
        {"count": "1", "size": "1048576"},  # pull: no buffer, the default capacity is moot
        {"approach": "push-buffer", "count": "3", "capacity": "16", "size": "1048576"},
        {"count": "3", "interval_ms": "0.001"},
        {"count": "3", "interval_ms": "1.5e0"},
    ],
)
async def test_parameters_within_the_bounds_stream(
    demo_server: Served, session: aiohttp.ClientSession, query: dict[str, str]
) -> None:
    async with session.get(f"{demo_server.url}/stream", params=query) as response:
        assert response.status == 200, await response.text()
        body, error = await read_all(response)
    assert error is None and body


async def test_metrics_json_is_paged(demo_server: Served, session: aiohttp.ClientSession) -> None:
    """Five open streams; ``/metrics`` shows the page asked for, a small one by default."""
    query = {"count": "2", "interval_ms": "30000", "format": "ndjson"}
    responses = [await session.get(f"{demo_server.url}/stream", params=query) for _ in range(5)]
    try:
        for response in responses:
            await response.content.readline()
        async with session.get(f"{demo_server.url}/metrics?limit=2&offset=1") as page:
            body = await page.json()
        assert body["open"] == 5
        assert [s["id"] for s in body["streams"]] == [2, 3]
        assert body["page"] == {"offset": 1, "limit": 2, "open": 5, "next_offset": 3}
        async with session.get(f"{demo_server.url}/metrics") as page:
            default = await page.json()
        assert default["page"]["limit"] == demo.METRICS_PAGE
        for bad in ("limit=\uff11", "limit=100000", "offset=-1", "limit=2&limit=3", "sort=id"):
            async with session.get(f"{demo_server.url}/metrics?{bad}") as page:
                assert page.status == 400, bad
                assert (await page.json())["parameter"] in bad
    finally:
        for response in responses:
            response.close()


@pytest.mark.parametrize("handler_cancellation", [False], ids=["production"])
async def test_the_naive_design_is_quiet_in_the_log(
    demo_server: Served, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that leaves, and a source that fails: one line each at most, no ERROR
    traceback (the naive design stays naive otherwise: it still runs on after the client)."""
    caplog.set_level(logging.INFO)
    url = f"{demo_server.url}/stream"
    leaving = {"approach": "push-unbounded", "count": "200", "interval_ms": "5", "size": "16"}
    async with session.get(url, params={**leaving, "format": "ndjson"}) as response:
        await response.content.readline()
    failing = {"approach": "push-unbounded", "count": "10", "fail_after": "3"}
    async with session.get(url, params={**failing, "format": "ndjson"}) as response:
        body, _ = await read_all(response)
    ended = await demo_server.wait_ended(2, within=10)
    await asyncio.sleep(0.1)  # anything aiohttp logs after the handler returned

    assert [s.reason for s in sorted(ended, key=lambda s: s.id)] == [
        EndReason.CLIENT_GONE,
        EndReason.FAILED,
    ]
    assert [json.loads(line)["seq"] for line in body.splitlines()] == [0, 1, 2]
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [], [r.getMessage() for r in loud]
