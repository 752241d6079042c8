"""The load generator: many concurrent HTTP clients reading one scenario's streams.

It runs in its own process (the runner's), never in the server's, on one asyncio loop with
aiohttp's ``ClientSession``. Each client opens ``GET /stream``, parses the sequence numbers
out of the body and keeps, per client: time to the first item, the gaps between items,
bytes, which sequence numbers arrived, how the stream ended and which errors it saw.

Three client behaviours:

- a *full* reader reads whatever the socket has, as fast as it can;
- a *slow* reader reads small pieces and sleeps so that it consumes items at
  ``clients.read_rate`` times the producer's nominal rate. Its socket has a small receive
  buffer (``SO_RCVBUF``) and aiohttp's read buffer is small, so when it sleeps the kernel's
  window closes and the server really is blocked: nothing piles up on the client's side;
- a *leaver* closes the connection (an abrupt TCP close) after ``clients.disconnect_after``
  items, and a slow reader leaves after ``clients.read_for_s`` seconds;
- a *resuming* client (``clients.resume``) whose stream broke reconnects at once with
  ``Last-Event-ID`` set to the last id it got, as ``EventSource`` does, until the stream
  ends cleanly (or answers 204); duplicates and gaps across reconnects show in its
  accounting.

A pass is one crowd of ``clients.count`` clients, or several crowds one after the other
until ``min_duration_s`` (or a soak's ``clients.run_for_s``) has passed: short workloads
are repeated until the pass is long enough to time.

Every request carries an ``X-Rxspike-Client`` header so the harness's server launcher can
match its per-request records (handler end, clean-up time) to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ._frames import SseFrames, frames_for
from .scenario import Scenario, Variant

#: Header naming the client, for the server launcher's request records.
CLIENT_HEADER = "X-Rxspike-Client"
#: Receive buffer asked for on a slow reader's socket (the kernel doubles it).
SLOW_RCVBUF = 4096
#: aiohttp's read buffer for slow readers: it stops reading the socket above twice this.
SLOW_READ_BUFSIZE = 4096
#: Most reconnects one resuming client makes (a server that never completes cannot keep a
#: pass running forever).
MAX_RECONNECTS = 1000


@dataclass(slots=True)
class ClientRecord:
    """What one client saw."""

    #: Position in the crowd (connect order).
    index: int
    #: ``full``, ``slow`` or ``leaver``.
    role: str
    #: The id sent in :data:`CLIENT_HEADER`.
    client_id: str
    #: HTTP status, None if no response arrived.
    status: int | None = None
    #: Seconds from sending the request to the first item (None: no item arrived).
    ttfb_s: float | None = None
    #: Seconds between consecutive items.
    gaps: array[float] = field(default_factory=lambda: array("d"))
    #: Body bytes received.
    bytes: int = 0
    #: Items received (sequence numbers parsed), duplicates included.
    items: int = 0
    #: Distinct sequence numbers received.
    distinct: int = 0
    #: Highest sequence number received (-1: none).
    max_seq: int = -1
    #: Items that arrived with a sequence number at or below an earlier one.
    out_of_order: int = 0
    #: ``complete`` (clean end), ``left`` (the client disconnected on purpose), ``error``
    #: (the stream broke or signalled an error) or ``timeout``.
    end: str = "pending"
    #: The exception class (or in-band error) that ended the stream, if any.
    error: str | None = None
    #: In-band error events the server sent.
    inband_errors: list[str] = field(default_factory=list)
    #: Wall-clock time (``time.time()``) the client disconnected on purpose.
    left_at: float | None = None
    #: Wall-clock time the request was sent and the stream ended.
    started_at: float = 0.0
    ended_at: float = 0.0
    #: Times a resuming client reconnected after its stream broke.
    reconnects: int = 0
    #: The last SSE id received: what a reconnect sends as ``Last-Event-ID``.
    last_event_id: str | None = None

    def accounting(self, expected_full: int) -> dict[str, int]:
        """Expected / delivered / missing items for this client.

        A client that read to a clean end expected the whole stream (``expected_full``);
        one that left or whose stream broke expected everything up to the last item it saw.
        """
        if self.end == "complete" and not self.inband_errors:
            expected = expected_full
        else:
            expected = self.max_seq + 1
        expected = max(expected, self.max_seq + 1)
        return {
            "expected": expected,
            "delivered": self.distinct,
            "missing": expected - self.distinct,
            "out_of_order": self.out_of_order,
        }


@dataclass(slots=True)
class LoadResult:
    """One pass of one scenario and approach."""

    scenario: str
    variant: str
    clients: list[ClientRecord]
    #: Wall-clock window of the pass (``time.time()``), from the first connect to the last end.
    started_at: float
    ended_at: float
    #: ``/metrics`` before and after the pass (None if the server has no such endpoint).
    metrics_before: dict[str, Any] | None
    metrics_after: dict[str, Any] | None
    #: The server's per-request records for this pass (see ``rxspike.harness.server``).
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: ``/_harness/usage`` before and after the pass, and every ``usage_every_s`` during it.
    usage_before: dict[str, Any] | None = None
    usage_after: dict[str, Any] | None = None
    usage_series: list[dict[str, Any]] = field(default_factory=list)
    #: Crowds of ``clients.count`` run one after the other in this pass.
    rounds: int = 1

    @property
    def duration_s(self) -> float:
        return max(self.ended_at - self.started_at, 1e-9)


class _Pacer:
    """Sleeps just enough to keep a reader at ``rate`` items per second."""

    __slots__ = ("_rate", "_start")

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._start = time.perf_counter()

    async def pace(self, items: int) -> None:
        due = self._start + items / self._rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


def _small_rcvbuf_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    family, kind, proto = addr_info[0], addr_info[1], addr_info[2]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
    return sock


def _roles(scenario: Scenario) -> list[str]:
    spec = scenario.clients
    base = "slow" if spec.slow else "full"
    roles = [base] * spec.count
    leavers = spec.disconnecting
    for j in range(leavers):
        roles[j * spec.count // leavers] = "leaver"
    return roles


async def _read_stream(
    response: aiohttp.ClientResponse,
    record: ClientRecord,
    scenario: Scenario,
    sent: float,
) -> None:
    spec = scenario.clients
    frames = frames_for(scenario.stream.format, scenario.stream.size)
    slow = record.role == "slow" or (record.role == "leaver" and spec.slow)
    pacer: _Pacer | None = None
    chunk = max(256, scenario.stream.size)
    leave_after = spec.disconnect_after if record.role == "leaver" else 0
    read_until = 0.0
    last = 0.0
    content = response.content
    seen_max = record.max_seq  # a resumed stream continues the count
    while True:
        data = await (content.read(chunk) if slow else content.readany())
        if not data:
            break
        now = time.perf_counter()
        record.bytes += len(data)
        seqs = frames.feed(data)
        if isinstance(frames, SseFrames) and frames.last_id is not None:
            record.last_event_id = frames.last_id
        if frames.errors:
            record.inband_errors.extend(frames.errors)
            frames.errors.clear()
        if not seqs:
            continue
        if record.ttfb_s is None:
            record.ttfb_s = now - sent
            last = now
            if slow:
                pacer = _Pacer(spec.read_items_per_s(scenario.stream))
            if spec.read_for_s > 0:
                read_until = now + spec.read_for_s
        gaps = record.gaps
        for seq in seqs:
            if seq > seen_max:
                seen_max = seq
                record.distinct += 1
            else:
                record.out_of_order += 1
            gaps.append(now - last)
            last = now
        # The first item's "gap" is its TTFB; drop it so gaps are between items only.
        if record.items == 0:
            gaps.pop(0)
        record.items += len(seqs)
        record.max_seq = seen_max
        if (leave_after and record.items >= leave_after) or (read_until and now >= read_until):
            record.left_at = time.time()
            record.end = "left"
            response.close()  # abrupt: the server sees the connection drop
            return
        if pacer is not None:
            await pacer.pace(record.items)
    record.end = "error" if record.inband_errors else "complete"
    if record.inband_errors:
        record.error = "in-band error event"


async def _client(
    session: aiohttp.ClientSession,
    urls: list[str],
    params: dict[str, str],
    record: ClientRecord,
    scenario: Scenario,
    *,
    delay: float,
) -> None:
    if delay > 0:
        await asyncio.sleep(delay)
    record.started_at = time.time()
    sent = time.perf_counter()
    resume = scenario.clients.resume
    headers = {CLIENT_HEADER: record.client_id}
    server = record.index % len(urls)  # clients spread over the workers
    try:
        while True:
            url = urls[server]
            try:
                async with session.get(url, params=params, headers=headers) as response:
                    record.status = response.status
                    if response.status == 204 and record.reconnects:
                        record.end = "complete"  # nothing left after the last id: done
                        return
                    if response.status != 200:
                        record.end = "error"
                        record.error = f"HTTP {response.status}"
                        await response.read()
                        return
                    await _read_stream(response, record, scenario, sent)
                    return
            except (aiohttp.ClientError, OSError) as error:
                if not resume or record.reconnects >= MAX_RECONNECTS:
                    raise
                record.reconnects += 1
                # As a load balancer does when a backend is gone: the next worker.
                server = (server + 1) % len(urls)
                headers = {CLIENT_HEADER: record.client_id}
                if record.last_event_id is not None:
                    headers["Last-Event-ID"] = record.last_event_id
                del error
    except asyncio.CancelledError:
        record.end = "timeout"
        record.error = "timeout"
        raise
    except (aiohttp.ClientError, OSError) as error:
        record.end = "error"
        record.error = type(error).__name__
    finally:
        record.ended_at = time.time()


async def fetch_json(session: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    """GET a JSON document; None if the server has no such endpoint or answers garbage."""
    try:
        async with session.get(url) as response:
            if response.status != 200:
                return None
            data = await response.json(content_type=None)
    except (aiohttp.ClientError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


async def wait_for_idle(
    session: aiohttp.ClientSession,
    base_url: str,
    open_streams: Callable[[dict[str, Any]], int | None],
    timeout_s: float,
) -> dict[str, Any] | None:
    """Poll ``/metrics`` until the server reports no open stream (or the timeout passes)."""
    deadline = time.perf_counter() + timeout_s
    metrics = await fetch_json(session, f"{base_url}/metrics")
    while metrics is not None and time.perf_counter() < deadline:
        if not open_streams(metrics):
            break
        await asyncio.sleep(0.02)
        metrics = await fetch_json(session, f"{base_url}/metrics")
    return metrics


async def usage_of(session: aiohttp.ClientSession, base_url: str) -> dict[str, Any] | None:
    """The server's ``/_harness/usage`` snapshot (None if it has no such view)."""
    return await fetch_json(session, f"{base_url}/_harness/usage")


async def _sample_usage(
    session: aiohttp.ClientSession, base_url: str, every_s: float, into: list[dict[str, Any]]
) -> None:
    while True:
        await asyncio.sleep(every_s)
        snapshot = await usage_of(session, base_url)
        if snapshot is not None:
            into.append(snapshot)


async def run_load(
    base_url: str,
    scenario: Scenario,
    variant: Variant,
    *,
    pass_id: str = "p",
    timeout_s: float = 60.0,
    open_streams: Callable[[dict[str, Any]], int | None] = lambda m: None,
    settle_s: float = 2.0,
    min_duration_s: float = 0.0,
    usage_every_s: float = 0.0,
    more_urls: tuple[str, ...] = (),
) -> LoadResult:
    """Run the scenario's clients against ``base_url`` and return what they saw.

    One crowd of ``clients.count`` clients, then more crowds (each once the previous one
    finished) until ``min_duration_s`` or the scenario's ``clients.run_for_s`` has passed.
    Clients still reading after ``timeout_s`` are cancelled and recorded as ``timeout``.
    Afterwards it waits up to ``settle_s`` for the server to report no open stream, so that
    ``metrics_after`` includes the clean-up of every stream. ``usage_every_s > 0`` samples
    the server's ``/_harness/usage`` that often during the pass (soaks). ``more_urls`` are
    further workers of the same service: clients are spread over all of them, and a
    resuming client reconnects to the next one.
    """
    params = scenario.stream.query(variant.approach, variant.overflow)
    urls = [f"{url}/stream" for url in (base_url, *more_urls)]
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=None)
    fast = aiohttp.TCPConnector(limit=0, force_close=True)
    slow = aiohttp.TCPConnector(limit=0, force_close=True, socket_factory=_small_rcvbuf_socket)
    run_for = max(min_duration_s, scenario.clients.run_for_s)
    records: list[ClientRecord] = []
    series: list[dict[str, Any]] = []
    async with (
        aiohttp.ClientSession(connector=fast, timeout=timeout) as session,
        aiohttp.ClientSession(
            connector=slow, timeout=timeout, read_bufsize=SLOW_READ_BUFSIZE
        ) as slow_session,
    ):
        before = await fetch_json(session, f"{base_url}/metrics")
        usage_before = await usage_of(session, base_url)
        sampler = (
            asyncio.ensure_future(_sample_usage(session, base_url, usage_every_s, series))
            if usage_every_s > 0
            else None
        )
        started = time.time()
        deadline = time.perf_counter() + timeout_s
        rounds = 0
        while True:
            crowd = [
                ClientRecord(index=i, role=role, client_id=f"{pass_id}-{rounds}.{i}")
                for i, role in enumerate(_roles(scenario))
            ]
            records += crowd
            rounds += 1
            tasks = [
                asyncio.ensure_future(
                    _client(
                        slow_session if scenario.clients.slow else session,
                        urls,
                        params,
                        record,
                        scenario,
                        delay=scenario.clients.start_delay(i),
                    )
                )
                for i, record in enumerate(crowd)
            ]
            left = max(0.0, deadline - time.perf_counter())
            _done, pending = await asyncio.wait(tasks, timeout=left)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if pending or time.time() - started >= run_for:
                break
        ended = max([r.ended_at for r in records] + [started])
        if sampler is not None:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        after = await wait_for_idle(session, base_url, open_streams, settle_s)
        usage_after = await usage_of(session, base_url)
        requests = await fetch_json(session, f"{base_url}/_harness/requests?prefix={pass_id}-")
    return LoadResult(
        scenario=scenario.name,
        variant=variant.label,
        clients=records,
        started_at=started,
        ended_at=ended,
        metrics_before=before,
        metrics_after=after,
        requests=list((requests or {}).get("requests", [])),
        usage_before=usage_before,
        usage_after=usage_after,
        usage_series=series,
        rounds=rounds,
    )
