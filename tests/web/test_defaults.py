"""Honest defaults of the adapter: a WARNING (once per application) when an application
streams without ``rxspike.web.setup(app)``; ``resume=`` alone opens a resumable stream, and a
resume hook that takes two parameters is given the request."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import reactivex.operators as ops
from aiohttp import web

import rxspike
import rxspike.web as rw
from rxspike.operators import take

from .conftest import ServeFactory, read_all

WITHOUT_SETUP = "without rxspike.web.setup(app)"


def numbers_after(last_id: str | None) -> rxspike.Flowable[int]:
    start = 0 if last_id is None else int(last_id) + 1
    return rxspike.range_(start, 5)


@pytest.fixture
async def bare_server() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Serve applications exactly as given: no ``setup(app)``."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_streaming_without_setup_warns_once_per_application(
    bare_server: Callable[[web.Application], Awaitable[str]],
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, rxspike.from_iterable(["a", "b"]))

    def app(set_up: bool) -> web.Application:
        made = web.Application()
        if set_up:
            rw.setup(made)
        made.router.add_get("/", handler)
        return made

    caplog.set_level(logging.WARNING, logger="rxspike.web")
    first, second, ready = [await bare_server(app(set_up)) for set_up in (False, False, True)]
    for url in [first, first, second, ready, ready]:
        async with session.get(url) as response:
            assert (await response.read()) == b"data: a\n\ndata: b\n\n"
    warnings = [r for r in caplog.records if WITHOUT_SETUP in r.getMessage()]
    assert len(warnings) == 2, [r.getMessage() for r in warnings]  # one per bare application
    assert all(r.levelno == logging.WARNING for r in warnings)
    assert "shutdown" in warnings[0].getMessage()


async def test_resume_alone_opens_and_resumes_the_stream(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, id=lambda n: n, resume=numbers_after)

    served = await serve(handler)
    async with session.get(served.url) as response:
        assert b"".join((await read_all(response))[:1]).count(b"id: ") == 5
    async with session.get(served.url, headers={"Last-Event-ID": "2"}) as response:
        body = await response.read()
    assert body == b"id: 3\ndata: 3\n\nid: 4\ndata: 4\n\n"
    stats = await served.wait_ended(2)
    assert [s.resumed_from for s in stats] == [None, "2"]


async def test_a_two_parameter_hook_sees_the_request(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    def per_topic(last_id: str | None, request: web.BaseRequest) -> rxspike.Flowable[str]:
        topic = request.query["topic"]
        return numbers_after(last_id).pipe(take(2), ops.map(f"{topic}-{{}}".format))

    async def handler(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, resume=per_topic)

    served = await serve(handler)
    async with session.get(served.url, params={"topic": "t"}) as response:
        assert await response.read() == b"data: t-0\n\ndata: t-1\n\n"
    headers = {"Last-Event-ID": "3"}
    async with session.get(served.url, params={"topic": "u"}, headers=headers) as response:
        assert await response.read() == b"data: u-4\n\n"


async def test_a_source_and_a_one_parameter_hook_still_work(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """The old form: the hook is called only with a Last-Event-ID, never with ``None``."""
    calls: list[str | None] = []

    def hook(last_id: str) -> rxspike.Flowable[int]:
        calls.append(last_id)
        return numbers_after(last_id)

    async def handler(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, numbers_after(None), id=lambda n: n, resume=hook)

    served = await serve(handler)
    async with session.get(served.url) as response:
        assert (await response.read()).count(b"id: ") == 5
    async with session.get(served.url, headers={"Last-Event-ID": "3"}) as response:
        assert await response.read() == b"id: 4\ndata: 4\n\n"
    assert calls == ["3"]


async def test_neither_a_source_nor_a_hook_is_a_clear_error(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await rw.sse(request)
        except TypeError as error:
            return web.Response(text=str(error))

    served = await serve(handler)
    async with session.get(served.url) as response:
        assert "sse() needs a source or resume=" in await response.text()
