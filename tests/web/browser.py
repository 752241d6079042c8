"""Headless Chromium for the tests, driven over the DevTools protocol with aiohttp's websocket
client: no Selenium, no Playwright, no driver binary, nothing but Debian's ``chromium``.

>>> CHROMIUM_FLAGS[:2]
('--headless', '--no-sandbox')
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

#: How Chromium runs here, as root, on a closed network: without the background-networking
#: flags it spends its start-up on connections the network refuses.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)


def chromium_path() -> str:
    """Chromium's path; missing, the test is skipped, or failed when CI=true."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path is not None:
            return path
    message = "chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message}; CI=true requires it")
    pytest.skip(message)


class DevToolsError(Exception):
    """Chromium answered a DevTools command with an error, or a page script threw."""


class Page:
    """One page target: send a command, get its result (events in between are ignored)."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def command(self, method: str, within: float = 10.0, **params: Any) -> dict[str, Any]:
        """Send ``method`` and wait up to ``within`` seconds for its answer."""
        message_id = next(self._ids)
        await self._socket.send_json({"id": message_id, "method": method, "params": params})
        async with asyncio.timeout(within):
            while True:
                message = await self._socket.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise DevToolsError(f"DevTools connection ended: {message.type.name}")
                answer = json.loads(message.data)
                if answer.get("id") == message_id:
                    if "error" in answer:
                        raise DevToolsError(f"{method}: {answer['error']}")
                    result: dict[str, Any] = answer["result"]
                    return result

    async def navigate(self, url: str, within: float = 10.0) -> None:
        """Open ``url`` and wait until its document has loaded (its scripts have run)."""
        result = await self.command("Page.navigate", url=url)
        if "errorText" in result:
            raise DevToolsError(f"cannot open {url}: {result['errorText']}")
        # The page may rewrite its query (history.replaceState): compare origin and path.
        loaded = (
            f"(() => {{ const url = new URL({json.dumps(url)}); return location.origin === "
            "url.origin && location.pathname === url.pathname && "
            "document.readyState === 'complete'; })()"
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not await self.evaluate(loaded):
            if loop.time() >= deadline:
                raise TimeoutError(f"{url} did not load within {within} s")
            await asyncio.sleep(0.05)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if it is a promise)."""
        result = await self.command(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")


async def _wait_for_port(process: asyncio.subprocess.Process, profile: Path, within: float) -> int:
    """Chromium writes its DevTools port to ``DevToolsActivePort`` in the profile."""
    port_file = profile / "DevToolsActivePort"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"chromium exited with {process.returncode} before it listened")
        with contextlib.suppress(FileNotFoundError, ValueError):
            lines = port_file.read_text().splitlines()
            if len(lines) >= 2:
                return int(lines[0])
        await asyncio.sleep(0.05)
    raise TimeoutError(f"chromium wrote no DevToolsActivePort within {within} s")


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Stop Chromium and every process it started (its own process group), bounded."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # helpers that outlived the browser
    await asyncio.wait_for(process.wait(), 5)


@contextlib.asynccontextmanager
async def chromium(executable: str, profile: Path, *, within: float = 15.0) -> AsyncIterator[Page]:
    """Start headless Chromium with an empty profile in ``profile``; yield its first page.

    Chromium runs in a process group of its own, killed on exit whatever happened.
    """
    process = await asyncio.create_subprocess_exec(
        executable,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        port = await _wait_for_port(process, profile, within)
        async with aiohttp.ClientSession() as session:
            async with asyncio.timeout(within):
                async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                    targets = await response.json()
                [page] = [t for t in targets if t["type"] == "page" and t["url"] == "about:blank"]
                socket = await session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
            async with socket:
                yield Page(socket)
    finally:
        await _kill(process)
