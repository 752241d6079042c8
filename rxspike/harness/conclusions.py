"""What a run says, in sentences: the closing section of every REPORT.md.

Each sentence is derived from ``metrics.json`` by rules a reviewer can check:

- a difference between two approaches is claimed only when their ranges over the repeated
  timing passes do not overlap (:func:`separated`); a run with one pass per approach
  (``--quick``) claims none;
- throughput is ranked only for scenarios whose rate the server decides (items produced as
  fast as possible, clients reading as fast as they can): a paced stream's items/s is the
  workload's, not the server's;
- accounting facts (items lost beyond the server's own drops, sources never released,
  tracebacks logged) are reported for every approach where they are not clean.

Each claim is followed by a ``<!-- claim: SCENARIO METRIC A < B -->`` marker, so that
``tests/test_findings.py`` can check the same rule for hand-written prose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: metric -> (what it is called, unit, whether lower is better).
METRICS: dict[str, tuple[str, str, bool]] = {
    "items_per_s": ("throughput", "items/s", False),
    "cpu_us_per_item": ("CPU per item", "us", True),
    "cpu_ms_per_mb": ("CPU per MB", "ms", True),
    "rss_per_stream_kib": ("RSS per stream", "KiB", True),
    "lag_p99_ms": ("loop lag p99", "ms", True),
    "ttfb_p99_ms": ("first item p99", "ms", True),
}


def span(entry: Mapping[str, Any], metric: str) -> tuple[float, float] | None:
    """The (min, max) of ``metric`` over an approach's timing passes, if it has two or more."""
    timing = entry.get("timing", {})
    if timing.get("repeats", 0) < 2:
        return None
    found = timing.get("ranges", {}).get(metric)
    if not found or found[0] is None:
        return None
    return float(found[0]), float(found[1])


def separated(low: tuple[float, float] | None, high: tuple[float, float] | None) -> bool:
    """Whether every pass of ``low`` was below every pass of ``high`` (ranges apart).

    >>> separated((1.0, 2.0), (2.5, 3.0)), separated((1.0, 2.6), (2.5, 3.0))
    (True, False)
    """
    return low is not None and high is not None and low[1] < high[0]


def paced(spec: Mapping[str, Any]) -> bool:
    """Whether the workload, not the server, sets the rate (an interval, slow readers, or a
    feed published at a set rate)."""
    stream, clients = spec["stream"], spec["clients"]
    published = spec.get("workers", {}).get("publish_rate", 0)
    return bool(
        stream["interval_ms"] or clients["read_rate"] or clients["read_mb_per_s"] or published
    )


def _fmt(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


def ranking(scenario: Mapping[str, Any], metric: str) -> list[str]:
    """Sentences saying which approaches beat which on ``metric``, ranges apart."""
    name, unit, lower_better = METRICS[metric]
    variants = scenario["variants"]
    spans = {label: span(entry, metric) for label, entry in variants.items()}
    known = {label: s for label, s in spans.items() if s is not None}
    if len(known) < 2:
        return []

    def key(label: str) -> float:
        low, high = known[label]
        return (low + high) / 2

    order = sorted(known, key=key, reverse=not lower_better)
    best = order[0]
    beaten = [
        label
        for label in order[1:]
        if (
            separated(known[best], known[label])
            if lower_better
            else separated(known[label], known[best])
        )
    ]
    tied = [label for label in order[1:] if label not in beaten]
    if not beaten:
        return [
            f"{name}: no approach is apart from the others (their ranges overlap), so this run "
            "ranks none of them."
        ]
    low, high = known[best]
    sign = "<" if lower_better else ">"
    markers = " ".join(
        f"<!-- claim: {scenario['name']} {metric} {best} {sign} {label} -->" for label in beaten
    )
    text = (
        f"{name}: `{best}` ({_fmt(low)}-{_fmt(high)} {unit}) is "
        f"{'below' if lower_better else 'above'} "
        + ", ".join(f"`{label}`" for label in beaten)
        + " in every pass"
    )
    if tied:
        text += "; " + ", ".join(f"`{label}`" for label in tied) + " overlap it"
    return [text + ". " + markers]


def accounting(scenario: Mapping[str, Any]) -> list[str]:
    """Sentences about what was not clean: losses, unreleased sources, tracebacks."""
    out: list[str] = []
    for label, entry in scenario["variants"].items():
        a = entry["accounting"]
        problems = []
        if a.get("lost"):
            problems.append(f"{a['lost']} items lost beyond the server's drops")
        if a.get("dropped"):
            problems.append(f"{a['dropped']} items dropped by its overflow strategy")
        if a.get("finalized") is not None and a["finalized"] < a["streams"]:
            problems.append(f"{a['streams'] - a['finalized']} sources never released")
        if a.get("left") and a.get("cleaned", 0) < a["left"]:
            problems.append(f"{a['left'] - a['cleaned']} of {a['left']} leavers not cleaned up")
        tracebacks = entry.get("memory", {}).get("server_tracebacks")
        if tracebacks:
            problems.append(f"{tracebacks} tracebacks logged in one tracked pass")
        if a.get("out_of_order"):
            problems.append(f"{a['out_of_order']} duplicates or out-of-order items")
        if problems:
            out.append(f"`{label}`: " + "; ".join(problems) + ".")
    return out


def scenario_conclusions(scenario: Mapping[str, Any]) -> list[str]:
    """Bullet points for one scenario."""
    bullets: list[str] = []
    metrics: Sequence[str] = ("cpu_us_per_item", "rss_per_stream_kib", "lag_p99_ms")
    if scenario["spec"].get("repeats"):
        metrics = ()  # a behaviour scenario: two passes show behaviour, they rank nothing
    elif not paced(scenario["spec"]):
        metrics = (
            "items_per_s",
            "cpu_ms_per_mb" if scenario["spec"]["stream"]["size"] >= 4096 else "cpu_us_per_item",
            "lag_p99_ms",
        )
    for metric in metrics:
        bullets += ranking(scenario, metric)
    problems = accounting(scenario)
    bullets += problems or [
        "accounting: every approach delivered everything it did not drop on purpose, "
        "released every source and logged no traceback."
    ]
    return bullets


def render(metrics: Mapping[str, Any]) -> list[str]:
    """The ``## What this run says`` section, as Markdown lines."""
    lines = ["## What this run says", ""]
    repeats = metrics["settings"].get("timing_repeats", 1)
    if metrics.get("quick") or repeats < 2:
        lines += [
            "This was a `--quick` run: one short pass per approach, so it shows that every "
            "scenario and approach runs and that the accounting holds, and it ranks nothing "
            "(a difference needs ranges from repeated passes that do not overlap). The "
            "accounting below is still exact.",
            "",
        ]
    else:
        lines += [
            f"Differences are claimed only where the ranges of {repeats} interleaved passes "
            "(2 for the behaviour scenarios) do not overlap; throughput is ranked only where "
            "the server, not the workload, sets the pace; memory figures are one tracked "
            "pass each and are compared in the tables, not here.",
            "",
        ]
    for scenario in metrics["scenarios"].values():
        lines.append(f"**{scenario['title']}** (`{scenario['name']}`):")
        lines.append("")
        lines += [f"- {bullet}" for bullet in scenario_conclusions(scenario)]
        lines.append("")
    return lines
