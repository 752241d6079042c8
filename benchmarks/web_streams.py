"""Many slow streams: rxspike's writer next to the plain aiohttp handler, same run.

The LLM-like case: ``STREAMS`` SSE streams of ``RATE`` tokens per second each, every token
an async generator's ``yield`` after a sleep until its scheduled time. The server runs in
its own process pinned to one core (``taskset``), the client in another pinned to the other
core: one asyncio process holding every connection with a bare protocol that only counts
and timestamps events. The variants take turns (``ROUNDS`` interleaved rounds, medians).

Per variant:

- *CPU per token*: the server process's CPU time over the measured window (every stream
  open and streaming) divided by the tokens its sources yielded (and it wrote) in it;
- *loop lag p99*: how late a 5 ms ticker in the server woke, over the window;
- *late tokens*: tokens that reached the client more than 50 ms after their scheduled time
  (both processes read the same monotonic clock), p99 lateness beside it;
- *RSS per idle stream*: a fresh server's RSS with ``IDLE`` idle SSE streams open (headers
  sent, the source waiting), minus its RSS before, per stream;
- *finalizer after FIN*: clients of idle streams close one by one; how long until each
  stream's source finalizer ran (the plain handler's never runs: it is never told).

Each is measured with asyncio's own loop and with uvloop (the ``uvloop`` extra), if present.

``RXSPIKE_BENCH_STREAMS`` (default 1000), ``RXSPIKE_BENCH_SECONDS`` (3 per round) and
``RXSPIKE_BENCH_ROUNDS`` (3) size it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

import rxspike.web as rw

from ._table import print_table

STREAMS = int(os.environ.get("RXSPIKE_BENCH_STREAMS", "1000"))
SECONDS = float(os.environ.get("RXSPIKE_BENCH_SECONDS", "3"))
ROUNDS = int(os.environ.get("RXSPIKE_BENCH_ROUNDS", "3"))
RATE = 50  # tokens per second per stream
IDLE = 1000  # idle streams for the RSS figure
LATE = 0.05  # seconds: a token later than this is late
TICK = 0.005  # the loop-lag ticker's period
OPTIONS = rw.StreamOptions(heartbeat=None)
VARIANTS = [("plain", "aiohttp, one write per token"), ("rxspike", "rxspike.web.sse")]


# -- the server -------------------------------------------------------------------------------


class Probe:
    """What the server measures about itself: loop lag and idle finalizers."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.finalized: list[float] = []
        #: Tokens yielded by every stream's source: each is written at once, by both
        #: variants, so this counts tokens written even when the client falls behind.
        self.tokens = 0

    async def tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + TICK
            await asyncio.sleep(TICK)
            self.lags.append(loop.time() - due)


PROBE = Probe()


async def tokens(count: int) -> AsyncIterator[str]:
    """``count`` tokens, each yielded at its scheduled time; the token is that time."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index in range(count):
        due = start + (index + 1) / RATE
        await asyncio.sleep(max(0.0, due - loop.time()))
        PROBE.tokens += 1
        yield f"{due:.6f}"


async def idle() -> AsyncIterator[str]:
    """One event (so the headers go out), then nothing, ever; its ``finally`` tells when
    the stream let go of it."""
    try:
        yield "open"
        await asyncio.Event().wait()
    finally:
        PROBE.finalized.append(time.monotonic())


async def plain_tokens(request: web.Request) -> web.StreamResponse:
    """The handler everyone writes first: one task, one write per token."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    try:
        async for token in tokens(int(request.query["n"])):
            await response.write(f"data: {token}\n\n".encode())
        await response.write_eof()
    except ConnectionError:
        pass  # the client left: its next write told us
    return response


async def rxspike_tokens(request: web.Request) -> web.StreamResponse:
    return await rw.sse(request, tokens(int(request.query["n"])), options=OPTIONS)


async def plain_idle(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    async for token in idle():
        await response.write(f"data: {token}\n\n".encode())
    return response


async def rxspike_idle(request: web.Request) -> web.StreamResponse:
    return await rw.sse(request, idle(), options=rw.StreamOptions(heartbeat=1e9))


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def stats(request: web.Request) -> web.Response:
    gc.collect()
    body = {
        "cpu": time.process_time(),
        "tokens": PROBE.tokens,
        "rss": rss(),
        "lags": PROBE.lags,
        "finalized": PROBE.finalized,
    }
    if request.query.get("reset"):
        PROBE.lags, PROBE.finalized = [], []
    return web.json_response(body)


def serve(use_uvloop: bool) -> None:
    """Serve on 127.0.0.1 and an ephemeral port; print ``{"port": N}`` when ready."""
    app = web.Application()
    rw.setup(app)
    for path, handler in [
        ("/plain-tokens", plain_tokens),
        ("/rxspike-tokens", rxspike_tokens),
        ("/plain-idle", plain_idle),
        ("/rxspike-idle", rxspike_idle),
        ("/stats", stats),
    ]:
        app.router.add_get(path, handler)

    async def run() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        ticker = asyncio.create_task(PROBE.tick())
        print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            ticker.cancel()

    if use_uvloop:
        import uvloop

        uvloop.run(run())
    else:
        asyncio.run(run())


# -- the client -------------------------------------------------------------------------------


class Reader(asyncio.Protocol):
    """One connection: sends the request, counts events, keeps each token's lateness."""

    def __init__(self, request: bytes, window: list[float | None]) -> None:
        self.request = request
        self.window = window
        self.buffer = b""
        self.events = 0
        self.counted = 0
        self.lateness: list[float] = []
        self.first = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buffer += data
        *frames, self.buffer = self.buffer.split(b"\n\n")
        start, end = self.window
        for frame in frames:
            at = frame.rfind(b"data: ")
            if at < 0:
                if not self.first.done():
                    self.first.set_result(None)
                continue
            self.events += 1
            if not self.first.done():
                self.first.set_result(None)
            if start is not None and end is None:
                self.counted += 1
                token = frame[at + 6 :].split(b"\r\n")[0]
                self.lateness.append(now - float(token))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.first.done():
            self.first.set_result(None)


async def client(port: int, path: str, count: int, seconds: float) -> dict[str, Any]:
    """Open ``count`` streams of ``path``; measure ``seconds`` once all are streaming."""
    loop = asyncio.get_running_loop()
    import aiohttp

    n = int((seconds + 2 + count / 500) * RATE)
    request = f"GET {path}?n={n} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    window: list[float | None] = [None, None]
    readers: list[Reader] = []
    for index in range(count):
        reader = Reader(request, window)
        await loop.create_connection(lambda r=reader: r, "127.0.0.1", port)  # type: ignore[misc]
        readers.append(reader)
        if index % 50 == 49:
            await asyncio.sleep(0)
    await asyncio.gather(*(r.first for r in readers))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/stats?reset=1") as response:
            before = await response.json()
        window[0] = time.monotonic()
        await asyncio.sleep(seconds)
        window[1] = time.monotonic()
        async with session.get(f"http://127.0.0.1:{port}/stats") as response:
            after = await response.json()
    for reader in readers:
        assert reader.transport is not None
        reader.transport.close()
    tokens = after["tokens"] - before["tokens"]
    lateness = sorted(x for r in readers for x in r.lateness)
    lags = sorted(after["lags"])
    return {
        "cpu_per_token": (after["cpu"] - before["cpu"]) / max(tokens, 1),
        "cpu_share": (after["cpu"] - before["cpu"]) / seconds,
        "tokens": tokens,
        "expected": count * seconds * RATE,
        "received": sum(r.counted for r in readers),
        "lag_p99": lags[int(len(lags) * 0.99)] if lags else float("nan"),
        "late": sum(1 for x in lateness if x > LATE) / max(len(lateness), 1),
        "late_p99": lateness[int(len(lateness) * 0.99)] if lateness else float("nan"),
    }


async def idle_client(port: int, path: str, count: int) -> dict[str, Any]:
    """RSS per idle stream, then each client leaves; how long until its finalizer ran."""
    loop = asyncio.get_running_loop()
    import aiohttp

    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/stats?reset=1") as response:
            before = await response.json()
        readers: list[Reader] = []
        window: list[float | None] = [None, None]
        for index in range(count):
            reader = Reader(request, window)
            await loop.create_connection(lambda r=reader: r, "127.0.0.1", port)  # type: ignore[misc]
            readers.append(reader)
            if index % 50 == 49:
                await asyncio.sleep(0)
        await asyncio.gather(*(r.first for r in readers))
        await asyncio.sleep(0.5)
        async with session.get(f"http://127.0.0.1:{port}/stats") as response:
            opened = await response.json()
        closed: list[float] = []
        for reader in readers[:200]:  # FINs 2 ms apart: a spread of moments to notice them
            assert reader.transport is not None
            reader.transport.close()
            closed.append(time.monotonic())
            await asyncio.sleep(0.002)
        await asyncio.sleep(1.0)
        async with session.get(f"http://127.0.0.1:{port}/stats") as response:
            after = await response.json()
        for reader in readers[200:]:
            assert reader.transport is not None
            reader.transport.close()
    finalized = sorted(after["finalized"])
    latencies = sorted(f - c for f, c in zip(finalized, closed, strict=False))
    return {
        "rss_per_stream": (opened["rss"] - before["rss"]) / count,
        "finalized": len(finalized),
        "fin_p50": statistics.median(latencies) if latencies else None,
        "fin_p99": latencies[int(len(latencies) * 0.99)] if latencies else None,
    }


# -- the driver -------------------------------------------------------------------------------


def pinned(core: int) -> list[str]:
    taskset = shutil.which("taskset")
    cores = os.cpu_count() or 1
    return [taskset, "-c", str(core % cores)] if taskset else []


class Server:
    def __init__(self, use_uvloop: bool) -> None:
        flags = ["--uvloop"] if use_uvloop else []
        self.process = subprocess.Popen(
            [*pinned(0), sys.executable, "-m", "benchmarks.web_streams", "--serve", *flags],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = json.loads(self.process.stdout.readline())["port"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def run_client(*arguments: str) -> dict[str, Any]:
    out = subprocess.run(
        [*pinned(1), sys.executable, "-m", "benchmarks.web_streams", "--client", *arguments],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return dict(json.loads(out.strip().splitlines()[-1]))


def median(runs: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in runs if r[key] is not None]
    return statistics.median(values) if values else float("nan")


def main() -> None:
    loops = ["asyncio"] + (["uvloop"] if importlib.util.find_spec("uvloop") else [])
    tokens: dict[tuple[str, str], list[dict[str, Any]]] = {}
    idles: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for loop_name in loops:
        server = Server(loop_name == "uvloop")
        try:
            for _ in range(ROUNDS):
                for variant in ("plain", "rxspike"):
                    result = run_client(
                        "tokens", str(server.port), f"/{variant}-tokens", str(STREAMS), str(SECONDS)
                    )
                    tokens.setdefault((loop_name, variant), []).append(result)
        finally:
            server.stop()
        for _ in range(ROUNDS):
            for variant in ("plain", "rxspike"):
                server = Server(loop_name == "uvloop")  # fresh: RSS not blurred by reuse
                try:
                    result = run_client("idle", str(server.port), f"/{variant}-idle", str(IDLE))
                finally:
                    server.stop()
                idles.setdefault((loop_name, variant), []).append(result)
    print(
        f"\n{STREAMS} streams x {RATE} tokens/s, {SECONDS:g} s measured per round, "
        f"median of {ROUNDS} interleaved rounds; server and client pinned to separate cores"
        f"{'' if shutil.which('taskset') else ' (no taskset here: not pinned)'}; "
        f"Python {sys.version.split()[0]}"
    )
    rows: list[tuple[str, ...]] = []
    for loop_name in loops:
        plain = median(tokens[(loop_name, "plain")], "cpu_per_token")
        for variant, name in VARIANTS:
            runs = tokens[(loop_name, variant)]
            cpu = median(runs, "cpu_per_token")
            rows.append(
                (
                    loop_name,
                    name,
                    f"{cpu * 1e6:.1f} us",
                    f"{cpu / plain:.2f}x",
                    f"{median(runs, 'cpu_share') * 100:.0f} %",
                    f"{median(runs, 'lag_p99') * 1000:.1f} ms",
                    f"{median(runs, 'late') * 100:.2f} %",
                    f"{median(runs, 'late_p99') * 1000:.1f} ms",
                    f"{median(runs, 'tokens') / median(runs, 'expected'):.3f}",
                )
            )
    print_table(
        "LLM-like: many slow SSE streams",
        [
            "loop",
            "server",
            "CPU per token",
            "vs plain",
            "server CPU",
            "loop lag p99",
            "late tokens",
            "lateness p99",
            "delivered / nominal",
        ],
        rows,
    )
    rows = []
    for loop_name in loops:
        for variant, name in VARIANTS:
            runs = idles[(loop_name, variant)]
            fin = [r for r in runs if r["finalized"]]
            rows.append(
                (
                    loop_name,
                    name,
                    f"{median(runs, 'rss_per_stream') / 1024:.1f} KiB",
                    f"{median(fin, 'fin_p50') * 1000:.1f} ms" if fin else "never",
                    f"{median(fin, 'fin_p99') * 1000:.1f} ms" if fin else "never",
                )
            )
    print_table(
        f"{IDLE} idle SSE streams: memory, and the client leaving (200 FINs, 2 ms apart)",
        ["loop", "server", "RSS per stream", "finalizer after FIN, p50", "p99"],
        rows,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="run the benchmark server")
    parser.add_argument("--uvloop", action="store_true", help="serve on uvloop")
    parser.add_argument("--client", nargs="+", metavar="ARG", help="run one client round")
    arguments = parser.parse_args()
    if arguments.serve:
        serve(arguments.uvloop)
    elif arguments.client:
        kind, port, path, *rest = arguments.client
        if kind == "tokens":
            outcome = asyncio.run(client(int(port), path, int(rest[0]), float(rest[1])))
        else:
            outcome = asyncio.run(idle_client(int(port), path, int(rest[0])))
        print(json.dumps(outcome))
    else:
        main()
