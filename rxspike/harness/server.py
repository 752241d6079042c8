"""Run the demo server for the harness, optionally under a memray Tracker.

``python -m rxspike.harness.server --port 0 [--memray out.bin] [--stats out.json]`` imports
the demo application from :mod:`rxspike.demo`, adds two things the harness needs, and serves
it on 127.0.0.1 until SIGTERM or SIGINT:

- an event-loop lag sampler: a task that sleeps :data:`LAG_INTERVAL_S` and records how much
  later than asked it woke up, stamped with wall-clock time so the runner can cut out each
  pass's window;
- per-request records of ``/stream`` requests: the client's id (the load generator's
  ``X-Rxspike-Client`` header), when the handler started and when it ended (returned, raised
  or was cancelled);
- the finalizer probe (:mod:`rxspike.harness._finalizers`): when the app factory takes a
  ``sources`` argument (the demo's :func:`rxspike.demo.make_app` does), it is given the demo's
  source factories wrapped so that each request's record also says when its source was
  released (cancelled, disposed, closed or ended).

- a resident-set sampler (every :data:`RSS_EVERY` lag samples), for peak RSS per pass;
- ``GET /_harness/usage``: the process's CPU time, RSS, open file descriptors, asyncio
  tasks and allocated memory blocks right now (the runner takes it before and after each
  pass for CPU per item; soaks take it over time).

``GET /_harness/requests?prefix=P`` and ``GET /_harness/lag?since=T&until=U`` return them.

``--app`` names an aiohttp application factory (the demo's by default, or a peer's); a
factory that returns an ASGI application instead (the sse-starlette peer) is served by
uvicorn with the same probe (:mod:`rxspike.harness._asgi`).

When it is ready it prints one JSON line, ``{"ready": true, "port": N, "pid": P}``, on
stdout. With ``--memray`` the whole serving session (app construction, requests, shutdown)
runs inside ``memray.Tracker(destination=FileDestination(path, overwrite=True))``, and
``gc.collect()`` runs before the Tracker exits so reference cycles do not show as leaks.
With ``--stats`` the lag samples and request records are written there at shutdown.

The harness imports the demo and the web layer; it never imports the CLI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import inspect
import json
import os
import signal
import sys
import time
from array import array
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from rxspike.demo import Sources

from ._finalizers import (
    CURRENT_CLIENT,
    WRAPPED,
    FinalizerLog,
    wrap_async_generator_factory,
    wrap_sources,
)
from .loadgen import CLIENT_HEADER

#: How often the lag sampler wakes up.
LAG_INTERVAL_S = 0.005
#: How long shutdown waits for open streams before closing them.
SHUTDOWN_TIMEOUT_S = 2.0
#: The RSS is read once per this many lag samples (every 50 ms).
RSS_EVERY = 10
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int | None:
    """This process's resident set size now (Linux ``/proc``; None elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def open_fds() -> int | None:
    """File descriptors this process holds (Linux ``/proc``; None elsewhere)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def usage() -> dict[str, Any]:
    """What ``GET /_harness/usage`` answers: a snapshot of the serving process."""
    try:
        tasks: int | None = len(asyncio.all_tasks())
    except RuntimeError:  # no running loop
        tasks = None
    return {
        "time": time.time(),
        "cpu_s": time.process_time(),
        "rss": rss_bytes(),
        "fds": open_fds(),
        "tasks": tasks,
        "blocks": sys.getallocatedblocks(),
    }


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


#: The demo application's factory, as ``module:callable``.
DEFAULT_APP = "rxspike.demo:make_app"


def load_app(
    spec: str = DEFAULT_APP,
    sources: Sources | None = None,
    probe: Any = None,
    options: dict[str, Any] | None = None,
) -> Any:
    """Build the application that ``module:callable`` names (the demo server by default).

    A factory that takes ``sources`` (the demo's) is given ``sources``; one that takes
    ``source`` (a peer's) is given the peers' async generator factory, wrapped by the
    ``probe``'s finalizer log when there is one. The result is an aiohttp ``Application`` or
    an ASGI application (any other callable: the sse-starlette peer)."""
    factory = _factory(spec)
    parameters = inspect.signature(factory).parameters
    given = {k: v for k, v in (options or {}).items() if v is not None}
    unknown = sorted(set(given) - set(parameters))
    if unknown:
        raise RuntimeError(f"{spec} takes no {', '.join(unknown)}")
    if "sources" in parameters and sources is not None:
        app = factory(sources=sources, **given)
    elif "source" in parameters and probe is not None:
        from .peers.source import async_iterator_source

        probe.wrapped = ["async_iterator"]
        wrapped = wrap_async_generator_factory(async_iterator_source, probe.finalizers)
        app = factory(source=wrapped, **given)
    else:
        app = factory(**given)
    if not isinstance(app, web.Application) and not callable(app):
        raise RuntimeError(
            f"{spec} returned {type(app).__name__}, neither an aiohttp Application nor an "
            "ASGI application"
        )
    return app


def _factory(spec: str) -> Callable[..., Any]:
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    factory: object = getattr(module, attribute or "make_app", None)
    if not callable(factory):
        raise RuntimeError(f"{spec}: no such callable; expected module:factory")
    return factory


def takes_sources(spec: str) -> bool:
    """Whether the app factory ``spec`` names takes the demo's source factories."""
    return "sources" in inspect.signature(_factory(spec)).parameters


class HarnessProbe:
    """The lag sampler and the request records, attached to one application."""

    def __init__(self) -> None:
        #: Flat (wall time, lag seconds) pairs.
        self.lag = array("d")
        #: Flat (wall time, RSS bytes) pairs.
        self.rss = array("d")
        #: One dict per /stream request, in start order.
        self.requests: list[dict[str, Any]] = []
        #: When each client's source was released (the finalizer probe).
        self.finalizers = FinalizerLog()
        #: The source factories the probe wrapped (empty: finalizers are not observed).
        self.wrapped: list[str] = []
        self._task: asyncio.Task[None] | None = None

    def sources(self) -> Sources:
        """The demo's source factories, wrapped to record each source's release."""
        self.wrapped = list(WRAPPED)
        return wrap_sources(Sources(), self.finalizers)

    def install(self, app: web.Application) -> None:
        """Add the middleware, the two routes and the sampler's hooks."""
        app.middlewares.append(self._middleware)
        app.router.add_get("/_harness/requests", self._requests_view)
        app.router.add_get("/_harness/lag", self._lag_view)
        app.router.add_get("/_harness/usage", self._usage_view)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/stream":
            return await handler(request)
        record = self.started(request.headers.get(CLIENT_HEADER, ""))
        try:
            response = await handler(request)
        except asyncio.CancelledError:
            record["outcome"] = "cancelled"
            raise
        except BaseException as error:
            record["outcome"] = type(error).__name__
            raise
        else:
            record["outcome"] = "returned"
            return response
        finally:
            record["ended_at"] = time.time()

    def started(self, client: str) -> dict[str, Any]:
        """Open the record of one ``/stream`` request (and name its client for the
        finalizer probe); the adapter sets ``ended_at`` and ``outcome`` when it ends."""
        CURRENT_CLIENT.set(client)
        record: dict[str, Any] = {
            "client": client,
            "started_at": time.time(),
            "ended_at": None,
            "outcome": "running",
        }
        self.requests.append(record)
        return record

    def requests_json(self, prefix: str) -> dict[str, Any]:
        """What ``GET /_harness/requests?prefix=P`` answers."""
        released = self.finalizers.released
        chosen = [
            {
                **r,
                "source_created": r["client"] in released,
                "source_released_at": released.get(r["client"]),
            }
            for r in self.requests
            if r["client"].startswith(prefix)
        ]
        return {"requests": chosen, "probed": self.wrapped}

    def lag_json(self, since: float, until: float) -> dict[str, Any]:
        """What ``GET /_harness/lag?since=T&until=U`` answers: lag and RSS samples."""
        return {
            "lag": [[t, v] for t, v in self.samples(since, until)],
            "rss": [[t, v] for t, v in self.samples(since, until, self.rss)],
        }

    async def _requests_view(self, request: web.Request) -> web.Response:
        return web.json_response(self.requests_json(request.query.get("prefix", "")))

    async def _lag_view(self, request: web.Request) -> web.Response:
        since = float(request.query.get("since", 0))
        until = float(request.query.get("until", "inf"))
        return web.json_response(self.lag_json(since, until))

    async def _usage_view(self, request: web.Request) -> web.Response:
        return web.json_response(usage())

    def samples(
        self, since: float = 0.0, until: float = float("inf"), series: array[float] | None = None
    ) -> Iterator[tuple[float, float]]:
        """(wall time, value) samples of ``series`` (the lag) within the window."""
        flat = self.lag if series is None else series
        for i in range(0, len(flat), 2):
            if since <= flat[i] <= until:
                yield flat[i], flat[i + 1]

    async def _start(self, app: web.Application) -> None:
        self.start_sampling()

    async def _stop(self, app: web.Application) -> None:
        await self.stop_sampling()

    def start_sampling(self) -> None:
        """Start the lag and RSS sampler on the running loop."""
        self._task = asyncio.create_task(self._sample())

    async def stop_sampling(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        lag, rss = self.lag, self.rss
        tick = 0
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_INTERVAL_S)
            late = loop.time() - before - LAG_INTERVAL_S
            now = time.time()
            lag.append(now)
            lag.append(max(late, 0.0))
            tick += 1
            if tick % RSS_EVERY == 0:
                resident = rss_bytes()
                if resident is not None:
                    rss.append(now)
                    rss.append(float(resident))

    def dump(self) -> dict[str, Any]:
        return {
            "lag": [[t, v] for t, v in self.samples()],
            "requests": self.requests,
            "released": self.finalizers.released,
        }


async def serve(
    host: str,
    port: int,
    ready: Callable[[int], None],
    app_spec: str = DEFAULT_APP,
    options: dict[str, Any] | None = None,
) -> HarnessProbe:
    """Serve the app with the probe until SIGTERM/SIGINT; returns the probe.

    ``options`` are keyword arguments for the app factory (``redis_url``, ``publish_rate``).
    """
    probe = HarnessProbe()
    sources = probe.sources() if takes_sources(app_spec) else None
    app = load_app(app_spec, sources, probe, options)
    if not isinstance(app, web.Application):
        from ._asgi import serve_asgi

        await serve_asgi(app, probe, host, port, ready=ready, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        return probe
    probe.install(app)
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096, reuse_address=True)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    ready(int(bound))
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return probe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rxspike.harness.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--memray", type=Path, help="track the server with memray into this file")
    parser.add_argument("--stats", type=Path, help="write lag samples and request records here")
    parser.add_argument("--app", default=DEFAULT_APP, help="module:factory of the app to serve")
    parser.add_argument("--redis-url", help="the demo's Redis-backed feed (approach=redis)")
    parser.add_argument("--publish-rate", type=float, help="feed entries/s this server appends")
    args = parser.parse_args(argv)
    options = {"redis_url": args.redis_url, "publish_rate": args.publish_rate}
    # Import before tracking starts: module imports are not what the scenarios measure.
    importlib.import_module(args.app.partition(":")[0])

    def ready(port: int) -> None:
        print(json.dumps({"ready": True, "port": port, "pid": os.getpid()}), flush=True)

    probe: HarnessProbe
    if args.memray is not None:
        import memray

        destination = memray.FileDestination(str(args.memray), overwrite=True)
        with memray.Tracker(destination=destination):
            probe = asyncio.run(serve(args.host, args.port, ready, args.app, options))
            gc.collect()
    else:
        probe = asyncio.run(serve(args.host, args.port, ready, args.app, options))
    if args.stats is not None:
        args.stats.write_text(json.dumps(probe.dump()))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
