"""The SSE contract with browsers when a stream fails after its headers.

EventSource fires ``onerror`` for its own connection errors and for any server event named
``error``, and reconnects after every dropped response: a failing stream named ``error`` was
replayed every ``retry`` interval, for ever. The error frame is named
:data:`rxspike.web.ERROR_EVENT` and says whether to retry; a stream that must not be retried
sets the id :data:`rxspike.web.FAILED_ID`, so the browser's reconnect carries it and is
answered ``204``, which stops even a page that ignores the frame. Checked with aiohttp's
client and in a real headless Chromium (requests counted at the server).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

import rxspike.web as rw
from rxspike import demo

from .browser import chromium, chromium_path
from .conftest import ServeFactory, read_all

#: The page's reconnection delay (ms): short, so a loop shows within a second or two.
RETRY_MS = 100

#: A page that does nothing but open an EventSource: a client that ignores every frame.
NAIVE_PAGE = """<!doctype html><meta charset="utf-8"><title>naive</title>
<script>
window.seen = [];
const source = new EventSource("/events");
source.onmessage = (event) => window.seen.push(event.data);
</script>"""


async def failing(error: Exception) -> AsyncIterator[str]:
    yield "one"
    yield "two"
    raise error


def frames(body: bytes) -> list[dict[str, str]]:
    """The SSE events of ``body``, each as ``{field: value}``."""
    found = []
    for block in body.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if fields:
            found.append(fields)
    return found


async def test_the_error_frame_is_not_named_error_and_says_not_to_retry(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, failing(RuntimeError("boom")), id=lambda _: "7")

    served = await serve(handler)
    async with session.get(served.url) as response:
        body, _ = await read_all(response)
    last = frames(body)[-1]
    assert rw.ERROR_EVENT != "error"
    assert last["event"] == rw.ERROR_EVENT, body
    assert last["id"] == rw.FAILED_ID, body
    assert json.loads(last["data"]) == {
        "error": "Internal Server Error",
        "status": 500,
        "stream": 1,
        "retry": False,
    }

    # The browser's reconnect carries the id: 204, which ends EventSource for good.
    async with session.get(served.url, headers={"Last-Event-ID": rw.FAILED_ID}) as response:
        assert response.status == 204


async def test_a_transient_failure_is_retried_from_the_last_id(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    """A 503 or 504 may pass: the frame says retry, and keeps the last id for the resume."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, failing(TimeoutError("upstream slow")), id=lambda _: "7")

    served = await serve(handler)
    async with session.get(served.url) as response:
        body, _ = await read_all(response)
    last = frames(body)[-1]
    assert last["event"] == rw.ERROR_EVENT and "id" not in last, body
    assert json.loads(last["data"])["retry"] is True


async def test_the_demo_answers_the_failed_id_with_204(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    served = await serve(app=demo.make_app())
    query = {"count": "10", "fail_after": "3"}
    async with session.get(f"{served.url}/stream", params=query) as response:
        body, _ = await read_all(response)
    assert frames(body)[-1]["id"] == rw.FAILED_ID
    headers = {"Last-Event-ID": rw.FAILED_ID}
    async with session.get(f"{served.url}/stream", params=query, headers=headers) as response:
        assert response.status == 204


@pytest.mark.parametrize("handler_cancellation", [False], ids=["production"])
async def test_chromium_does_not_replay_a_failed_stream(
    serve: ServeFactory, tmp_path: Path
) -> None:
    executable = chromium_path()
    statuses: list[int] = []

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=NAIVE_PAGE, content_type="text/html")

    async def events(request: web.Request) -> web.StreamResponse:
        response = await rw.sse(request, failing(RuntimeError("boom")), retry=RETRY_MS)
        statuses.append(response.status)
        return response

    app = web.Application()
    rw.setup(app)
    app.router.add_get("/", page)
    app.router.add_get("/events", events)
    served = await serve(app=app)
    async with chromium(executable, tmp_path / "profile") as browser:
        await browser.navigate(served.url + "/")
        for _ in range(200):  # the first stream, bounded: 10 s
            if statuses:
                break
            await asyncio.sleep(0.05)
        # Twenty retry intervals: a page caught in the loop makes about twenty requests.
        await asyncio.sleep(20 * RETRY_MS / 1000)
        seen = await browser.evaluate("window.seen")
    assert seen[:2] == ["one", "two"]
    assert statuses == [200, 204], statuses
