"""Plain iterables as stream sources, through a real server and a real client: a generator or
a list streams as an async generator does, and a blocking iterator read through
``from_blocking_iterable`` stays off the event loop and is never read ahead of demand."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import rxspike
import rxspike.web as rw
from rxspike import RequestSubscriber
from rxspike.web._source import as_flowable

from .conftest import ServeFactory, eventually


def numbers(count: int) -> Iterator[dict[str, int]]:
    for n in range(count):
        yield {"n": n}


@pytest.mark.parametrize("kind", ["generator", "list"])
async def test_ndjson_streams_a_plain_iterable(
    kind: str, serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        source: Any = numbers(5) if kind == "generator" else list(numbers(5))
        return await rw.ndjson(request, source)

    served = await serve(handle)
    async with session.get(served.url) as response:
        assert response.status == 200
        body = await response.read()
    assert body == b"".join(b'{"n":%d}\n' % n for n in range(5))


async def test_sse_and_raw_stream_a_generator(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def events(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, (f"tick {n}" for n in range(3)))

    async def chunks(request: web.Request) -> web.StreamResponse:
        return await rw.raw(request, (b"%d," % n for n in range(4)))

    app = web.Application()
    rw.setup(app)
    app.router.add_get("/sse", events)
    app.router.add_get("/raw", chunks)
    served = await serve(app=app)
    async with session.get(served.url + "/sse") as response:
        assert await response.read() == b"data: tick 0\n\ndata: tick 1\n\ndata: tick 2\n\n"
    async with session.get(served.url + "/raw") as response:
        assert await response.read() == b"0,1,2,3,"


@pytest.mark.parametrize("value", ["text", b"bytes"])
def test_a_single_str_or_bytes_value_is_refused(value: object) -> None:
    with pytest.raises(TypeError, match=r"one (str|bytes) value; pass \[value\]"):
        as_flowable(value, 16)  # type: ignore[arg-type]


def test_something_not_iterable_is_refused() -> None:
    with pytest.raises(TypeError, match="an iterable, got int"):
        as_flowable(42, 16)  # type: ignore[arg-type]


class BlockingRows:
    """A blocking iterator: each row sleeps, as a database driver's fetch would."""

    def __init__(self) -> None:
        self.read = 0
        self.threads: set[int] = set()
        self.closed = False

    def rows(self, count: int | None = None) -> Iterator[dict[str, int]]:
        try:
            n = 0
            while count is None or n < count:
                time.sleep(0.001)
                self.threads.add(threading.get_ident())
                self.read += 1
                yield {"row": n}
                n += 1
        finally:
            self.closed = True


async def test_a_blocking_iterator_is_read_in_a_worker_thread_through_a_real_server(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    source = BlockingRows()

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.ndjson(request, rxspike.from_blocking_iterable(source.rows(20)))

    served = await serve(handle)
    async with session.get(served.url) as response:
        body = await response.read()
    assert body == b"".join(b'{"row":%d}\n' % n for n in range(20))
    assert threading.get_ident() not in source.threads  # never on the loop's thread
    assert source.closed


async def test_a_blocking_iterator_is_never_read_ahead_of_demand() -> None:
    source = BlockingRows()
    seen: list[dict[str, int]] = []
    subscriber: RequestSubscriber[dict[str, int]] = RequestSubscriber(seen.append)
    rxspike.from_blocking_iterable(source.rows()).subscribe(subscriber)
    subscriber.request(3)
    await eventually(lambda: len(seen) == 3)
    await asyncio.sleep(0.05)  # time for reads beyond demand, were there any
    assert source.read == 3
    subscriber.request(2)
    await eventually(lambda: len(seen) == 5)
    await asyncio.sleep(0.05)
    assert source.read == 5
    subscriber.cancel()
    await eventually(lambda: source.closed)


async def test_a_client_that_leaves_closes_the_blocking_iterator(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    source = BlockingRows()

    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.ndjson(request, rxspike.from_blocking_iterable(source.rows()))

    served = await serve(handle)
    response = await session.get(served.url)
    await response.content.readline()
    response.close()
    await eventually(lambda: source.closed)
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.CLIENT_GONE


def test_from_blocking_iterable_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="needs an iterable, got int"):
        rxspike.from_blocking_iterable(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Executor or None"):
        rxspike.from_blocking_iterable([], executor="pool")  # type: ignore[arg-type]
