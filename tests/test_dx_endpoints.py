"""The same three endpoints in four libraries (examples/dx), each on a real server.

What FINDINGS.md counts in lines must be programs that work: tokens arrive with ids and the
generator stops when the client leaves, the feed is served and bounded, the log resumes
after ``Last-Event-ID`` (400 for a bad one) and a failure after the headers arrives as an
``event: error`` frame.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from examples.dx import aiohttp_app, aiohttp_sse_app, rxspike_app, sse_starlette_app
from rxspike.harness.dx import PROGRAMS, code_lines, count
from rxspike.web import ERROR_EVENT

from .web._sse import Event, parse

pytest.importorskip("uvicorn")

Factory = Callable[[], Any]
APPS: dict[str, Factory] = {
    "rxspike": rxspike_app.make_app,
    "aiohttp": aiohttp_app.make_app,
    "aiohttp-sse": aiohttp_sse_app.make_app,
    "sse-starlette": sse_starlette_app.make_app,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=list(APPS))
async def base_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    app = APPS[request.param]()
    port = _free_port()
    if isinstance(app, web.Application):
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield f"http://127.0.0.1:{port}"
        await runner.cleanup()
        return
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server._serve())  # without uvicorn's signal capture
    while not server.started:
        if task.done():
            await task
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    server.force_exit = True
    await asyncio.wait_for(task, 10)


async def _events(
    url: str, headers: dict[str, str] | None = None, limit: int = 0
) -> tuple[int, list[Event]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers=headers or {}) as response,
    ):
        if response.status != 200:
            return response.status, []
        body = b""
        try:
            while data := await response.content.readany():
                body += data
                if limit and len(parse(body).events) >= limit:
                    break
        except aiohttp.ClientPayloadError:
            pass  # rxspike aborts a failed stream after its error frame, on purpose
        return response.status, parse(body).events


async def test_tokens_arrive_with_ids(base_url: str) -> None:
    status, events = await _events(f"{base_url}/tokens")
    assert status == 200
    assert [e.data for e in events] == [f"token{i}" for i in range(20)]
    assert [e.last_event_id for e in events] == [str(i) for i in range(20)]


async def test_the_feed_streams_and_a_client_can_leave(base_url: str) -> None:
    status, events = await _events(f"{base_url}/feed", limit=20)
    assert status == 200 and len(events) >= 20
    seqs = [int(e.data.removeprefix("event")) for e in events]
    assert seqs == sorted(seqs)


async def test_the_log_resumes_and_fails_with_an_error_frame(base_url: str) -> None:
    status, events = await _events(f"{base_url}/resume", {"Last-Event-ID": "89"})
    assert status == 200
    assert [e.last_event_id for e in events] == [str(i) for i in range(90, 100)]
    bad, _ = await _events(f"{base_url}/resume", {"Last-Event-ID": "x"})
    assert bad == 400
    status, events = await _events(f"{base_url}/resume?fail=5")
    assert [e.data for e in events[:5]] == [f"entry{i}" for i in range(5)]
    # rxspike names its error event "stream-error" (a frame named "error" fires EventSource's
    # onerror, which reconnects and replays a failing stream); the others send "error".
    assert len(events) == 6 and events[-1].type in ("error", ERROR_EVENT)


def test_line_counts_skip_blank_lines_comments_and_docstrings() -> None:
    source = (
        '"""doc\nstring"""\n\nimport os  # why\n# only a comment\n'
        'def f() -> None:\n    """Doc."""\n    return None\n'
    )
    assert sorted(code_lines(source)) == [4, 6, 8]
    root = Path(__file__).resolve().parents[1] / "examples" / "dx"
    counted = {library: count(root / name) for library, name in PROGRAMS.items()}
    for library, figures in counted.items():
        assert figures["total"] > sum(v for k, v in figures.items() if k != "total"), library
        assert all(figures[e] > 0 for e in ("/tokens", "/feed", "/resume")), library
