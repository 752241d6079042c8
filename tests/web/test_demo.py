"""The demo server: every approach and format delivers every item in order; bad parameters
are answered 400 with a JSON body naming the parameter; /metrics counts what happened."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from rxspike import demo
from rxspike.cli import main

from .conftest import Served, ServeFactory, read_all

APPROACHES = list(demo.APPROACHES)


def sequence_numbers(fmt: str, body: bytes, size: int) -> list[int]:
    """The items' sequence numbers, checking each item's framing on the way."""
    if fmt == "sse":
        events = body.split(b"\n\n")
        assert events.pop() == b""
        found = []
        for event in events:
            match = re.fullmatch(rb"id: (\d+)\ndata: (\d+) x*", event)
            assert match is not None, event
            assert match[1] == match[2] and len(event) - event.index(b"data: ") - 6 == size
            found.append(int(match[1]))
        return found
    if fmt == "ndjson":
        records = [json.loads(line) for line in body.splitlines()]
        assert all(len(r["data"]) == size for r in records)
        return [r["seq"] for r in records]
    assert len(body) % size == 0
    return [int.from_bytes(body[i : i + 8], "big") for i in range(0, len(body), size)]


@pytest.fixture
async def demo_server(serve: ServeFactory) -> Served:
    return await serve(app=demo.make_app())


async def get(
    session: aiohttp.ClientSession, served: Served, **params: Any
) -> tuple[int, bytes, BaseException | None]:
    async with session.get(
        f"{served.url}/stream", params={k: str(v) for k, v in params.items()}
    ) as response:
        body, error = await read_all(response)
        return response.status, body, error


@pytest.mark.parametrize("approach", APPROACHES)
@pytest.mark.parametrize("fmt", demo.FORMATS)
async def test_every_item_in_order(
    demo_server: Served, session: aiohttp.ClientSession, approach: str, fmt: str
) -> None:
    status, body, error = await get(
        session, demo_server, format=fmt, count=300, size=40, approach=approach
    )
    assert (status, error) == (200, None)
    assert sequence_numbers(fmt, body, 40) == list(range(300))


@pytest.mark.parametrize("approach", APPROACHES)
async def test_paced_items(
    demo_server: Served, session: aiohttp.ClientSession, approach: str
) -> None:
    status, body, _ = await get(
        session, demo_server, format="ndjson", count=4, interval_ms=5, approach=approach, rate=400
    )
    assert status == 200
    assert sequence_numbers("ndjson", body, 64) == [0, 1, 2, 3]


@pytest.mark.parametrize("approach", [a for a in APPROACHES if a != "push-unbounded"])
async def test_fail_after(
    demo_server: Served, session: aiohttp.ClientSession, approach: str
) -> None:
    status, body, error = await get(
        session, demo_server, format="ndjson", count=10, fail_after=3, approach=approach
    )
    *items, last = [json.loads(line) for line in body.splitlines()]
    assert status == 200
    seqs = [item["seq"] for item in items]
    if approach.startswith("push"):
        # A push source's error overtakes what its buffer still holds (fail fast).
        assert seqs == [0, 1, 2][: len(seqs)]
    else:
        assert seqs == [0, 1, 2]
    assert last["error"]["error"] == "source failed after 3 items (fail_after)"
    assert isinstance(error, aiohttp.ClientPayloadError)
    status, body, _ = await get(session, demo_server, count=10, fail_after=0, approach=approach)
    assert status == 500
    assert json.loads(body)["type"] == "SourceFailed"


async def test_push_buffer_drop_oldest_counts_its_drops(
    demo_server: Served, session: aiohttp.ClientSession
) -> None:
    count = 20_000
    status, body, _ = await get(
        session, demo_server, format="ndjson", count=count, size=16,
        approach="push-buffer", overflow="drop-oldest", capacity=4,
    )  # fmt: skip
    assert status == 200
    seqs = sequence_numbers("ndjson", body, 16)
    assert seqs == sorted(set(seqs))  # in order, no duplicates: drops only
    async with session.get(f"{demo_server.url}/metrics") as response:
        metrics = await response.json()
    assert metrics["dropped"] == count - len(seqs) > 0


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"format": "xml"}, "format"),
        ({"count": "ten"}, "count"),
        ({"count": "-1"}, "count"),
        ({"size": "8"}, "size"),
        ({"count": "1000000", "size": "1048576"}, "count"),
        ({"interval_ms": "-5"}, "interval_ms"),
        ({"interval_ms": "nan"}, "interval_ms"),
        ({"approach": "magic"}, "approach"),
        ({"count": "5", "fail_after": "6"}, "fail_after"),
        ({"overflow": "drop_latest"}, "overflow"),
        ({"capacity": "0"}, "capacity"),
        ({"rate": "0"}, "rate"),
        ({"burst": "x"}, "burst"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_parameters_are_400_with_json(
    demo_server: Served, session: aiohttp.ClientSession, query: dict[str, str], parameter: str
) -> None:
    async with session.get(f"{demo_server.url}/stream", params=query) as response:
        assert response.status == 400
        assert response.content_type == "application/json"
        body = await response.json()
    assert body["parameter"] == parameter
    assert body["error"] and body["allowed"]


async def test_repeated_parameter_is_400(
    demo_server: Served, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{demo_server.url}/stream?count=1&count=2") as response:
        assert response.status == 400
        assert (await response.json())["parameter"] == "count"


async def test_metrics(demo_server: Served, session: aiohttp.ClientSession) -> None:
    await get(session, demo_server, count=5, size=16)
    await get(session, demo_server, count=5, fail_after=2, format="ndjson")
    await demo_server.wait_ended(2)
    async with session.get(f"{demo_server.url}/metrics") as response:
        metrics = await response.json()
    assert metrics["open"] == 0 and metrics["streams"] == []
    assert metrics["started"] == 2
    assert metrics["ended"]["completed"] == 1 and metrics["ended"]["failed"] == 1
    assert metrics["items_sent"] == 7 and metrics["bytes_sent"] > 0
    assert set(metrics["ended"]) == {
        "completed", "failed", "client_gone", "timeout", "shutdown", "cancelled",
    }  # fmt: skip


def test_serve_command_is_registered() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output


def test_approach_sources_are_quotable() -> None:
    sources = demo.approach_sources()
    assert set(APPROACHES) <= set(sources)
    assert all(len(text.splitlines()) < 40 for text in sources.values())
