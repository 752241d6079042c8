"""``rxspike serve --workers N``: N gunicorn worker processes (aiohttp's worker) serve the
demo's streams; SIGTERM stops them gracefully, open streams first, within a bounded time."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from rxspike.cli import main

from .conftest import read_all


def require_gunicorn() -> None:
    """A missing gunicorn skips the test, or fails it when CI=true (``.[dev]`` has it)."""
    if importlib.util.find_spec("gunicorn") is None:
        message = "gunicorn is not installed (pip install 'rxspike[workers]')"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{message}; CI=true requires it")
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def parent_of(pid: int) -> int:
    """The parent pid, from ``/proc/PID/stat`` (the field after the parenthesised name)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


async def wait_until_serving(session: aiohttp.ClientSession, url: str, within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        with contextlib.suppress(aiohttp.ClientConnectionError):
            async with session.get(f"{url}/metrics") as response:
                if response.status == 200:
                    return
        if loop.time() >= deadline:
            pytest.fail(f"rxspike serve --workers 2 did not answer within {within} s")
        await asyncio.sleep(0.1)


async def test_two_workers_serve_streams_and_stop_on_sigterm(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    require_gunicorn()
    port, log = free_port(), tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from rxspike.cli import main; main()",
            "serve",
            "--workers",
            "2",
            "--port",
            str(port),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    streams: list[aiohttp.ClientResponse] = []
    reading: asyncio.Future[list[tuple[bytes, BaseException | None]]] | None = None
    try:
        await wait_until_serving(session, url, within=20)
        # Streams held open, one every 50 ms, until both workers have some: the kernel hands
        # each connection to whichever worker accepts first (and the second may still boot).
        pids: set[int] = set()
        query = {"format": "ndjson", "count": "1000", "interval_ms": "200"}
        async with asyncio.timeout(20):
            while len(pids) < 2 and len(streams) < 100:
                response = await session.get(f"{url}/stream", params=query)
                streams.append(response)
                assert response.status == 200
                assert json.loads(await response.content.readline())["seq"] == 0
                pids.add(int(response.headers["X-Worker-Pid"]))
                await asyncio.sleep(0.05)
        assert len(pids) == 2, f"all {len(streams)} streams went to {pids}"
        assert {parent_of(pid) for pid in pids} == {process.pid}

        # Read while it arrives: aiohttp's client drops what it buffered once the cut is seen.
        reading = asyncio.gather(*(read_all(response) for response in streams))
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            returncode = await process.wait()
            bodies = await reading
        assert returncode == 0, log.read_text()
        for body, _ in bodies:  # every open stream ended, in both workers, and was told why
            last = json.loads(body.splitlines()[-1])
            assert last["error"]["status"] == 503, last
    finally:
        for response in streams:
            response.close()
        if reading is not None:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


def test_workers_without_gunicorn_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gunicorn", None)  # import gunicorn -> ImportError
    monkeypatch.setitem(sys.modules, "gunicorn.app.base", None)
    monkeypatch.delitem(sys.modules, "rxspike.cli._workers", raising=False)
    result = CliRunner().invoke(main, ["serve", "--workers", "2"])
    assert result.exit_code == 1
    assert "pip install 'rxspike[workers]'" in result.output


def test_workers_must_be_positive() -> None:
    result = CliRunner().invoke(main, ["serve", "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.output
