"""A real aiohttp server on 127.0.0.1 (port 0), in production mode and with
``handler_cancellation`` on, and real clients: aiohttp's ClientSession and curl."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

import rxspike.web as rw

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Served:
    """One running server: where it listens and its stream registry."""

    url: str
    app: web.Application
    runner: web.AppRunner
    registry: rw.StreamRegistry

    async def wait_ended(self, count: int = 1, within: float = 5.0) -> list[rw.StreamStats]:
        """The last ``count`` ended streams, once that many ended and none is open."""
        registry = self.registry
        await eventually(
            lambda: len(registry.recent()) >= count and not registry.totals().open, within
        )
        return registry.recent()[-count:]


async def eventually(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``predicate`` every 10 ms until it holds; fail after ``within`` seconds."""
    for _ in range(int(within / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    assert predicate(), f"condition still false after {within} s"


@pytest.fixture(params=[False, True], ids=["production", "handler_cancellation"])
def handler_cancellation(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


ServeFactory = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve(handler_cancellation: bool) -> AsyncIterator[ServeFactory]:
    """``await serve(handler)`` (or ``serve(app=...)``) starts a server; stopped after the test."""
    runners: list[web.AppRunner] = []

    async def start(
        handler: Handler | None = None, *, app: web.Application | None = None, path: str = "/"
    ) -> Served:
        if app is None:
            app = web.Application()
            rw.setup(app)
        if handler is not None:
            app.router.add_get(path, handler)
        runner = web.AppRunner(
            app, handler_cancellation=handler_cancellation, access_log=None, shutdown_timeout=5
        )
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return Served(f"http://{host}:{port}", app, runner, app[rw.REGISTRY_KEY])

    yield start
    for runner in runners:
        if runner.server is not None:  # a test may have shut it down itself
            await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client:
        yield client


@pytest.fixture(scope="session")
def curl() -> str:
    """curl's path; a missing curl skips the test, or fails it when CI=true."""
    path = shutil.which("curl")
    if path is None:
        message = "curl is not installed (apt-get install -y curl)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{message}; CI=true requires it")
        pytest.skip(message)
    return path


async def run_curl(curl: str, *args: str, within: float = 20.0) -> tuple[int, bytes, bytes]:
    """Run ``curl --no-buffer -s ARGS``; its exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        curl,
        "--no-buffer",
        "-s",
        "-S",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(within):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out, err


async def read_all(response: aiohttp.ClientResponse) -> tuple[bytes, BaseException | None]:
    """The body as far as it came, and the exception that cut it short (None: complete)."""
    chunks: list[bytes] = []
    try:
        async for chunk in response.content.iter_any():
            chunks.append(chunk)
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as error:
        return b"".join(chunks), error
    return b"".join(chunks), None
