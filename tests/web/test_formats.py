"""Each format byte-exact to its spec, through a real server and real clients."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import reactivex
import reactivex.operators as ops
from aiohttp import web

import rxspike
import rxspike.web as rw
from rxspike.operators import Overflow
from rxspike.web._source import as_flowable

from .conftest import ServeFactory, read_all, run_curl

SSE_ITEMS: list[Any] = [
    "plain",
    "two\nlines",
    "cr\rand\r\ncrlf",
    {"k": [1, 2]},
    rw.ServerSentEvent({"n": 1}, event="tick", id=5, retry=1500, comment="note"),
    rw.ServerSentEvent(id="only-id"),
    "",
]
# WHATWG HTML, "Server-sent events": fields as "name: value" lines, a blank line ends an
# event, CR / LF / CRLF all end a line, comments start with a colon.
SSE_BODY = (
    b"data: plain\n\n"
    b"data: two\ndata: lines\n\n"
    b"data: cr\ndata: and\ndata: crlf\n\n"
    b'data: {"k":[1,2]}\n\n'
    b': note\nevent: tick\nid: 5\nretry: 1500\ndata: {"n":1}\n\n'
    b"id: only-id\n\n"
    b"data: \n\n"
)

NDJSON_ITEMS: list[Any] = [{"a": 1, "b": "x\ny"}, [1, 2.5], "é", None, True]
# ndjson-spec 1.0: one JSON text per line, "\n" after each, UTF-8.
NDJSON_BODY = '{"a":1,"b":"x\\ny"}\n[1,2.5]\n"é"\nnull\ntrue\n'.encode()


class CSV(rw.Encoder[tuple[Any, ...]]):
    """A user-defined format: a header row first, one CSV row per item."""

    media_type = "text/csv; charset=utf-8"

    def begin(self) -> bytes:
        return b"n,square\r\n"

    def encode(self, item: tuple[Any, ...]) -> bytes:
        return (",".join(map(str, item)) + "\r\n").encode()


def handler_for(kind: str, items: list[Any]) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        flow = rxspike.from_iterable(items)
        if kind == "sse":
            return await rw.sse(request, flow)
        if kind == "ndjson":
            return await rw.ndjson(request, flow)
        if kind == "raw":
            return await rw.raw(request, flow, media_type="text/plain")
        return await rw.stream(request, flow, CSV())

    return handler


CASES: list[tuple[str, list[Any], bytes, str]] = [
    ("sse", SSE_ITEMS, SSE_BODY, "text/event-stream"),
    ("ndjson", NDJSON_ITEMS, NDJSON_BODY, "application/x-ndjson"),
    ("raw", [b"ab", "cd", bytearray(b"ef"), "é"], "abcdefé".encode(), "text/plain; charset=utf-8"),
    ("csv", [(1, 1), (2, 4)], b"n,square\r\n1,1\r\n2,4\r\n", "text/csv; charset=utf-8"),
]


Case = tuple[str, list[Any], bytes, str]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_body_is_byte_exact_with_aiohttp_client(
    serve: ServeFactory, session: aiohttp.ClientSession, case: Case
) -> None:
    kind, items, body, media_type = case
    served = await serve(handler_for(kind, items))
    async with session.get(served.url) as response:
        received, error = await read_all(response)
        assert response.status == 200
        assert response.headers["Content-Type"] == media_type
        assert response.headers["Transfer-Encoding"] == "chunked"
        if kind in {"sse", "ndjson"}:
            assert response.headers["Cache-Control"] == "no-cache"
    assert error is None
    assert received == body
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.COMPLETED
    assert stats.items == len(items)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_body_is_byte_exact_with_curl(serve: ServeFactory, curl: str, case: Case) -> None:
    kind, items, body, _ = case
    served = await serve(handler_for(kind, items))
    code, out, err = await run_curl(curl, served.url)
    assert (code, err) == (0, b"")
    assert out == body


@pytest.mark.parametrize(
    ("kind", "status"), [("sse", 204), ("ndjson", 200), ("raw", 200), ("csv", 200)]
)
async def test_empty_stream(
    serve: ServeFactory, session: aiohttp.ClientSession, kind: str, status: int
) -> None:
    """SSE answers 204 (EventSource stops reconnecting); the others 200 with no body."""
    served = await serve(handler_for(kind, []))
    async with session.get(served.url) as response:
        assert response.status == status
        assert await response.read() == b""
    [stats] = await served.wait_ended()
    assert (stats.reason, stats.headers_sent) == (rw.EndReason.COMPLETED, False)


async def test_async_iterable_and_observable_sources(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """An async generator and a plain Observable go through the same writer."""

    async def numbers() -> Any:
        for n in range(3):
            yield {"n": n}

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.query["kind"] == "aiter":
            return await rw.ndjson(request, numbers())
        return await rw.ndjson(request, reactivex.of({"n": 0}, {"n": 1}, {"n": 2}))

    served = await serve(handler)
    for kind in ("aiter", "observable"):
        async with session.get(served.url, params={"kind": kind}) as response:
            assert await response.read() == b'{"n":0}\n{"n":1}\n{"n":2}\n'


async def test_plain_observable_overflowing_its_buffer_fails_visibly(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """The default for a push source is a bounded buffer that fails, never an unbounded one."""

    async def handler(request: web.Request) -> web.StreamResponse:
        options = rw.StreamOptions(push_capacity=10)
        return await rw.ndjson(request, reactivex.from_iterable(range(1000)), options=options)

    served = await serve(handler)
    async with session.get(served.url) as response:
        assert response.status == 500
        assert await response.json() == {
            "error": "Internal Server Error",
            "status": 500,
            "stream": 1,
        }
    [stats] = await served.wait_ended()
    assert stats.error is not None and "BufferOverflowError" in stats.error


async def test_sse_heartbeat_while_idle(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def slow() -> Any:
        yield "first"
        await asyncio.sleep(0.35)
        yield "second"

    async def handler(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, slow(), options=rw.StreamOptions(heartbeat=0.1))

    served = await serve(handler)
    async with session.get(served.url) as response:
        body = await response.read()
    assert body.startswith(b"data: first\n\n: keep-alive\n\n")
    assert body.endswith(b": keep-alive\n\ndata: second\n\n")


def test_encoders_reject_what_their_format_cannot_carry() -> None:
    with pytest.raises(ValueError, match="event must not contain CR, LF or NUL"):
        rw.SSE().encode(rw.ServerSentEvent("x", event="a\nb"))
    with pytest.raises(ValueError, match="NUL"):
        rw.SSE().encode(rw.ServerSentEvent("x", id="a\0"))
    with pytest.raises(ValueError, match="retry"):
        rw.SSE().encode(rw.ServerSentEvent("x", retry=-1))
    with pytest.raises(ValueError, match="not JSON compliant"):
        rw.NDJSON().encode(float("nan"))
    with pytest.raises(TypeError, match="Raw encoder takes bytes or str"):
        rw.Raw().encode(3)  # type: ignore[arg-type]


def test_options_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="max_items_ahead must be a positive int"):
        rw.StreamOptions(max_items_ahead=0)
    with pytest.raises(ValueError, match="send_timeout must be None or a positive"):
        rw.StreamOptions(send_timeout=0)
    with pytest.raises(ValueError, match=r"statuses\[KeyError\] must be an error status"):
        rw.StreamOptions(statuses={KeyError: 200})
    with pytest.raises(TypeError, match=r"source must be a rxspike\.Flowable"):
        as_flowable(42, 10)  # type: ignore[arg-type]


async def test_signals_from_another_thread(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """A source that emits on a worker thread: items are handed to the loop, in order."""
    from reactivex.scheduler import NewThreadScheduler

    async def handler(request: web.Request) -> web.StreamResponse:
        pushed = reactivex.from_iterable(range(500)).pipe(ops.subscribe_on(NewThreadScheduler()))
        flow = rxspike.from_observable(pushed, 1000, Overflow.ERROR)
        return await rw.ndjson(request, flow)

    served = await serve(handler)
    async with session.get(served.url) as response:
        body = await response.read()
    assert body == b"".join(b"%d\n" % n for n in range(500))


async def test_head_gets_the_headers_and_no_body(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    cleanups: list[int] = []

    def forever(n: int, sink: rxspike.GenerateSink[str]) -> int:
        sink.next(str(n))
        return n + 1

    async def handler(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, rxspike.generate(lambda: 0, forever, cleanups.append))

    served = await serve(handler)
    async with session.head(served.url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        assert await response.read() == b""
    [stats] = await served.wait_ended()
    assert (stats.reason, stats.items) == (rw.EndReason.COMPLETED, 0)
    assert len(cleanups) == 1
