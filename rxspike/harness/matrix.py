"""The error-handling matrix: what each approach does when a stream goes wrong, measured.

Every case runs against a real server process (the demo, or a peer's own) with one real
client on 127.0.0.1, and reads what happened from the client's side, the server's request
records and finalizer probe (``/_harness/requests``), its usage (``/_harness/usage``) and
its log (tracebacks written during the case):

- ``fails-before-headers``: the source raises before its first item. A real status, or a
  ``200`` whose body then breaks?
- ``fails-after-headers``: the source raises after 3 items. Can the client tell the
  failure from a complete stream (an error frame, a truncated response) and does the server
  log a traceback for it?
- ``leaves-idle``: the client reads one item of a slow stream and closes the connection.
  How long until the source is released (its ``finally`` ran, its subscription disposed)?
- ``leaves-active``: the same while the server is writing as fast as it can.
- ``frozen-client``: the client connects to a fast stream of 64 KiB items and never reads.
  How much does the server's RSS grow meanwhile, and is the source released once the
  client goes?
- ``shutdown``: the server gets SIGTERM with a stream open. Does the client get a complete
  response, and how long until the process exits?

The figures are single observations of behaviour (who notices, what the client sees), not
timings to rank: release times below the watcher's 250 ms poll are all "at once".
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from ._frames import SseFrames
from .loadgen import CLIENT_HEADER
from .processes import ServerProcess
from .runner import count_tracebacks
from .scenario import StreamSpec, Variant

#: The cases, in table order, with their column headers.
CASES: dict[str, str] = {
    "fails-before-headers": "source fails before headers",
    "fails-after-headers": "source fails after headers",
    "leaves-idle": "client leaves idle stream",
    "leaves-active": "client leaves busy stream",
    "frozen-client": "frozen client (never reads)",
    "shutdown": "SIGTERM with a stream open",
}
#: How long a released source is waited for.
RELEASE_WAIT_S = 4.0
#: How long the frozen client stays connected.
FROZEN_S = 1.5
#: Gap between items of the idle stream (longer than every watcher's poll).
IDLE_INTERVAL_MS = 1000


def _query(variant: Variant, **params: Any) -> str:
    """The ``/stream`` query, push buffers bounded in bytes as the scenarios bound them."""
    values = {"size": 64, "interval_ms": 0, **params}
    spec = StreamSpec(
        format="sse",
        count=int(values["count"]),
        size=int(values["size"]),
        interval_ms=float(values["interval_ms"]),
        fail_after=int(values.get("fail_after", 0)),
    )
    query = spec.query(variant.approach, variant.overflow)
    if "fail_after" in values:  # 0 too: the source fails before its first item
        query["fail_after"] = str(values["fail_after"])
    return urlencode(query)


async def _read_all(
    session: aiohttp.ClientSession, url: str, client: str, *, stop_after: int = 0
) -> dict[str, Any]:
    """GET and read the SSE body; stop (close abruptly) after ``stop_after`` items if set."""
    frames = SseFrames()
    items = 0
    seen: dict[str, Any] = {"status": None, "end": "complete", "error_frame": False}
    try:
        async with session.get(url, headers={CLIENT_HEADER: client}) as response:
            seen["status"] = response.status
            while data := await response.content.readany():
                items += len(frames.feed(data))
                if frames.errors:
                    seen["error_frame"] = True
                if stop_after and items >= stop_after:
                    seen["left_at"] = time.time()
                    seen["end"] = "left"
                    response.close()
                    break
    except aiohttp.ClientPayloadError:
        seen["end"] = "truncated"
    except (aiohttp.ClientError, OSError) as error:
        seen["end"] = type(error).__name__
    seen["items"] = items
    return seen


async def _released(
    session: aiohttp.ClientSession, base_url: str, client: str, since: float
) -> float | None:
    """Milliseconds from ``since`` until the client's source was released (None: never)."""
    deadline = time.monotonic() + RELEASE_WAIT_S
    while time.monotonic() < deadline:
        async with session.get(f"{base_url}/_harness/requests?prefix={client}") as response:
            records = (await response.json())["requests"]
        released = [float(r["source_released_at"]) for r in records if r.get("source_released_at")]
        if released:
            return round(max(0.0, (max(released) - since) * 1000.0), 1)
        await asyncio.sleep(0.02)
    return None


async def _usage_rss(session: aiohttp.ClientSession, base_url: str) -> int:
    async with session.get(f"{base_url}/_harness/usage") as response:
        return int((await response.json())["rss"] or 0)


async def _frozen(base_url: str, variant: Variant, client: str) -> dict[str, Any]:
    host, port = base_url.removeprefix("http://").split(":")
    async with aiohttp.ClientSession() as session:
        before = await _usage_rss(session, base_url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (host, int(port)))
        query = _query(variant, count=2000, size=65536, interval_ms=0)
        request = (
            f"GET /stream?{query} HTTP/1.1\r\nHost: {host}\r\n{CLIENT_HEADER}: {client}\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        await asyncio.sleep(FROZEN_S)  # never reads a byte
        grown = max(0, await _usage_rss(session, base_url) - before)
        closed = time.time()
        sock.close()
        released = await _released(session, base_url, client, closed)
    return {"rss_growth_mib": round(grown / 2**20, 2), "released_ms": released}


async def run_cases(
    base_url: str, variant: Variant, log: Path | None, prefix: str
) -> dict[str, Any]:
    """Every case but ``shutdown`` against one running server."""
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:

        async def traced(name: str, run: Callable[[str], Any]) -> None:
            before = count_tracebacks(log) if log else 0
            client = f"{prefix}-{name}"
            result = await run(client)
            await asyncio.sleep(0.2)  # let the server finish logging
            result["tracebacks"] = (count_tracebacks(log) if log else 0) - before
            out[name] = result

        def fails(count: int, fail_after: int) -> Callable[[str], Any]:
            async def run(client: str) -> dict[str, Any]:
                url = f"{base_url}/stream?{_query(variant, count=count, fail_after=fail_after)}"
                return await _read_all(session, url, client)

            return run

        def leaves(interval_ms: int, count: int, size: int, after: int) -> Callable[[str], Any]:
            async def run(client: str) -> dict[str, Any]:
                query = _query(variant, count=count, interval_ms=interval_ms, size=size)
                seen = await _read_all(
                    session, f"{base_url}/stream?{query}", client, stop_after=after
                )
                left = seen.get("left_at", time.time())
                seen["released_ms"] = await _released(session, base_url, client, left)
                return seen

            return run

        await traced("fails-before-headers", fails(10, 0))
        await traced("fails-after-headers", fails(10, 3))
        await traced("leaves-idle", leaves(IDLE_INTERVAL_MS, 3, 64, 1))
        await traced("leaves-active", leaves(0, 20_000, 4096, 50))
        await traced("frozen-client", lambda client: _frozen(base_url, variant, client))
    return out


async def _shutdown_case(server: ServerProcess, variant: Variant) -> dict[str, Any]:
    url = f"{server.base_url}/stream?{_query(variant, count=100, interval_ms=200)}"
    frames = SseFrames()
    result: dict[str, Any] = {"end": "complete", "items_after": 0}
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={CLIENT_HEADER: "shutdown"}) as response,
    ):
        if True:
            first = True
            stop: asyncio.Task[Any] | None = None
            signalled = 0.0
            try:
                while data := await response.content.readany():
                    got = len(frames.feed(data))
                    if first and got:
                        first = False
                        signalled = time.monotonic()
                        stop = asyncio.ensure_future(asyncio.to_thread(server.stop))
                    elif not first:
                        result["items_after"] += got
            except aiohttp.ClientPayloadError:
                result["end"] = "truncated"
            except (aiohttp.ClientError, OSError) as error:
                result["end"] = type(error).__name__
            result["client_end_ms"] = round((time.monotonic() - signalled) * 1000.0, 1)
            result["goodbye"] = bool(frames.errors) or result["items_after"] > 0
            if stop is not None:
                await stop
            result["exit_s"] = round(time.monotonic() - signalled, 2)
    return result


def run_matrix(
    variants: Sequence[Variant],
    app_for: Callable[[Variant], str],
    logs: Path,
    progress: Callable[[str], None] = lambda label: None,
) -> dict[str, dict[str, Any]]:
    """Every case for every variant; one server per program for the first five cases and a
    fresh one per variant for ``shutdown``."""
    results: dict[str, dict[str, Any]] = {v.label: {} for v in variants}
    by_app: dict[str, list[Variant]] = {}
    for variant in variants:
        by_app.setdefault(app_for(variant), []).append(variant)
    for app, group in by_app.items():
        slug = app.partition(":")[0].rsplit(".", 1)[-1]
        log = logs / f"matrix-{slug}.log"
        with ServerProcess(log=log, app=app) as server:
            for variant in group:
                found = asyncio.run(run_cases(server.base_url, variant, log, f"x-{variant.slug}"))
                results[variant.label].update(found)
    for variant in variants:
        log = logs / f"matrix-shutdown-{variant.slug}.log"
        server = ServerProcess(log=log, app=app_for(variant), stop_timeout=20.0).start()
        try:
            results[variant.label]["shutdown"] = asyncio.run(_shutdown_case(server, variant))
        finally:
            server.stop()
        results[variant.label]["shutdown"]["tracebacks"] = count_tracebacks(log)
        progress(f"matrix {variant.label}")
    return results


def _cell(case: str, r: Mapping[str, Any] | None) -> str:
    if not r:
        return "n/a"
    tb = f", {r['tracebacks']} traceback" if r.get("tracebacks") else ""
    if case in ("fails-before-headers", "fails-after-headers"):
        if r["status"] != 200:
            return f"{r['status']} status" + tb
        parts = [str(r["status"])]
        if r.get("error_frame"):
            parts.append("error frame")
        parts.append(
            {"complete": "looks complete", "truncated": "truncated"}.get(r["end"], r["end"])
        )
        return ", ".join(parts) + tb
    if case in ("leaves-idle", "leaves-active"):
        released = r.get("released_ms")
        return ("never released" if released is None else f"released in {released:.0f} ms") + tb
    if case == "frozen-client":
        released = r.get("released_ms")
        after = "never released" if released is None else f"released {released:.0f} ms after close"
        return f"+{r['rss_growth_mib']:.1f} MiB RSS in {FROZEN_S:g} s; {after}"
    end = {"complete": "complete response", "truncated": "truncated"}.get(r["end"], r["end"])
    return f"{end} after {r['client_end_ms']:.0f} ms, exit in {r['exit_s']:.1f} s" + tb


def render_matrix(matrix: Mapping[str, Mapping[str, Any]]) -> str:
    """The matrix as Markdown: one row per approach, one column per case."""
    lines = [
        "| approach | " + " | ".join(CASES.values()) + " |",
        "|---|" + "---|" * len(CASES),
    ]
    for label, cases in matrix.items():
        lines.append(f"| `{label}` | " + " | ".join(_cell(c, cases.get(c)) for c in CASES) + " |")
    return "\n".join(lines)
