"""Labels that say what happened: a client's bad request is a client error, not a failure.

A ``Last-Event-ID`` the resume hook rejects is answered ``400``; the stream's reason is
``client_error``, nothing is logged at WARNING for it (a client can send it on every request),
and the message does not call an id it could parse but not place "malformed".
"""

from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp import web

import rxspike
import rxspike.web as rw

from .conftest import ServeFactory

COUNT = 10


def after(last_id: str | None) -> rxspike.Flowable[int]:
    start = 0 if last_id is None else int(last_id) + 1
    if not 0 <= start <= COUNT:
        raise ValueError(f"no event {last_id} in this stream of {COUNT}")
    return rxspike.range_(start, COUNT)


async def resumable(request: web.Request) -> web.StreamResponse:
    return await rw.sse(request, after(None), id=lambda n: n, resume=after)


@pytest.mark.parametrize("last_id", ["forty", "99"])
async def test_a_rejected_last_event_id_is_a_quiet_client_error(
    serve: ServeFactory,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    last_id: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="rxspike.web")
    served = await serve(resumable)
    async with session.get(served.url, headers={"Last-Event-ID": last_id}) as response:
        assert response.status == 400
        body = await response.json()
    assert body["type"] == "InvalidLastEventId"
    assert "malformed" not in body["error"]
    assert body["error"].startswith(f"rejected Last-Event-ID {last_id!r}")
    [stats] = await served.wait_ended()
    assert (stats.reason, stats.status) == (rw.EndReason.CLIENT_ERROR, 400)
    assert served.registry.totals().ended["client_error"] == 1
    assert served.registry.totals().ended["failed"] == 0
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not loud


async def test_a_server_error_before_the_headers_is_still_failed(
    serve: ServeFactory, session: aiohttp.ClientSession
) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await rw.sse(request, rxspike.error(RuntimeError("broken")))

    served = await serve(handle)
    async with session.get(served.url) as response:
        assert response.status == 500
    [stats] = await served.wait_ended()
    assert stats.reason is rw.EndReason.FAILED
