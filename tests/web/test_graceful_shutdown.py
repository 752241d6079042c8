"""SIGTERM to a real server process with 100 open streams: every client gets the goodbye and a
complete response, and the process exits within the grace budget, where aiohttp alone would
hold each open stream for its ``shutdown_timeout`` (60 s here) and then cut it."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from .conftest import read_all

#: The demo application under ``web.run_app``, as ``rxspike serve`` runs it, on a socket the
#: script binds itself so it can say its port.
SERVER = """
import json, socket, sys
from aiohttp import web
from rxspike.demo import make_app

sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(512)
print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
web.run_app(
    make_app(), sock=sock, print=None, access_log=None, shutdown_timeout=60,
    handler_cancellation=sys.argv[1] == "True",
)
print(json.dumps({"exited": True}), flush=True)
"""

STREAMS = 100
#: ``setup(app)``'s default grace, and what the process may take on top of it (generous: a
#: loaded machine, 100 connections, interpreter exit).
GRACE, MARGIN = 5.0, 10.0

GOODBYE_SSE = re.compile(rb": Service Unavailable: the server is shutting down\nretry: \d+\n\n\Z")
GOODBYE_NDJSON = (
    b'{"error":{"error":"Service Unavailable: the server is shutting down","status":503,'
)


@pytest.fixture
async def server(
    handler_cancellation: bool,
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVER,
        str(handler_cancellation),
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            port = json.loads(await process.stdout.readline())["port"]
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def url(base: str, n: int) -> str:
    """Half SSE, half NDJSON, through the approaches that stream with the writer core."""
    fmt = "sse" if n % 2 == 0 else "ndjson"
    approach = ("pull", "async-iterator", "push-buffer", "push-throttle")[n % 4]
    return f"{base}/stream?format={fmt}&count=1000000&interval_ms=50&size=32&approach={approach}"


async def test_sigterm_with_100_open_streams(
    server: tuple[asyncio.subprocess.Process, str],
) -> None:
    process, base = server
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        responses = [await session.get(url(base, n)) for n in range(STREAMS)]
        async with asyncio.timeout(30):  # every stream is open and has sent its first item
            firsts = await asyncio.gather(*(r.content.readline() for r in responses))
        assert all(firsts)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(GRACE + MARGIN):
            endings = await asyncio.gather(*(read_all(r) for r in responses))
            await process.wait()
        exited_after = time.monotonic() - started
        for response in responses:
            response.close()
    assert process.returncode == 0
    assert exited_after < GRACE + MARGIN  # aiohttp alone: 60 s per open stream, then cut
    for n, (body, error) in enumerate(endings):
        assert error is None, (n, error)  # the final chunk came: a complete response
        if n % 2 == 0:
            assert GOODBYE_SSE.search(body), (n, body[-200:])
        else:
            assert body.splitlines()[-1].startswith(GOODBYE_NDJSON), (n, body[-200:])
