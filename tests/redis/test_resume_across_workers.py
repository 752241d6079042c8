"""Resumable SSE across workers: two ``rxspike serve --redis-url`` processes share one feed;
clients streaming from the first reconnect to the second after it is killed, with their
``Last-Event-ID``, and every client sees every sequence number exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from rxspike.demo import make_app
from rxspike.demo.redis_feed import publish

from .server import RedisServer, free_port

COUNT = 3000
CLIENTS = 20


@dataclass
class Reader:
    """One SSE client: what it got, and how often it had to reconnect."""

    seqs: list[int] = field(default_factory=list)
    last_id: str | None = None
    reconnects: int = 0
    completed: bool = False

    @property
    def gaps(self) -> int:
        return sum(1 for a, b in zip(self.seqs, self.seqs[1:], strict=False) if b > a + 1)

    @property
    def duplicates(self) -> int:
        return len(self.seqs) - len(set(self.seqs))


async def read_events(response: aiohttp.ClientResponse, reader: Reader) -> None:
    """Parse SSE frames into ``reader`` until the body ends (or is cut: that raises)."""
    event_id = data = None
    while line := await response.content.readline():
        text = line.decode().rstrip("\n")
        if text.startswith("id: "):
            event_id = text[4:]
        elif text.startswith("data: "):
            data = text[6:]
        elif not text and data is not None:
            reader.seqs.append(int(data.split(" ", 1)[0]))
            reader.last_id = event_id
            event_id = data = None


async def follow(session: aiohttp.ClientSession, urls: list[str], reader: Reader) -> None:
    """Stream the feed from ``urls[0]``; when the connection breaks, go on at the next URL
    with ``Last-Event-ID`` (what ``EventSource`` does behind a load balancer)."""
    query = {"approach": "redis", "count": str(COUNT), "size": "16"}
    for attempt, url in enumerate(urls):
        headers = {} if reader.last_id is None else {"Last-Event-ID": reader.last_id}
        try:
            async with session.get(f"{url}/stream", params=query, headers=headers) as response:
                if response.status == 204:  # nothing left after our id
                    reader.completed = True
                    return
                assert response.status == 200, await response.text()
                await read_events(response, reader)
                reader.completed = True
                return
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
            if attempt + 1 == len(urls):
                raise
            reader.reconnects += 1


async def start_server(port: int, redis_url: str, log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from rxspike.cli import main; main()",
            "serve",
            "--port", str(port),
            "--redis-url", redis_url,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )  # fmt: skip


async def wait_serving(session: aiohttp.ClientSession, url: str, within: float = 20) -> None:
    for _ in range(int(within / 0.05)):
        with contextlib.suppress(aiohttp.ClientConnectionError):
            async with session.get(f"{url}/metrics") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.05)
    pytest.fail(f"{url} did not answer within {within} s")


async def test_clients_resume_on_a_second_server_after_the_first_is_killed(
    redis_server: RedisServer, client: Redis, tmp_path: Path
) -> None:
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    servers = [
        await start_server(port, redis_server.url, tmp_path / f"serve-{port}.log") for port in ports
    ]
    readers = [Reader() for _ in range(CLIENTS)]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            for url in urls:
                await wait_serving(session, url)

            async def producer() -> None:  # 3000 entries over about 1.5 s, as a feed would
                published = 0
                while published < COUNT:
                    await publish(client, 20)
                    published += 20
                    await asyncio.sleep(0.01)

            feeding = asyncio.create_task(producer())
            following = [asyncio.create_task(follow(session, urls, r)) for r in readers]
            for _ in range(2000):  # kill the first server mid-stream (within 20 s)
                if min(len(r.seqs) for r in readers) >= 300:
                    break
                await asyncio.sleep(0.01)
            os.killpg(servers[0].pid, signal.SIGKILL)
            await servers[0].wait()
            async with asyncio.timeout(40):
                await feeding
                await asyncio.gather(*following)
    finally:
        for server in servers:
            if server.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGKILL)
                await server.wait()
    figures = {
        "clients": len(readers),
        "reconnects": sum(r.reconnects for r in readers),
        "gaps": sum(r.gaps for r in readers),
        "duplicates": sum(r.duplicates for r in readers),
    }
    print(f"kill-a-worker: {figures}")
    assert figures == {"clients": CLIENTS, "reconnects": CLIENTS, "gaps": 0, "duplicates": 0}
    for reader in readers:
        assert reader.completed and reader.seqs == list(range(COUNT))


async def test_a_bad_last_event_id_is_a_400_and_no_redis_url_refuses_the_approach(
    redis_server: RedisServer,
) -> None:
    with_redis, without = make_app(redis_url=redis_server.url), make_app()
    runners = [web.AppRunner(app, access_log=None) for app in (with_redis, without)]
    try:
        urls = []
        for runner in runners:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            urls.append(f"http://{host}:{port}/stream?approach=redis&count=5")
        async with aiohttp.ClientSession() as session:
            async with session.get(urls[0], headers={"Last-Event-ID": "12-x"}) as response:
                body = await response.json()
                assert response.status == 400
                assert body["parameter"] == "Last-Event-ID" and "'12-x'" in body["error"]
            async with session.get(urls[1]) as response:
                assert response.status == 400
                assert "--redis-url" in (await response.json())["error"]
    finally:
        for runner in runners:
            await runner.cleanup()
