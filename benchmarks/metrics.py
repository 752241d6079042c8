"""Scraping the metrics of many open streams: what it does to their heartbeats.

The server (``python -m benchmarks.metrics --serve``, its own process) holds ``STREAMS`` idle
SSE streams, each with a heartbeat every ``HEARTBEAT`` seconds (``--heartbeat``). The client
process opens them all over plain sockets (one ``selectors`` loop: cheap enough not to be
the bottleneck) and stamps every keep-alive it receives; a heartbeat's *lateness* is the gap
since the stream's previous one minus the heartbeat. A scraper thread in the client fetches
a metrics view once a second. Phases take turns, ``ROUNDS`` times, two heartbeats long each:

- *no scrape*: the baseline;
- *Prometheus scrape*: ``rxspike.web.metrics_handler`` (aggregates kept per write: the
  scrape does not visit the streams);
- *per-stream JSON scrape*: one record per open stream, as ``/metrics`` was before it was
  paged (the demo's view without ``limit``), for contrast.

The row reports lateness p50/p99 over every heartbeat of the phase's rounds, how far the
phase moved p99 from the baseline (per round, then the median of the rounds: drift between
rounds cancels), and each scrape's median time and size. The goal: a scrape every second
at 10 000 streams moves heartbeat lateness p99 by at most 50 ms. ``--streams N`` and
``--rounds R`` size it down for a quick look.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator

from aiohttp import web

import rxspike.web as rw

from ._table import print_table

STREAMS = 10_000
#: Seconds between two heartbeats of a stream: 10 000 streams make 2000 heartbeats/s.
HEARTBEAT = 5.0
ROUNDS = 4
#: Each phase lasts two heartbeats of every stream.
SCRAPE_EVERY = 1.0
KEEPALIVE = b": keep-alive\n\n"

#: The phases, in turn: name -> the path scraped (None: no scrape).
PHASES: dict[str, str | None] = {
    "no scrape": None,
    "Prometheus scrape": "/metrics",
    "per-stream JSON scrape": "/metrics/streams",
}


# -- the server -------------------------------------------------------------------------------


async def idle(request: web.Request) -> web.StreamResponse:
    """An SSE stream that never sends an item: only its heartbeats."""

    async def silent() -> AsyncIterator[str]:
        await asyncio.Event().wait()
        yield "never"

    heartbeat = float(request.query.get("heartbeat", HEARTBEAT))
    options = rw.StreamOptions(heartbeat=heartbeat, send_timeout=None)
    return await rw.sse(request, silent(), options=options)


async def every_stream(request: web.Request) -> web.Response:
    """One record per open stream, as an unpaged JSON view does."""
    registry = rw.registry_for(request)
    body = registry.totals().as_json()
    body["streams"] = [s.as_json() for s in registry.open_streams()]
    return web.json_response(body)


def serve() -> None:
    app = web.Application()
    rw.setup(app, prometheus="/metrics")
    app.router.add_get("/idle", idle)
    app.router.add_get("/metrics/streams", every_stream)

    async def run() -> None:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


# -- the client -------------------------------------------------------------------------------


class Heartbeats:
    """Every stream's keep-alives, read by one selector loop; lateness per phase."""

    def __init__(self, port: int, streams: int, heartbeat: float) -> None:
        self._selector = selectors.DefaultSelector()
        self._last: dict[socket.socket, float] = {}
        self._buffers: dict[socket.socket, bytes] = {}
        self._heartbeat = heartbeat
        self.lateness: list[float] = []
        request = (
            f"GET /idle?heartbeat={heartbeat} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
        ).encode()
        for _ in range(streams):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(request)
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ)
            self._buffers[sock] = b""

    def run(self, seconds: float) -> None:
        """Read for ``seconds``, recording the lateness of each keep-alive after a stream's
        first one."""
        deadline = time.monotonic() + seconds
        while (now := time.monotonic()) < deadline:
            for key, _ in self._selector.select(timeout=min(0.05, deadline - now)):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                data = self._buffers[sock] + sock.recv(65536)
                arrived = time.monotonic()
                beats = data.count(KEEPALIVE)
                self._buffers[sock] = (
                    data[data.rfind(KEEPALIVE) + len(KEEPALIVE) :] if beats else data
                )
                for _ in range(beats):
                    last = self._last.get(sock)
                    if last is not None:
                        self.lateness.append(max(arrived - last - self._heartbeat, 0.0))
                    self._last[sock] = arrived

    def restart(self) -> None:
        """A new phase: lateness is counted from each stream's next keep-alive on."""
        self.lateness = []
        self._last.clear()

    def close(self) -> None:
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()


class Scraper(threading.Thread):
    """GET ``url`` every :data:`SCRAPE_EVERY` seconds until stopped; times and sizes."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self._url = url
        self._halt = threading.Event()
        self.times: list[float] = []
        self.sizes: list[int] = []

    def run(self) -> None:
        while not self._halt.is_set():
            started = time.perf_counter()
            with urllib.request.urlopen(self._url, timeout=30) as response:
                size = len(response.read())
            self.times.append(time.perf_counter() - started)
            self.sizes.append(size)
            self._halt.wait(max(0.0, SCRAPE_EVERY - (time.perf_counter() - started)))

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=60)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def measure(streams: int, rounds: int, heartbeat: float) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.metrics", "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = json.loads(server.stdout.readline())["port"]
        base = f"http://127.0.0.1:{port}"
        opened = time.perf_counter()
        heartbeats = Heartbeats(port, streams, heartbeat)
        heartbeats.run(2 * heartbeat)  # every stream answered and beat at least once
        setup_s = time.perf_counter() - opened
        lateness: dict[str, list[float]] = {name: [] for name in PHASES}
        #: Per round, each phase's p99: the deltas are taken within a round (drift cancels).
        p99s: dict[str, list[float]] = {name: [] for name in PHASES}
        scrapes: dict[str, tuple[list[float], list[int]]] = {n: ([], []) for n in PHASES}
        for _, (name, path) in itertools.product(range(rounds), PHASES.items()):
            heartbeats.restart()
            scraper = Scraper(base + path) if path is not None else None
            if scraper is not None:
                scraper.start()
            heartbeats.run(2 * heartbeat)
            if scraper is not None:
                scraper.stop()
                scrapes[name][0].extend(scraper.times)
                scrapes[name][1].extend(scraper.sizes)
            lateness[name].extend(heartbeats.lateness)
            p99s[name].append(percentile(heartbeats.lateness, 0.99))
        heartbeats.close()
    finally:
        server.terminate()
        server.wait(timeout=30)

    rows = []
    for name in PHASES:
        late, (times, sizes) = lateness[name], scrapes[name]
        moved = [p - base for p, base in zip(p99s[name], p99s["no scrape"], strict=True)]
        rows.append(
            [
                name,
                len(late),
                f"{percentile(late, 0.5) * 1000:.1f}",
                f"{percentile(late, 0.99) * 1000:.1f}",
                f"{statistics.median(moved) * 1000:+.1f}",
                f"{statistics.median(times) * 1000:.1f}" if times else "-",
                f"{statistics.median(sizes) / 1024:.1f}" if sizes else "-",
            ]
        )
    print_table(
        f"Heartbeat lateness, {streams} idle SSE streams, heartbeat {heartbeat:g} s, "
        f"a scrape every {SCRAPE_EVERY:g} s ({rounds} rounds of {2 * heartbeat:g} s per phase; "
        f"streams opened in {setup_s:.1f} s)",
        [
            "phase",
            "heartbeats",
            "lateness p50 ms",
            "p99 ms",
            "p99 moved ms (median of rounds)",
            "scrape ms (median)",
            "scrape KiB",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics", description=__doc__)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--streams", type=int, default=STREAMS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--heartbeat", type=float, default=HEARTBEAT, help="seconds")
    args = parser.parse_args(argv if argv is not None else [])
    if args.serve:
        serve()
    else:
        measure(args.streams, args.rounds, args.heartbeat)


if __name__ == "__main__":
    main(sys.argv[1:])
