"""Errors: a real status before the headers, an in-band frame and a truncation after them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import rxspike
import rxspike.web as rw

from .conftest import ServeFactory, read_all, run_curl


class NotFound(LookupError):
    pass


def failing(after: int, error: Exception, *, raw: bool = False) -> rxspike.Flowable[Any]:
    """``after`` items ``{"n": i}`` (``b"i\\n"`` if ``raw``), then ``error``."""

    def step(n: int, sink: rxspike.GenerateSink[Any]) -> int:
        if n == after:
            sink.error(error)
        else:
            sink.next(f"{n}\n".encode() if raw else {"n": n})
        return n + 1

    return rxspike.generate(lambda: 0, step)


def handler(fmt: str, after: int, error: Exception, options: rw.StreamOptions | None = None) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        flow = failing(after, error, raw=fmt == "raw")
        opts = options or rw.StreamOptions(statuses={LookupError: 404})
        if fmt == "sse":
            return await rw.sse(request, flow, options=opts)
        if fmt == "ndjson":
            return await rw.ndjson(request, flow, options=opts)
        return await rw.raw(request, flow, options=opts)

    return handle


@pytest.mark.parametrize("fmt", ["sse", "ndjson", "raw"])
async def test_error_before_the_first_item_is_a_real_status(
    serve: ServeFactory, session: aiohttp.ClientSession, fmt: str
) -> None:
    served = await serve(handler(fmt, 0, NotFound("no such user: 7")))
    async with session.get(served.url) as response:
        assert response.status == 404
        assert response.content_type == "application/json"
        assert await response.json() == {
            "error": "no such user: 7",
            "status": 404,
            "type": "NotFound",
            "stream": 1,
        }
    [stats] = await served.wait_ended()
    assert (stats.reason, stats.headers_sent) == (rw.EndReason.FAILED, False)


async def test_unmapped_errors_do_not_leak_their_message(
    serve: ServeFactory, session: aiohttp.ClientSession, curl: str
) -> None:
    served = await serve(handler("sse", 0, RuntimeError("password=hunter2")))
    async with session.get(served.url) as response:
        assert response.status == 500
        assert await response.json() == {
            "error": "Internal Server Error",
            "status": 500,
            "stream": 1,
        }
    code, out, _ = await run_curl(curl, "-w", "\n%{http_code}", served.url)
    assert code == 0
    assert out.endswith(b"\n500") and b"hunter2" not in out


async def test_http_exceptions_keep_their_status(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    served = await serve(handler("ndjson", 0, web.HTTPForbidden(text="not yours")))
    async with session.get(served.url) as response:
        assert response.status == 403
        body = await response.json()
    assert body["error"] == "not yours" and body["type"] == "HTTPForbidden"


SSE_TAIL = (
    b'data: {"n":0}\n\ndata: {"n":1}\n\n'
    b"event: stream-error\nid: rxspike-stream-failed\n"
    b'data: {"error":"Internal Server Error","status":500,"stream":1,"retry":false}\n\n'
)
NDJSON_TAIL = (
    b'{"n":0}\n{"n":1}\n{"error":{"error":"Internal Server Error","status":500,"stream":1}}\n'
)


@pytest.mark.parametrize(
    ("fmt", "expected"), [("sse", SSE_TAIL), ("ndjson", NDJSON_TAIL), ("raw", b"0\n1\n")]
)
async def test_error_after_items_writes_the_frame_and_truncates(
    serve: ServeFactory, session: aiohttp.ClientSession, fmt: str, expected: bytes
) -> None:
    served = await serve(handler(fmt, 2, ZeroDivisionError("boom")))
    async with session.get(served.url) as response:
        assert response.status == 200
        body, error = await read_all(response)
    assert body == expected
    assert isinstance(error, aiohttp.ClientPayloadError)  # the client can tell: truncated
    [stats] = await served.wait_ended()
    assert (stats.reason, stats.items) == (rw.EndReason.FAILED, 2)


async def test_curl_sees_the_frame_and_exits_18(serve: ServeFactory, curl: str) -> None:
    served = await serve(handler("sse", 2, ZeroDivisionError("boom")))
    code, out, err = await run_curl(curl, served.url)
    assert out == SSE_TAIL
    assert code == 18, err  # CURLE_PARTIAL_FILE: "transfer closed with outstanding read data"


async def test_close_policy_ends_cleanly_after_the_frame(
    serve: ServeFactory, session: aiohttp.ClientSession, curl: str
) -> None:
    options = rw.StreamOptions(on_error=rw.ErrorEnd.CLOSE)
    served = await serve(handler("ndjson", 2, ZeroDivisionError("boom"), options))
    async with session.get(served.url) as response:
        body, error = await read_all(response)
    assert (body, error) == (NDJSON_TAIL, None)
    code, out, _ = await run_curl(curl, served.url)
    assert (code, out) == (0, NDJSON_TAIL.replace(b'"stream":1', b'"stream":2'))


async def test_the_truncation_is_on_the_wire(serve: ServeFactory) -> None:
    """Read the raw HTTP/1.1 bytes: the aborted body lacks the final ``0\\r\\n\\r\\n`` chunk."""
    served = await serve(handler("ndjson", 1, ZeroDivisionError("boom")))
    host, port = served.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    async with asyncio.timeout(10):
        raw = await reader.read(-1)  # until the server closes
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert body.endswith(b"}}\n\r\n")
    assert not body.endswith(b"0\r\n\r\n")


async def test_encoder_failure_fails_the_stream(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.ndjson(request, rxspike.just({"ok": 1}, {"bad": object()}))

    served = await serve(handle)
    async with session.get(served.url) as response:
        body, error = await read_all(response)
    assert body.startswith(b'{"ok":1}\n{"error":')
    assert isinstance(error, aiohttp.ClientPayloadError)
    [stats] = await served.wait_ended()
    assert stats.error is not None and "TypeError" in stats.error


async def test_one_warning_line_per_failed_stream_and_no_traceback(
    serve: ServeFactory, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    served = await serve(handler("sse", 2, ZeroDivisionError("boom")))
    async with session.get(served.url) as response:
        await read_all(response)
    await served.wait_ended()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    [record] = warnings
    assert record.name == "rxspike.web" and record.exc_info is None
    assert record.getMessage().startswith("stream 1 (GET /) failed after the headers, 2 items")
    assert "ZeroDivisionError('boom')" in record.getMessage()
