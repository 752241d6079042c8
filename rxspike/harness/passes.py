"""One pass in numbers: what the clients saw, summarised, and passes combined into a result.

``summarize_pass`` turns the load generator's per-client records into a compact dict (it runs
in the load generator's process, so only that dict crosses the process boundary);
``combine_timing`` takes the medians of repeated untracked passes and ``combine_accounting``
adds up the item and clean-up accounting of every pass.

Accounting, per client: the *expected* items are the whole stream for a client that read to
a clean end, else every sequence number up to the last one it received; *delivered* are the
distinct sequence numbers it received; *missing* the difference. Summed over a pass, the
server's own count of items it *dropped* on purpose explains missing items; *lost* is what
it does not explain, and must be 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .loadgen import LoadResult
from .scenario import Scenario
from .serverview import MetricsView, delta
from .stats import median, summarize

MIB = 2.0**20


def _usage(result: LoadResult, scenario: Scenario, rss: Sequence[float]) -> dict[str, Any]:
    """Server CPU over the pass, per item and per MB; RSS at rest, peak and per stream."""
    before, after = result.usage_before or {}, result.usage_after or {}
    items = sum(c.distinct for c in result.clients)
    body = sum(c.bytes for c in result.clients)
    cpu = None
    if isinstance(before.get("cpu_s"), float) and isinstance(after.get("cpu_s"), float):
        cpu = max(0.0, after["cpu_s"] - before["cpu_s"])
    rest = rss[0] if rss else None
    peak = max(rss) if rss else None
    growth = None if rest is None or peak is None else max(0.0, peak - rest)
    return {
        "cpu_s": None if cpu is None else round(cpu, 4),
        "cpu_us_per_item": None if cpu is None or not items else round(cpu / items * 1e6, 3),
        "cpu_ms_per_mb": None if cpu is None or not body else round(cpu / (body / 1e6) * 1e3, 3),
        "rss_rest_mib": None if rest is None else round(rest / MIB, 3),
        "rss_peak_mib": None if peak is None else round(peak / MIB, 3),
        "rss_growth_mib": None if growth is None else round(growth / MIB, 3),
        # Streams open at once are one crowd: per stream is the growth over the crowd.
        "rss_per_stream_kib": (
            None if growth is None else round(growth / 1024 / scenario.clients.count, 2)
        ),
        "fds_after": after.get("fds"),
        "tasks_after": after.get("tasks"),
        "series": [
            {k: s.get(k) for k in ("time", "rss", "fds", "tasks", "blocks", "cpu_s")}
            for s in result.usage_series
        ],
    }


def summarize_pass(
    result: LoadResult,
    scenario: Scenario,
    lag_s: Sequence[float] = (),
    rss: Sequence[float] = (),
) -> dict[str, Any]:
    """The pass's throughput, latencies, accounting, clean-up, errors and server usage
    (CPU, RSS) as plain JSON. ``rss`` is the server's RSS samples, the first one taken
    just before the pass."""
    clients = result.clients
    items = sum(c.distinct for c in clients)
    body = sum(c.bytes for c in clients)
    duration = result.duration_s
    ttfb = [c.ttfb_s for c in clients if c.ttfb_s is not None]
    gaps: list[float] = []
    for c in clients:
        gaps.extend(c.gaps)
    expected_full = scenario.stream.expected_items
    totals: Counter[str] = Counter()
    for c in clients:
        totals.update(c.accounting(expected_full))
    before, after = MetricsView(result.metrics_before), MetricsView(result.metrics_after)
    dropped = delta(before.dropped, after.dropped)
    all_complete = all(c.end == "complete" for c in clients)
    missing = totals["missing"]
    lost: int | None
    if dropped is None:
        # Without the server's drop count only a lossless design's missing items are lost.
        lost = None if result.variant.startswith("push-buffer") else missing
    elif all_complete:
        lost = missing - dropped
    else:
        # Items dropped after a leaving client's last sequence number are counted by the
        # server but never missed by the client: only the surplus is unexplained.
        lost = max(0, missing - dropped)
    ends = Counter(c.end for c in clients)
    errors = Counter(c.error for c in clients if c.error is not None)
    error_frames = sum(1 for c in clients if c.inband_errors)
    requests = {r.get("client"): r for r in result.requests}
    cleanup_ms: list[float] = []
    handler_ms: list[float] = []
    left = cleaned = 0
    for c in clients:
        if c.left_at is None:
            continue
        left += 1
        record = requests.get(c.client_id) or {}
        released_at = record.get("source_released_at")
        ended_at = record.get("ended_at")
        if isinstance(released_at, int | float) and isinstance(ended_at, int | float):
            cleaned += 1
            cleanup_ms.append(max(0.0, (max(released_at, ended_at) - c.left_at) * 1000.0))
        if isinstance(ended_at, int | float):
            handler_ms.append(max(0.0, (ended_at - c.left_at) * 1000.0))
    outcomes = Counter(str(r.get("outcome")) for r in result.requests)
    probed = [r for r in result.requests if r.get("source_created")]
    finalized: int | None = sum(1 for r in probed if r.get("source_released_at") is not None)
    if not probed:
        finalized = delta(before.finalized, after.finalized)
    statuses = Counter(str(c.status) for c in clients)
    return {
        "scenario": result.scenario,
        "variant": result.variant,
        "started_at": result.started_at,
        "ended_at": result.ended_at,
        "duration_s": round(duration, 4),
        "clients": len(clients),
        "items": items,
        "bytes": body,
        "items_per_s": round(items / duration, 1),
        "mb_per_s": round(body / duration / 1e6, 3),
        "ttfb_ms": summarize(ttfb, 1000.0),
        "gap_ms": summarize(gaps, 1000.0),
        "lag_ms": summarize(lag_s, 1000.0),
        "rounds": result.rounds,
        "usage": _usage(result, scenario, rss),
        "reconnects": sum(c.reconnects for c in clients),
        "statuses": dict(statuses),
        "ends": dict(ends),
        "errors": dict(errors),
        "error_frames": error_frames,
        "accounting": {
            "expected": totals["expected"],
            "delivered": totals["delivered"],
            "missing": missing,
            "out_of_order": totals["out_of_order"],
            "dropped": dropped,
            "lost": lost,
        },
        "cleanup": {
            "left": left,
            "cleaned": cleaned,
            "cleanup_ms": [round(v, 3) for v in cleanup_ms],
            "handler_ms": [round(v, 3) for v in handler_ms],
            # Every request is a stream (a resuming client makes several).
            "streams": max(len(clients), len(result.requests)),
            "handlers_ended": sum(1 for r in result.requests if r.get("ended_at") is not None),
            "handler_outcomes": dict(outcomes),
            "finalized": finalized,
            "open_after": after.open_streams,
            "server_ended": _ended_delta(before.ended, after.ended),
        },
    }


def _ended_delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def combine_timing(passes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians over repeated untracked passes of the same scenario and approach."""

    def med(key: str, sub: str | None = None) -> float | None:
        values = [p.get(key, {}).get(sub) if sub else p[key] for p in passes]
        value = median(values)
        return None if value is None else round(value, 3)

    def spread(key: str, sub: str | None = None) -> list[float] | None:
        values = [p.get(key, {}).get(sub) if sub else p[key] for p in passes]
        present = [float(v) for v in values if v is not None]
        return [round(min(present), 3), round(max(present), 3)] if present else None

    # ranges: min and max over the repeats, to tell a difference from noise.
    usage_keys = (
        "cpu_us_per_item",
        "cpu_ms_per_mb",
        "rss_peak_mib",
        "rss_growth_mib",
        "rss_per_stream_kib",
    )
    return {
        "repeats": len(passes),
        "ranges": {
            "items_per_s": spread("items_per_s"),
            "mb_per_s": spread("mb_per_s"),
            "ttfb_p50_ms": spread("ttfb_ms", "p50"),
            "ttfb_p99_ms": spread("ttfb_ms", "p99"),
            "gap_p50_ms": spread("gap_ms", "p50"),
            "gap_p99_ms": spread("gap_ms", "p99"),
            "lag_p50_ms": spread("lag_ms", "p50"),
            "lag_p99_ms": spread("lag_ms", "p99"),
            **{key: spread("usage", key) for key in usage_keys},
        },
        **{key: med("usage", key) for key in usage_keys},
        "items_per_s": med("items_per_s"),
        "mb_per_s": med("mb_per_s"),
        "ttfb_p50_ms": med("ttfb_ms", "p50"),
        "ttfb_p99_ms": med("ttfb_ms", "p99"),
        "gap_p50_ms": med("gap_ms", "p50"),
        "gap_p99_ms": med("gap_ms", "p99"),
        "lag_p50_ms": med("lag_ms", "p50"),
        "lag_p99_ms": med("lag_ms", "p99"),
        "duration_s": med("duration_s"),
    }


def combine_accounting(passes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Item accounting, clean-up and errors added up over passes (timing and memory)."""
    passes = list(passes)
    acc: Counter[str] = Counter()
    dropped_known = True
    lost_known = True
    cleanup_ms: list[float] = []
    ends: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    error_frames = 0
    clean: Counter[str] = Counter()
    finalized_known = True
    reconnects = 0
    for p in passes:
        a = p["accounting"]
        for key in ("expected", "delivered", "missing", "out_of_order"):
            acc[key] += a[key]
        if a["dropped"] is None:
            dropped_known = False
        else:
            acc["dropped"] += a["dropped"]
        if a["lost"] is None:
            lost_known = False
        else:
            acc["lost"] += a["lost"]
        c = p["cleanup"]
        for key in ("left", "cleaned", "streams", "handlers_ended"):
            clean[key] += c[key]
        if c["finalized"] is None:
            finalized_known = False
        else:
            clean["finalized"] += c["finalized"]
        cleanup_ms.extend(c["cleanup_ms"])
        ends.update(p["ends"])
        errors.update(p["errors"])
        error_frames += p["error_frames"]
        reconnects += p.get("reconnects", 0)
    cleanup = summarize(cleanup_ms)
    return {
        "passes": len(passes),
        "expected": acc["expected"],
        "delivered": acc["delivered"],
        "missing": acc["missing"],
        "out_of_order": acc["out_of_order"],
        "dropped": acc["dropped"] if dropped_known else None,
        "lost": acc["lost"] if lost_known else None,
        "streams": clean["streams"],
        "left": clean["left"],
        "cleaned": clean["cleaned"],
        "handlers_ended": clean["handlers_ended"],
        "finalized": clean["finalized"] if finalized_known else None,
        "cleanup_p50_ms": cleanup["p50"],
        "cleanup_max_ms": cleanup["max"],
        "ends": dict(ends),
        "errors": dict(errors),
        "error_frames": error_frames,
        "reconnects": reconnects,
    }
