"""Nothing escapes a handler as a traceback: an exception raised into the writer by the
source's ``request()`` (or ``cancel()``) ends the stream like a failing source, with a real
status before the headers and the format's error frame after them."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import rxspike
import rxspike.web as rw
from rxspike import Subscriber

from .conftest import ServeFactory, read_all


class Broken(Exception):
    pass


def raising_on_request() -> rxspike.Flowable[str]:
    """Answers the first ``request()`` with one item, and raises out of every later one
    (against rule 3.5), and out of ``cancel()`` too (against rule 3.15)."""

    def subscribe(subscriber: Subscriber[str]) -> None:
        calls = 0

        class Subscription:
            def request(self, n: int) -> None:
                nonlocal calls
                calls += 1
                if calls > 1:
                    raise Broken("request() blew up")
                subscriber.on_next("item 1")

            def cancel(self) -> None:
                raise Broken("cancel() blew up too")

        subscriber.on_subscribe(Subscription())

    return rxspike.Flowable(subscribe)


def raising_at_once() -> rxspike.Flowable[str]:
    """Raises out of its first ``request()``."""

    def subscribe(subscriber: Subscriber[str]) -> None:
        class Subscription:
            def request(self, n: int) -> None:
                raise Broken("request() blew up")

            def cancel(self) -> None:
                pass

        subscriber.on_subscribe(Subscription())

    return rxspike.Flowable(subscribe)


@pytest.fixture(autouse=True)
def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.DEBUG)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def test_request_raising_after_the_headers_writes_the_error_frame(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, raising_on_request())

    served = await serve(handle)
    async with session.get(served.url) as response:
        assert response.status == 200
        body, cut = await read_all(response)
    first, frame = body.split(b"\n\n")[:2]
    assert first == b"data: item 1"
    assert b'"status":500' in frame.replace(b" ", b"")  # the error frame, after the item
    assert isinstance(cut, aiohttp.ClientPayloadError)  # ErrorEnd.ABORT: truncated
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.FAILED
    assert "request() blew up" in (stats.error or "")


async def test_request_raising_before_the_headers_is_a_500(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.ndjson(request, raising_at_once())

    served = await serve(handle)
    async with session.get(served.url) as response:
        assert response.status == 500
        assert (await response.json())["error"] == "Internal Server Error"
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.FAILED
