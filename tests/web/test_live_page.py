"""The demo's live page (``GET /``) in a real headless Chromium: events arrive in order
through ``EventSource``; the server drops the connection (``drop_after``); the browser
reconnects with ``Last-Event-ID`` and the stream continues at the next sequence number, with
no gap and no duplicate; the final reconnect gets ``204`` and the page calls the stream
complete. Everything is read from the page's DOM over the DevTools protocol."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rxspike import demo
from rxspike.web import EndReason

from .browser import Page, chromium, chromium_path
from .conftest import ServeFactory

COUNT, DROP_AFTER = 20, 10
LIVE = f"/?count={COUNT}&size=32&interval_ms=20&drop_after={DROP_AFTER}&autostart=1"

#: What the page shows, as one JSON value (the ids are the live page's contract).
SNAPSHOT = """(() => {
  const text = (id) => document.getElementById(id).textContent;
  const rows = [...document.querySelectorAll("#connections tr")]
    .map((row) => [...row.children].map((cell) => cell.textContent));
  return {
    state: text("state"), received: Number(text("received")), lastId: text("last-id"),
    gaps: Number(text("gaps")), duplicates: Number(text("duplicates")),
    disconnects: Number(text("disconnects")), reconnects: Number(text("reconnects")),
    errors: Number(text("errors")), detail: text("detail"), url: text("url"),
    recent: text("recent").split(" ").filter((id) => id !== "").map(Number),
    connections: rows,
  };
})()"""

Snapshot = dict[str, Any]


async def until(page: Page, done: Callable[[Snapshot], bool], within: float) -> Snapshot:
    """Read the page every 50 ms until ``done`` holds; fail with the last reading."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        snapshot: Snapshot = await page.evaluate(SNAPSHOT)
        if done(snapshot):
            return snapshot
        if loop.time() >= deadline:
            pytest.fail(f"the page did not get there within {within} s: {show(snapshot)}")
        await asyncio.sleep(0.05)


def show(snapshot: Snapshot) -> str:
    return json.dumps(snapshot, indent=1)


def broken(snapshot: Snapshot) -> bool:
    """A gap, a duplicate or an error frame: no point in waiting for more."""
    return bool(snapshot["gaps"] or snapshot["duplicates"] or snapshot["errors"])


@pytest.mark.parametrize("handler_cancellation", [False], ids=["production"])
async def test_live_page_resumes_after_the_server_drops_the_connection(
    serve: ServeFactory, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    executable = chromium_path()
    served = await serve(app=demo.make_app())
    async with session.get(served.url + "/") as index:
        assert index.status == 200 and index.content_type == "text/html"
    async with chromium(executable, tmp_path / "profile") as page:
        await page.navigate(served.url + LIVE)

        # Events arrive, in order, on the first connection.
        first = await until(page, lambda s: s["received"] >= 3 or broken(s), within=10)
        assert first["url"].startswith("/stream?format=sse&")
        assert first["recent"] == list(range(len(first["recent"])))

        # The server drops it after DROP_AFTER items; the browser reconnects, sends the last
        # id, and the stream goes on from the next one. The last reconnect is answered 204.
        final = await until(page, lambda s: s["state"] == "complete" or broken(s), within=20)

    assert (final["gaps"], final["duplicates"], final["errors"]) == (0, 0, 0), show(final)
    assert final["received"] == COUNT and final["recent"] == list(range(COUNT)), show(final)
    assert final["reconnects"] >= 1, show(final)
    dropped, resumed = final["connections"][:2]
    # columns: #, opened at, Last-Event-ID sent, first id, last id, events, ended
    assert dropped[2:] == ["-", "0", str(DROP_AFTER - 1), str(DROP_AFTER), "connection lost"]
    assert resumed[2:] == [
        str(DROP_AFTER - 1),
        str(DROP_AFTER),
        str(COUNT - 1),
        str(COUNT - DROP_AFTER),
        "complete",  # a clean end, not "connection lost"
    ]

    # The server saw the same: a stream cut after DROP_AFTER items, then the rest.
    streams = [s for s in served.registry.recent() if s.request == "GET /stream"]
    assert [(s.reason, s.items) for s in streams[:2]] == [
        (EndReason.CLIENT_GONE, DROP_AFTER),
        (EndReason.COMPLETED, COUNT - DROP_AFTER),
    ]
    assert all(s.items == 0 for s in streams[2:])  # the reconnects after the end: 204


@pytest.mark.parametrize("handler_cancellation", [False], ids=["production"])
async def test_live_page_stops_on_a_failed_stream(serve: ServeFactory, tmp_path: Path) -> None:
    """The server's error event says not to retry: the page closes its EventSource, shows
    the failure, and the server sees no reconnect."""
    executable = chromium_path()
    served = await serve(app=demo.make_app())
    live = f"/?count={COUNT}&size=32&interval_ms=20&fail_after=5&autostart=1"
    async with chromium(executable, tmp_path / "profile") as page:
        await page.navigate(served.url + live)
        final = await until(page, lambda s: s["state"] == "failed", within=20)
        await asyncio.sleep(1)  # time for a reconnect the page should not make

    assert (final["received"], final["errors"], final["reconnects"]) == (5, 1, 0), show(final)
    assert "not to retry" in final["detail"], show(final)
    assert final["connections"][0][-1].startswith("failed (500 source failed"), show(final)
    streams = [s for s in served.registry.recent() if s.request == "GET /stream"]
    assert [(s.reason, s.items) for s in streams] == [(EndReason.FAILED, 5)]
