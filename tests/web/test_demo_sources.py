"""The demo takes its source factories as an argument: ``make_app(sources=Sources(...))``
streams what the given factories make (the scenario harness hands in wrapped ones), and the
approach and format names come from one place."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import pytest

import rxspike
from rxspike import demo
from rxspike.harness import APPROACHES as HARNESS_APPROACHES
from rxspike.harness import scenario
from rxspike.harness._finalizers import FinalizerLog, wrap_sources
from rxspike.web import ServerSentEvent

from .conftest import ServeFactory


async def test_the_app_streams_from_the_factories_it_was_given(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    asked: list[demo.Params] = []

    def pull(params: demo.Params) -> rxspike.Flowable[Any]:
        asked.append(params)
        return rxspike.from_iterable([ServerSentEvent(f"mine {n}", id=n) for n in range(2)])

    served = await serve(app=demo.make_app(sources=demo.Sources(pull=pull)))
    async with session.get(f"{served.url}/stream", params={"count": "7"}) as response:
        body = await response.read()
    assert body == b"id: 0\ndata: mine 0\n\nid: 1\ndata: mine 1\n\n"
    assert [(p.approach, p.count) for p in asked] == [(demo.Approach.PULL, 7)]


@pytest.mark.parametrize("approach", ["pull", "push-buffer", "push-unbounded", "async-iterator"])
async def test_wrapped_factories_see_each_source_released(
    serve: ServeFactory, session: aiohttp.ClientSession, approach: str
) -> None:
    """What the harness does: the demo's factories, wrapped, passed in; no patching."""
    log = FinalizerLog()
    sources = wrap_sources(demo.Sources(), log)
    assert dataclasses.astuple(sources) != dataclasses.astuple(demo.Sources())
    served = await serve(app=demo.make_app(sources=sources))
    query = {"approach": approach, "count": "3", "format": "ndjson"}
    async with session.get(f"{served.url}/stream", params=query) as response:
        assert len((await response.read()).splitlines()) == 3
    await served.wait_ended()
    assert log.anonymous == 1  # created (no client id header here), through the wrapper


def test_the_names_are_defined_once() -> None:
    # approach=redis needs a server with --redis-url, so the in-process list leaves it out
    in_process = tuple(a.value for a in demo.Approach if a is not demo.Approach.REDIS)
    assert demo.APPROACHES == in_process == HARNESS_APPROACHES
    assert HARNESS_APPROACHES is demo.APPROACHES
    assert tuple(f.value for f in demo.Format) == demo.FORMATS
    assert vars(scenario)["FORMATS"] is demo.FORMATS  # the harness checks scenarios with them
