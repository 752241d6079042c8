"""The recipes of docs/guide.md run as the programs they are: each is started as a real server
process on a free port on 127.0.0.1 and read with a real client."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

RECIPES = Path(__file__).parents[2] / "docs" / "recipes"

#: ``await recipe("name.py")``: start that program, get its base URL.
Start = Callable[[str], Awaitable[str]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def recipe() -> AsyncIterator[Start]:
    """``await recipe("export.py")`` starts that program; its base URL once it listens."""
    processes: list[asyncio.subprocess.Process] = []

    async def start(name: str) -> str:
        port = free_port()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(RECIPES / name),
            env={**os.environ, "PORT": str(port)},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        processes.append(process)
        for _ in range(300):  # up to 30 s on a loaded machine
            if process.returncode is not None:
                assert process.stderr is not None
                raise AssertionError((await process.stderr.read()).decode())
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await writer.wait_closed()
            return f"http://127.0.0.1:{port}"
        raise AssertionError(f"{name} did not listen on port {port} within 30 s")

    yield start
    for process in processes:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


def events(body: bytes) -> list[dict[str, str]]:
    parsed = []
    for block in body.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            parsed.append(fields)
    return parsed


async def test_llm_tokens_streams_and_resumes(
    recipe: Start, session: aiohttp.ClientSession
) -> None:
    url = await recipe("llm_tokens.py") + "/chat?prompt=hi"
    async with session.get(url) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        first = events(await response.read())
    tokens = [json.loads(e["data"])["token"] for e in first]
    assert " ".join(tokens) == "You said 'hi'; here is the answer, token by token."
    assert [e["id"] for e in first] == [str(n) for n in range(len(tokens))]
    assert {e["event"] for e in first} == {"token"}

    # The connection dropped after token 5: the reconnect continues with token 6, once each.
    async with session.get(url, headers={"Last-Event-ID": "5"}) as response:
        resumed = events(await response.read())
    assert [e["id"] for e in resumed] == [str(n) for n in range(6, len(tokens))]
    last = str(len(tokens) - 1)
    async with session.get(url, headers={"Last-Event-ID": last}) as response:
        assert response.status == 204  # nothing more: EventSource stops reconnecting
    async with session.get(url, headers={"Last-Event-ID": "x"}) as response:
        assert response.status == 400


async def test_export_streams_every_row_from_the_blocking_database(
    recipe: Start, session: aiohttp.ClientSession
) -> None:
    url = await recipe("export.py") + "/export?rows=20000"
    async with session.get(url) as response:
        assert response.headers["Content-Type"] == "application/x-ndjson"
        assert response.headers["Transfer-Encoding"] == "chunked"
        lines = (await response.read()).splitlines()
    assert len(lines) == 20000
    assert [json.loads(line)["id"] for line in lines] == list(range(20000))
    assert json.loads(lines[-1]) == {"id": 19999, "name": "user 19999"}


async def test_live_feed_fans_out_one_producer_to_every_client(
    recipe: Start, session: aiohttp.ClientSession
) -> None:
    base = await recipe("live_feed.py")

    async def read(count: int) -> list[int]:
        seqs: list[int] = []
        async with session.get(base + "/feed") as response:
            while len(seqs) < count:
                block = await response.content.readuntil(b"\n\n")
                seqs.extend(json.loads(e["data"])["seq"] for e in events(block))
        return seqs

    first, second = await asyncio.gather(read(30), read(30))
    for seqs in (first, second):  # in order, consecutive: a client that keeps up loses nothing
        assert seqs == list(range(seqs[0], seqs[0] + 30))
    # Both saw the same feed: one producer, shared.
    assert set(first) & set(second)
    async with session.get(base + "/hub") as response:
        hub = await response.json()
    assert hub["state"] == "live" and hub["joined"] == 2
    # The hub numbers what it published from 1, starting with the first client's first item.
    first_seq = min(first[0], second[0])
    assert hub["published"] >= max(first[-1], second[-1]) - first_seq + 1
    # A new client starts with replayed readings, published before it connected.
    published_before = hub["published"]
    late = await read(6)
    assert late[0] <= first_seq + published_before - 1
    assert late == list(range(late[0], late[0] + 6))
