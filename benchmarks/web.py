"""Streaming responses: rxspike's writer next to plain aiohttp handlers, same run.

The server runs in its own process (``python -m benchmarks.web --serve``); the client is
curl writing to ``/dev/null``, one request at a time, so the figures measure the server.
Without curl, an aiohttp client process stands in, with glibc's malloc tuned
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``) so big chunks do not measure page
faults instead of the server (untuned, aiohttp's client is bimodal on 64 KiB chunks).
Each row is the median of ``REPEATS`` runs; the variants take turns, so drift hits them
alike. Ratios divide medians of one run.

Rows:

- *16-byte SSE events*: ``data: <16 bytes>\\n\\n`` per event.
  ``aiohttp, one write per event`` is the handler everyone writes first;
  ``aiohttp, hand-coalesced`` encodes each event and joins 2730 of them (64 KiB) per write,
  yielding after each: about the ceiling for a Python handler; ``rxspike.web.sse`` streams
  ``from_iterable`` of the payloads.
- *64 KiB chunks*: ``aiohttp, one write per chunk`` against ``rxspike.web.raw``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from aiohttp import web

import rxspike
import rxspike.web as rw

from ._table import print_table

REPEATS = 5
PAYLOAD = "0123456789abcdef"  # 16 bytes
FRAME = f"data: {PAYLOAD}\n\n".encode()
CHUNK = b"\xa5" * 65536
#: Requests sized to take roughly a second each on the machine this was written on.
PER_EVENT_COUNT = 200_000
EVENT_COUNT = 3_000_000
CHUNK_COUNT = 16_384  # 1 GiB


# -- the server -------------------------------------------------------------------------------


async def per_event(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for _ in range(int(request.query["n"])):
        await response.write(FRAME)
    await response.write_eof()
    return response


async def hand_coalesced(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    items = itertools.repeat(PAYLOAD, int(request.query["n"]))
    while batch := list(itertools.islice(items, 65536 // len(FRAME))):
        await response.write(b"".join([f"data: {item}\n\n".encode() for item in batch]))
        await asyncio.sleep(0)
    await response.write_eof()
    return response


async def rxspike_sse(request: web.Request) -> web.StreamResponse:
    items = itertools.repeat(PAYLOAD, int(request.query["n"]))
    return await rw.sse(request, rxspike.from_iterable(items))


async def per_chunk(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    await response.prepare(request)
    for _ in range(int(request.query["n"])):
        await response.write(CHUNK)
    await response.write_eof()
    return response


async def rxspike_raw(request: web.Request) -> web.StreamResponse:
    items = itertools.repeat(CHUNK, int(request.query["n"]))
    return await rw.raw(request, rxspike.from_iterable(items))


def serve() -> None:
    """Serve the routes on 127.0.0.1 and an ephemeral port; print ``{"port": N}`` when ready."""
    app = web.Application()
    for path, handler in [
        ("/per-event", per_event),
        ("/hand-coalesced", hand_coalesced),
        ("/rxspike-sse", rxspike_sse),
        ("/per-chunk", per_chunk),
        ("/rxspike-raw", rxspike_raw),
    ]:
        app.router.add_get(path, handler)

    async def run() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


# -- the client -------------------------------------------------------------------------------


def read_with_aiohttp(url: str) -> None:
    """The fallback client: read ``url`` to the end; print seconds and bytes as curl would."""
    import aiohttp

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            start = time.perf_counter()
            size = 0
            async with session.get(url) as response:
                async for chunk in response.content.iter_any():
                    size += len(chunk)
            print(f"{time.perf_counter() - start} {size}")

    asyncio.run(run())


def fetcher() -> tuple[str, Callable[[str], tuple[float, int]]]:
    """How to time one download: its name, and a function URL -> (seconds, bytes)."""
    curl = shutil.which("curl")
    if curl is not None:

        def with_curl(url: str) -> tuple[float, int]:
            out = subprocess.run(
                [curl, "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", url],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            seconds, size = out.split()
            return float(seconds), int(size)

        return "curl", with_curl
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="4194304", MALLOC_TRIM_THRESHOLD_="268435456")

    def with_aiohttp(url: str) -> tuple[float, int]:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.web", "--client", url],
            check=True, capture_output=True, text=True, env=env,
        ).stdout  # fmt: skip
        seconds, size = out.split()
        return float(seconds), int(size)

    return "aiohttp client (malloc tuned)", with_aiohttp


def main() -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.web", "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = json.loads(server.stdout.readline())["port"]
        client, fetch = fetcher()
        base = f"http://127.0.0.1:{port}"
        runs: dict[str, list[float]] = {}
        variants = [
            ("per-event", PER_EVENT_COUNT, len(FRAME)),
            ("hand-coalesced", EVENT_COUNT, len(FRAME)),
            ("rxspike-sse", EVENT_COUNT, len(FRAME)),
            ("per-chunk", CHUNK_COUNT, len(CHUNK)),
            ("rxspike-raw", CHUNK_COUNT, len(CHUNK)),
        ]
        for path, count, _ in variants:  # warm-up, unmeasured
            fetch(f"{base}/{path}?n={count // 10}")
        for _ in range(REPEATS):
            for path, count, size in variants:
                seconds, received = fetch(f"{base}/{path}?n={count}")
                if received != count * size:
                    raise RuntimeError(f"{path}: got {received} bytes, expected {count * size}")
                runs.setdefault(path, []).append(count / seconds)
    finally:
        server.terminate()
        server.wait()
    rate = {path: statistics.median(values) for path, values in runs.items()}
    spread = {path: (min(values), max(values)) for path, values in runs.items()}
    baseline = rate["per-event"]
    print(f"\nclient: {client}; median of {REPEATS} runs; Python {sys.version.split()[0]}")
    print_table(
        "16-byte SSE events per second",
        ["server", "events/s", "min..max", "vs one write per event"],
        [
            (
                name,
                f"{rate[path]:,.0f}",
                f"{spread[path][0]:,.0f}..{spread[path][1]:,.0f}",
                f"{rate[path] / baseline:.1f}x",
            )
            for name, path in [
                ("aiohttp, one write per event", "per-event"),
                ("aiohttp, hand-coalesced 64 KiB writes", "hand-coalesced"),
                ("rxspike.web.sse", "rxspike-sse"),
            ]
        ],
    )
    mb = {path: rate[path] * len(CHUNK) / 1e6 for path in ("per-chunk", "rxspike-raw")}
    print_table(
        "64 KiB chunks, MB/s",
        ["server", "MB/s", "min..max", "vs aiohttp"],
        [
            (
                name,
                f"{mb[path]:,.0f}",
                f"{spread[path][0] * 0.065536:,.0f}..{spread[path][1] * 0.065536:,.0f}",
                f"{mb[path] / mb['per-chunk']:.2f}x",
            )
            for name, path in [
                ("aiohttp, one write per chunk", "per-chunk"),
                ("rxspike.web.raw", "rxspike-raw"),
            ]
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="run the benchmark server")
    parser.add_argument("--client", metavar="URL", help="read URL with aiohttp, print timing")
    arguments = parser.parse_args()
    if arguments.serve:
        serve()
    elif arguments.client:
        read_with_aiohttp(arguments.client)
    else:
        main()
