"""The harness probe for an ASGI application (the sse-starlette peer), served by uvicorn.

The same probe as the aiohttp one in :mod:`rxspike.harness.server` (lag and RSS sampler,
per-request records, finalizer probe, ``/_harness/*`` views), as a plain ASGI middleware.
uvicorn is imported here only, so the demo never needs it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from .loadgen import CLIENT_HEADER

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_CLIENT = CLIENT_HEADER.lower().encode("latin-1")


class AsgiProbe:
    """Wraps an ASGI app: records ``/stream`` requests, answers ``/_harness/*``."""

    def __init__(self, app: App, probe: Any) -> None:
        self.app = app
        self.probe = probe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith("/_harness/"):
            await self._view(path, scope, send)
            return
        if path != "/stream":
            await self.app(scope, receive, send)
            return
        client = next((v.decode("latin-1") for k, v in scope["headers"] if k == _CLIENT), "")
        record = self.probe.started(client)
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            record["outcome"] = "cancelled"
            raise
        except BaseException as error:
            record["outcome"] = type(error).__name__
            raise
        else:
            record["outcome"] = "returned"
        finally:
            record["ended_at"] = time.time()

    async def _view(self, path: str, scope: Scope, send: Send) -> None:
        from .server import usage

        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        body: Any
        if path == "/_harness/requests":
            body = self.probe.requests_json(query.get("prefix", ""))
        elif path == "/_harness/lag":
            since, until = float(query.get("since", 0)), float(query.get("until", "inf"))
            body = self.probe.lag_json(since, until)
        elif path == "/_harness/usage":
            body = usage()
        else:
            await _respond(send, 404, b'{"error": "no such harness view"}')
            return
        await _respond(send, 200, json.dumps(body).encode())


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def serve_asgi(
    app: App,
    probe: Any,
    host: str,
    port: int,
    *,
    ready: Callable[[int], None],
    shutdown_timeout: float,
) -> None:
    """Serve an ASGI app under uvicorn with the probe until SIGTERM/SIGINT."""
    import uvicorn

    config = uvicorn.Config(
        AsgiProbe(app, probe),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=4096,
        timeout_graceful_shutdown=int(shutdown_timeout) or 1,
    )
    server = uvicorn.Server(config)
    # uvicorn captures SIGTERM/SIGINT while it serves and re-raises them when it is done;
    # a handler that does nothing keeps that re-raise from killing the process before the
    # memray capture and the stats are written.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    probe.start_sampling()
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving  # raises what stopped it
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    sockets = [sock for s in server.servers for sock in s.sockets]
    ready(int(sockets[0].getsockname()[1]) if sockets else port)
    try:
        await serving
    finally:
        await probe.stop_sampling()
