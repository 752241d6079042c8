"""The SSE contract on a real server: ids from a selector, event names, ``retry:``, resume
from ``Last-Event-ID`` without gaps or duplicates, ``204`` to stop a browser reconnecting,
multi-line data, CR/LF/NUL rejected, and the headers that keep proxies from buffering."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest
import reactivex.operators as ops
from aiohttp import web

import rxspike
import rxspike.web as rw
from rxspike import demo

from ._sse import parse
from .conftest import Served, ServeFactory, read_all

COUNT = 100


def numbers_after(last_id: str | None) -> rxspike.Flowable[dict[str, int]]:
    """Items ``{"seq": n}`` for n from one past ``last_id`` to COUNT - 1; ``int()`` raises
    ValueError on a malformed id."""
    start = 0 if last_id is None else int(last_id) + 1
    return rxspike.range_(start, COUNT).pipe(ops.map(lambda n: {"seq": n}))


async def resumable(request: web.Request) -> web.StreamResponse:
    return await rw.sse(
        request,
        numbers_after(None),
        id=lambda item: item["seq"],
        event="tick",
        retry=1500,
        resume=numbers_after,
    )


async def get(
    session: aiohttp.ClientSession, url: str, last_id: str | None = None
) -> tuple[aiohttp.ClientResponse, bytes]:
    headers = {} if last_id is None else {"Last-Event-ID": last_id}
    async with session.get(url, headers=headers) as response:
        body, error = await read_all(response)
    assert error is None
    return response, body


async def test_reconnect_with_last_event_id_41_continues_at_42(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    served = await serve(resumable)
    response, body = await get(session, served.url, "41")
    assert response.status == 200
    stream = parse(body)
    assert [int(e.last_event_id) for e in stream.events] == list(range(42, COUNT))
    assert [json.loads(e.data)["seq"] for e in stream.events] == list(range(42, COUNT))
    assert {e.type for e in stream.events} == {"tick"}
    assert stream.retry == 1500
    [stats] = await served.wait_ended()
    assert (stats.resumed_from, stats.reason) == ("41", rw.EndReason.COMPLETED)


async def test_a_client_that_drops_and_resumes_sees_every_event_once(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """Read up to id 41, drop the connection, reconnect with the id the parser kept."""
    served = await serve(resumable)
    response = await session.get(served.url)
    seen = parse(b"")
    async with asyncio.timeout(10):
        for _ in range(200):  # the retry block, then an event per read
            seen.feed((await response.content.readuntil(b"\n\n")).decode())
            if len(seen.events) == 42:
                break
    response.close()
    assert seen.last_event_id == "41"
    _, body = await get(session, served.url, seen.last_event_id)
    events = seen.events + parse(body).events
    assert [int(e.last_event_id) for e in events] == list(range(COUNT))


async def test_nothing_left_answers_204_so_the_browser_stops(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    served = await serve(resumable)
    response, body = await get(session, served.url, str(COUNT - 1))
    assert (response.status, body) == (204, b"")

    async def done(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, rxspike.just("x"), resume=lambda last_id: None)

    served = await serve(done, path="/done")
    response, body = await get(session, served.url + "/done", "7")
    assert (response.status, body) == (204, b"")


async def test_a_malformed_last_event_id_is_400(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    served = await serve(resumable)
    async with session.get(served.url, headers={"Last-Event-ID": "forty"}) as response:
        assert response.status == 400
        body = await response.json()
    assert body["type"] == "InvalidLastEventId"
    assert body["error"].startswith("malformed Last-Event-ID 'forty'")
    [stats] = await served.wait_ended()
    assert (stats.reason, stats.status) == (rw.EndReason.FAILED, 400)


async def test_id_event_and_multiline_data_reach_the_browser_as_sent(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    items = ["one line", "two\nlines", "cr\rand crlf\r\nend", {"json": "a\nb"}]

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(
            request,
            rxspike.from_iterable(items),
            id=lambda item: f"id-{items.index(item)}",
            event=lambda item: "json" if isinstance(item, dict) else None,
        )

    served = await serve(handle)
    response, body = await get(session, served.url)
    assert body.count(b"data: ") == 1 + 2 + 3 + 1  # a data: line per line of text
    events = parse(body).events
    assert [e.data for e in events] == [
        "one line",
        "two\nlines",
        "cr\nand crlf\nend",
        '{"json":"a\\nb"}',
    ]
    assert [e.type for e in events] == ["message", "message", "message", "json"]
    assert [e.last_event_id for e in events] == ["id-0", "id-1", "id-2", "id-3"]
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b"], ids=["LF", "CR", "NUL"])
def test_cr_lf_nul_in_an_id_or_event_name_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match=r"SSE id must not contain CR, LF or NUL"):
        rw.ServerSentEvent("x", id=bad)
    with pytest.raises(ValueError, match=r"SSE event must not contain CR, LF or NUL"):
        rw.ServerSentEvent("x", event=bad)
    with pytest.raises(ValueError, match=r"SSE event must not contain CR, LF or NUL"):
        rw.SSE(event=bad)
    with pytest.raises(ValueError, match=r"SSE id must not contain CR, LF or NUL"):
        rw.SSE(id=lambda item: bad).encode("x")


async def test_a_selector_giving_a_bad_id_fails_the_stream_with_the_reason_logged(
    serve: ServeFactory, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, rxspike.just("a", "b"), id=lambda item: f"{item}\n")

    served = await serve(handle)
    with caplog.at_level(logging.WARNING, logger="rxspike.web"):
        async with session.get(served.url) as response:
            assert response.status == 500  # a server bug: no details for the client
        [stats] = await served.wait_ended()
    assert stats.error is not None and "SSE id must not contain CR, LF or NUL" in stats.error
    assert any("must not contain CR, LF or NUL" in r.getMessage() for r in caplog.records)


# -- the demo server ---------------------------------------------------------------------------


@pytest.fixture
async def demo_server(serve: ServeFactory) -> Served:
    return await serve(app=demo.make_app())


def demo_ids(body: bytes) -> list[int]:
    events = parse(body).events
    assert all(int(e.data.split()[0]) == int(e.last_event_id) for e in events)
    return [int(e.last_event_id) for e in events]


@pytest.mark.parametrize("approach", demo.APPROACHES)
async def test_demo_resumes_at_42_in_every_approach(
    demo_server: Served, session: aiohttp.ClientSession, approach: str
) -> None:
    url = f"{demo_server.url}/stream?format=sse&count={COUNT}&size=32&approach={approach}"
    response, body = await get(session, url, "41")
    assert response.status == 200
    assert demo_ids(body) == list(range(42, COUNT))


async def test_demo_resume_in_ndjson_too(
    demo_server: Served, session: aiohttp.ClientSession
) -> None:
    url = f"{demo_server.url}/stream?format=ndjson&count=50&size=32"
    _, body = await get(session, url, "41")
    assert [json.loads(line)["seq"] for line in body.splitlines()] == list(range(42, 50))


async def test_demo_after_the_last_id_answers_204(
    demo_server: Served, session: aiohttp.ClientSession
) -> None:
    response, _ = await get(session, f"{demo_server.url}/stream?count={COUNT}", str(COUNT - 1))
    assert response.status == 204


@pytest.mark.parametrize("bad", ["forty-one", "-1", "100", "4.5", "0x10"])
async def test_demo_rejects_a_malformed_last_event_id_like_a_parameter(
    demo_server: Served, session: aiohttp.ClientSession, bad: str
) -> None:
    headers = {"Last-Event-ID": bad}
    async with session.get(f"{demo_server.url}/stream?count={COUNT}", headers=headers) as response:
        assert response.status == 400
        assert response.content_type == "application/json"
        body: dict[str, Any] = await response.json()
    assert body["parameter"] == "Last-Event-ID"
    assert body["allowed"] == f"integer 0..{COUNT - 1}"
    assert body["error"]
