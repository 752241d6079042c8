"""Prometheus exposition: a real server scraped over HTTP, the text parsed by
``prometheus_client``'s own parser. Streams open and ended by reason, items, bytes, drops by
strategy, lag and duration histograms; labels bounded; a scrape that never visits the open
streams (their writes are counted as they happen)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import reactivex
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from reactivex.disposable import Disposable

import rxspike
import rxspike.web as rw
from rxspike.operators import Overflow
from rxspike.web.metrics import MAX_STRATEGIES, OTHER_STRATEGY
from rxspike.web.prometheus import exposition

from .conftest import ServeFactory, read_all

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(f"rxspike_{name}", frozenset(labels.items()))]


async def scrape(session: aiohttp.ClientSession, url: str) -> Samples:
    async with session.get(f"{url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(await response.text())


def prometheus_app(**routes: Any) -> web.Application:
    app = web.Application()
    rw.setup(app, prometheus=True)
    for path, handler in routes.items():
        app.router.add_get(f"/{path}", handler)
    return app


async def test_a_scrape_counts_streams_items_bytes_and_endings(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    more = asyncio.Event()

    async def failing() -> AsyncIterator[str]:
        yield "one"
        yield "two"
        raise RuntimeError("boom")

    async def paused() -> AsyncIterator[str]:
        yield "first"
        await more.wait()

    async def ok(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, rxspike.from_iterable([f"item {n}" for n in range(5)]))

    async def fail(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, failing())

    async def hold(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, paused())

    served = await serve(app=prometheus_app(ok=ok, fail=fail, hold=hold))
    for path in ("ok", "fail"):
        async with session.get(f"{served.url}/{path}") as response:
            await read_all(response)
    await served.wait_ended(2)
    async with session.get(f"{served.url}/hold") as held:
        await held.content.readuntil(b"data: first\n\n")
        samples = await scrape(session, served.url)
        more.set()

    assert value(samples, "streams_open") == 1
    assert value(samples, "streams_started_total") == 3
    assert value(samples, "streams_ended_total", reason="completed") == 1
    assert value(samples, "streams_ended_total", reason="failed") == 1
    assert value(samples, "streams_ended_total", reason="client_gone") == 0
    # The tally kept per write agrees with the streams' own counts, the open one included.
    streams = [*served.registry.recent(), *served.registry.open_streams()]
    assert value(samples, "sent_items_total") == sum(s.items for s in streams) == 5 + 2 + 1
    assert value(samples, "sent_bytes_total") == sum(s.bytes for s in streams) > 0
    writes = value(samples, "writes_total")
    assert writes == sum(s.writes for s in streams) >= 3
    assert value(samples, "write_lag_seconds_count") == writes
    assert value(samples, "write_lag_seconds_bucket", le="+Inf") == writes
    assert value(samples, "stream_duration_seconds_count") == 2
    assert value(samples, "stream_duration_seconds_sum") > 0
    # No label per stream, path or anything else unbounded.
    assert {name for _, labels in samples for name, _ in labels} <= {"reason", "strategy", "le"}


async def test_drops_are_exported_by_strategy_with_bounded_labels(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """A push source far faster than a 4-item buffer: the evictions are exported under the
    stage's name. Stage names made per request (a misuse) stop at MAX_STRATEGIES labels."""
    count = 2000
    calls = 0

    def fast(observer: reactivex.abc.ObserverBase[int], _: object = None) -> Disposable:
        for n in range(count):
            observer.on_next(n)
        observer.on_completed()
        return Disposable()

    async def handle(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        name = request.query.get("name", "drop-oldest")
        buffer = rxspike.from_observable(reactivex.create(fast), 4, Overflow.DROP_OLDEST)
        return await rw.ndjson(request, buffer, stages={name: buffer})

    served = await serve(app=prometheus_app(drops=handle))
    async with session.get(f"{served.url}/drops") as response:
        delivered = len((await response.read()).splitlines())
    await served.wait_ended()
    samples = await scrape(session, served.url)
    assert value(samples, "dropped_items_total", strategy="drop-oldest") == count - delivered > 0

    for n in range(MAX_STRATEGIES + 4):
        async with session.get(f"{served.url}/drops", params={"name": f"per-request-{n}"}) as r:
            await r.read()
    await served.wait_ended(calls)
    strategies = {
        dict(labels)["strategy"]
        for name, labels in await scrape(session, served.url)
        if name == "rxspike_dropped_items_total"
    }
    assert len(strategies) == MAX_STRATEGIES + 1 and OTHER_STRATEGY in strategies


class _OpenStream:
    """An open stream that may be asked for its statistics once, when it is added."""

    id = 1

    def __init__(self) -> None:
        self.asked = 0

    def stats(self) -> rw.StreamStats:
        self.asked += 1
        return rw.StreamStats(1, "GET /", "text/plain", 0, 0, 0, 0, True, 0.0, None, None)

    def stop(self, reason: rw.EndReason) -> None: ...

    def abort(self) -> None: ...

    async def wait_closed(self) -> None: ...


def test_a_scrape_does_not_visit_the_open_streams() -> None:
    """The aggregates are kept as streams write and end, so a scrape at 10 000 open streams
    costs what it costs at one (only streams with stages are read, for their drops)."""
    registry = rw.StreamRegistry()
    streams = [_OpenStream() for _ in range(100)]
    for n, stream in enumerate(streams):
        stream.id = n + 1
        registry.add(stream)
    registry.tally.wrote(3, 30, 0.002)
    samples = parse(exposition(registry)[0].decode())
    assert value(samples, "streams_open") == 100
    assert value(samples, "sent_items_total") == 3
    assert value(samples, "write_lag_seconds_bucket", le="0.005") == 1
    assert [s.asked for s in streams] == [1] * 100  # at add() only, never at the scrape


async def test_openmetrics_when_the_scraper_asks_for_it(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    served = await serve(app=prometheus_app())
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
    async with session.get(f"{served.url}/metrics", headers=headers) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        text = await response.text()
    assert text.rstrip().endswith("# EOF") and "rxspike_streams_open 0" in text
