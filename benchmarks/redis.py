"""A Redis stream through ``rxspike.web.sse`` to 100 clients, next to a naive handler.

A redis-server without persistence holds one stream of ``BACKLOG`` entries. The HTTP server
runs in its own process (``python -m benchmarks.redis --serve REDIS_PORT``); 100 curl
processes read ``/rxspike`` or ``/naive`` at once, each from the first entry, and a round's
rate is every event delivered divided by the time until the last client finished. The two
take turns, ``REPEATS`` rounds each; the table shows medians and the ratio of medians.

- ``naive``: the handler one writes first: ``XREAD COUNT 1`` after the last id, then one
  ``write()`` per event;
- ``rxspike``: ``sse(request, stream_source(...).pipe(take(n)), id=..., default=...)``:
  each ``XREAD`` asks for what the socket's demand allows, up to 256 entries;
- ``rxspike-small``: the same with ``StreamOptions(max_bytes_ahead=32 KiB)``, the bound
  on what a stream keeps ahead of its client (256 KiB by default).

Heap per client: ``HEAP_CLIENTS`` clients connect to an empty stream and read nothing;
then the stream grows by ``GROWTH`` entries, and each handler takes what the buffers on the
way to its client hold (the server's send buffer is cut to ``SNDBUF``) and stalls. The
server's traced heap (``tracemalloc``, in a server process started with ``--trace``) per
client: idle, and stalled behind the backlog. Skipped, with a message, when redis-server or
curl is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

import rxspike.web as rw
from rxspike.operators import take
from rxspike.redis import stream_source

from ._table import print_table

REPEATS = 3
CLIENTS = 100
KEY = "bench"
BACKLOG = 200_000
#: Events each client reads per round: sized to take about a second or two per round.
NAIVE_EVENTS, RXSPIKE_EVENTS = 100, 1000
#: The heap part: stalled clients, and the entries the stream grows by behind them.
HEAP_CLIENTS = 20
GROWTH = 20_000
#: The third variant's bound on what one stream keeps ahead of its client (default 256 KiB).
SMALL = rw.StreamOptions(max_bytes_ahead=32 * 1024)
#: The server's send buffer in the heap part, so that the kernel holds little per client.
SNDBUF = 16 * 1024

_FILL = """
for i = 1, tonumber(ARGV[1]) do
  redis.call('XADD', KEYS[1], '*', 'seq', i, 'data', ARGV[2])
end
return redis.call('XLEN', KEYS[1])
"""


# -- the server -------------------------------------------------------------------------------


def frame(entry_id: str, fields: dict[str, str]) -> bytes:
    return f"id: {entry_id}\ndata: {json.dumps(fields, separators=(',', ':'))}\n\n".encode()


def serve(redis_port: int, trace: bool) -> None:
    """Serve ``/naive``, ``/rxspike`` and ``/heap``; print ``{"port": N}`` when ready."""
    if trace:
        tracemalloc.start()

    async def run() -> None:
        client = Redis(port=redis_port, decode_responses=True, max_connections=4 * CLIENTS)

        def small_send_buffer(request: web.Request) -> None:
            if trace and request.transport is not None:
                sock = request.transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)

        async def naive(request: web.Request) -> web.StreamResponse:
            small_send_buffer(request)
            key = request.query.get("key", KEY)
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            last = "0-0"
            for _ in range(int(request.query["n"])):
                reply: Any = None
                while not reply:  # BLOCK timed out: read again
                    reply = await client.xread({key: last}, count=1, block=1000)
                ((_, entries),) = reply.items() if isinstance(reply, dict) else reply
                entries = entries[0] if entries and isinstance(entries[0], list) else entries
                last, fields = entries[0]
                await response.write(frame(last, fields))
            await response.write_eof()
            return response

        async def rxspike_sse(request: web.Request) -> web.StreamResponse:
            small_send_buffer(request)
            key = request.query.get("key", KEY)
            flow = stream_source(client, key, after="0").pipe(take(int(request.query["n"])))
            options = SMALL if request.path == "/rxspike-small" else rw.StreamOptions()
            return await rw.sse(
                request,
                flow,
                id=lambda entry: entry.id,
                default=lambda entry: entry.fields,
                options=options,
            )

        async def heap(_: web.Request) -> web.Response:
            return web.json_response({"heap": tracemalloc.get_traced_memory()[0]})

        app = web.Application()
        app.router.add_get("/naive", naive)
        app.router.add_get("/rxspike", rxspike_sse)
        app.router.add_get("/rxspike-small", rxspike_sse)
        app.router.add_get("/heap", heap)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


# -- the driver -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_redis(binary: str, directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(500):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return process, port
        except OSError:
            time.sleep(0.01)
    process.kill()
    raise RuntimeError("redis-server did not start")


async def fill(port: int, count: int, key: str = KEY) -> None:
    client = Redis(port=port)
    for start in range(0, count, 50_000):
        await client.eval(_FILL, 1, key, min(50_000, count - start), "x" * 64)
    await client.aclose()


def start_server(redis_port: int, *, trace: bool = False) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "benchmarks.redis", "--serve", str(redis_port)]
    server = subprocess.Popen([*command, *(["--trace"] if trace else [])],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert server.stdout is not None
    return server, f"http://127.0.0.1:{json.loads(server.stdout.readline())['port']}"


def round_rate(curl: str, url: str, events: int) -> float:
    """Events/s of one round: CLIENTS curls at once, each reading ``events`` events."""
    start = time.perf_counter()
    clients = [
        subprocess.Popen([curl, "-s", "-N", f"{url}?n={events}"], stdout=subprocess.PIPE)
        for _ in range(CLIENTS)
    ]
    for client in clients:
        out, _ = client.communicate()
        got = out.count(b"\n\n")
        if got != events:
            raise RuntimeError(f"{url}: got {got} events, expected {events}")
    return CLIENTS * events / (time.perf_counter() - start)


def heap_per_client(redis_port: int, path: str) -> tuple[float, float]:
    """KiB of heap per idle client, and per client once the stream grew by GROWTH entries
    that the clients do not read (each takes what its buffers hold, then stalls)."""
    server, base = start_server(redis_port, trace=True)

    def heap() -> int:
        out = subprocess.run(["curl", "-s", f"{base}/heap"], check=True, capture_output=True).stdout
        return int(json.loads(out)["heap"])

    stalled: list[socket.socket] = []
    try:
        before = heap()
        key = f"heap{path.replace('/', '-')}"
        for _ in range(HEAP_CLIENTS):
            conn = socket.socket()
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            conn.connect(("127.0.0.1", int(base.rsplit(":", 1)[1])))
            request = f"GET {path}?n={10**9}&key={key} HTTP/1.1\r\nHost: x\r\n\r\n"
            conn.sendall(request.encode())
            stalled.append(conn)
        time.sleep(1)  # connected, idle: the stream is empty
        with_clients = heap()
        asyncio.run(fill(redis_port, GROWTH, key))
        grown, previous = heap(), -1
        for _ in range(120):  # until the handlers stalled: the heap stops changing (<= 60 s)
            time.sleep(0.5)
            grown, previous = heap(), grown
            if abs(grown - previous) < 4096:
                break
    finally:
        for conn in stalled:
            conn.close()
        server.terminate()
        server.wait()
    return (with_clients - before) / HEAP_CLIENTS / 1024, (grown - before) / HEAP_CLIENTS / 1024


def main() -> None:
    binary, curl = shutil.which("redis-server"), shutil.which("curl")
    if binary is None or curl is None:
        print("skipped: needs redis-server and curl (apt-get install -y redis-server curl)")
        return
    with tempfile.TemporaryDirectory() as directory:
        redis, redis_port = start_redis(binary, Path(directory))
        try:
            asyncio.run(fill(redis_port, BACKLOG))
            server, base = start_server(redis_port)
            events = {"naive": NAIVE_EVENTS, "rxspike": RXSPIKE_EVENTS}
            events["rxspike-small"] = RXSPIKE_EVENTS
            runs: dict[str, list[float]] = {path: [] for path in events}
            try:
                for path in events:  # warm-up, unmeasured
                    round_rate(curl, f"{base}/{path}", 10)
                for _ in range(REPEATS):
                    for path, count in events.items():
                        runs[path].append(round_rate(curl, f"{base}/{path}", count))
            finally:
                server.terminate()
                server.wait()
            heaps = {path: heap_per_client(redis_port, f"/{path}") for path in runs}
        finally:
            redis.terminate()
            redis.wait()
    rate = {path: statistics.median(values) for path, values in runs.items()}
    print(f"\n{CLIENTS} curl clients at once; median of {REPEATS} interleaved rounds; "
          f"Python {sys.version.split()[0]}")  # fmt: skip
    print_table(
        f"Redis stream -> SSE, {CLIENTS} clients, events/s (all clients together)",
        [
            "server",
            "events/s",
            "min..max",
            "vs naive",
            "heap/idle client",
            f"heap/stalled client, +{GROWTH:,} entries",
        ],
        [
            (
                name,
                f"{rate[path]:,.0f}",
                f"{min(runs[path]):,.0f}..{max(runs[path]):,.0f}",
                f"{rate[path] / rate['naive']:.1f}x",
                f"{heaps[path][0]:.1f} KiB",
                f"{heaps[path][1]:.1f} KiB",
            )
            for name, path in [
                ("naive: one XREAD per event", "naive"),
                ("rxspike.web.sse over stream_source", "rxspike"),
                ("the same, max_bytes_ahead=32 KiB", "rxspike-small"),
            ]
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, metavar="REDIS_PORT", help="run the server")
    parser.add_argument("--trace", action="store_true", help="trace the heap (tracemalloc)")
    arguments = parser.parse_args()
    if arguments.serve:
        serve(arguments.serve, arguments.trace)
    else:
        main()
