"""PNG plots of a run, drawn from ``metrics.json`` with matplotlib's Agg backend.

Per scenario: the heap over time of each approach in its own panel, sharing one scale, so
that no line hides under another (tracked passes); throughput bars (only where the server
sets the pace: a paced stream's items/s is the workload's), latency bars and server-cost
bars (CPU per item, RSS per stream), each bar the median of the untracked passes with an
error bar from the slowest to the fastest pass; peak heap versus stream length for a
``[sweep]``; RSS, allocated blocks, file descriptors and tasks over a soak. Across
scenarios: the server's peak RSS per approach, with the same error bars. Every function
returns the path it wrote, relative to the run directory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .conclusions import paced

#: Resolution of every PNG (small files: the reference run's plots are committed).
DPI = 80


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, figure: Any, out: Path, name: str) -> str:
    out.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out / name, dpi=DPI)
    plt.close(figure)
    return f"{out.name}/{name}"


def heap_over_time(plt: Any, scenario: Mapping[str, Any], out: Path) -> str | None:
    drawn = [
        (label, entry["memory"]["heap_series"])
        for label, entry in scenario["variants"].items()
        if entry.get("memory", {}).get("heap_series", {}).get("t_s")
    ]
    if not drawn:
        return None
    columns = min(3, len(drawn))
    rows = math.ceil(len(drawn) / columns)
    figure, grid = plt.subplots(
        rows, columns, figsize=(3.4 * columns, 2.4 * rows), sharex=True, sharey=True, squeeze=False
    )
    for index, (label, series) in enumerate(drawn):
        axes = grid[index // columns][index % columns]
        axes.plot(series["t_s"], series["heap_mib"], linewidth=1.3)
        axes.set_title(label, fontsize=9)
        axes.grid(alpha=0.3)
    for index in range(len(drawn), rows * columns):
        grid[index // columns][index % columns].axis("off")
    figure.suptitle(f"{scenario['name']}: server heap (MiB) over time (s), one tracked pass")
    return _save(plt, figure, out, f"{scenario['name']}-heap.png")


def _errors(
    entries: Sequence[Mapping[str, Any]], key: str
) -> tuple[list[float], list[list[float]]]:
    """Medians and asymmetric error bars (median - min, max - median) of a timing figure."""
    values, below, above = [], [], []
    for entry in entries:
        timing = entry.get("timing", {})
        value = timing.get(key) or 0.0
        span = timing.get("ranges", {}).get(key) or [value, value]
        low, high = (
            span[0] if span[0] is not None else value,
            span[1] if span[1] is not None else value,
        )
        values.append(value)
        below.append(max(0.0, value - low))
        above.append(max(0.0, high - value))
    return values, [below, above]


def _bars(
    plt: Any,
    scenario: Mapping[str, Any],
    out: Path,
    *,
    name: str,
    title: str,
    series: list[tuple[str, str]],
    ylabel: str,
) -> str | None:
    labels = list(scenario["variants"])
    entries = [scenario["variants"][label] for label in labels]
    if not any(any(e.get("timing", {}).get(key) for e in entries) for key, _ in series):
        return None
    figure, axes = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(series)
    for i, (key, legend) in enumerate(series):
        values, errors = _errors(entries, key)
        positions = [x + i * width - 0.4 + width / 2 for x in range(len(labels))]
        axes.bar(positions, values, width=width, label=legend, yerr=errors, capsize=3)
    axes.set_xticks(range(len(labels)))
    axes.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
    axes.set_title(f"{scenario['name']}: {title}")
    axes.set_ylabel(ylabel)
    axes.grid(axis="y", alpha=0.3)
    if len(series) > 1:
        axes.legend(fontsize=8)
    return _save(plt, figure, out, name)


def cost(plt: Any, scenario: Mapping[str, Any], out: Path) -> str | None:
    labels = list(scenario["variants"])
    entries = [scenario["variants"][label] for label in labels]
    panels = [
        ("cpu_us_per_item", "server CPU per item (us)"),
        ("rss_per_stream_kib", "server RSS growth per stream (KiB)"),
    ]
    if not any(e.get("timing", {}).get(key) for e in entries for key, _ in panels):
        return None
    figure, grid = plt.subplots(1, 2, figsize=(10, 3.8))
    for axes, (key, title) in zip(grid, panels, strict=True):
        values, errors = _errors(entries, key)
        axes.bar(range(len(labels)), values, yerr=errors, capsize=3, color="tab:gray")
        axes.set_xticks(range(len(labels)))
        axes.set_xticklabels(labels, rotation=25, ha="right", fontsize=8)
        axes.set_title(title, fontsize=9)
        axes.grid(axis="y", alpha=0.3)
    figure.suptitle(f"{scenario['name']}: server cost (untracked; bars: median, whiskers: min-max)")
    return _save(plt, figure, out, f"{scenario['name']}-cost.png")


def peak_rss_overview(plt: Any, metrics: Mapping[str, Any], out: Path) -> str | None:
    scenarios = [s for s in metrics["scenarios"].values() if not s["spec"].get("soak")]
    labels: list[str] = []
    for scenario in scenarios:
        for label in scenario["variants"]:
            if label not in labels:
                labels.append(label)
    if not any(
        e.get("timing", {}).get("rss_peak_mib") for s in scenarios for e in s["variants"].values()
    ):
        return None
    plt.rcParams["axes.prop_cycle"] = plt.cycler(color=plt.get_cmap("tab20").colors)
    figure, axes = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / max(len(labels), 1)
    for i, label in enumerate(labels):
        entries = [s["variants"].get(label, {}) for s in scenarios]
        values, errors = _errors(entries, "rss_peak_mib")
        positions = [x + i * width - 0.4 + width / 2 for x in range(len(scenarios))]
        axes.bar(positions, values, width=width, label=label, yerr=errors, capsize=1.5)
    axes.set_xticks(range(len(scenarios)))
    axes.set_xticklabels([s["name"] for s in scenarios], rotation=15, ha="right", fontsize=8)
    axes.set_yscale("log")
    axes.set_ylabel("peak RSS (MiB, log scale)")
    axes.set_title("Server peak RSS per scenario and approach (untracked; whiskers: min-max)")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=7, ncol=3)
    return _save(plt, figure, out, "overview-peak-rss.png")


def sweep(plt: Any, scenario: Mapping[str, Any], out: Path) -> str | None:
    figure, axes = plt.subplots(figsize=(6, 4))
    counts: set[int] = set()
    markers = "osD^v<>px*"
    drawn = 0
    for label, entry in scenario["variants"].items():
        points = sorted(entry.get("sweep") or [], key=lambda p: p["count"])
        if not points:
            continue
        xs = [p["count"] for p in points]
        counts.update(xs)
        axes.plot(
            xs,
            [p["peak_heap_mib"] for p in points],
            marker=markers[drawn % len(markers)],
            linestyle=("-", "--", ":", "-.")[drawn % 4],
            label=label,
        )
        drawn += 1
    if not drawn:
        plt.close(figure)
        return None
    axes.set_xscale("log")
    ticks = sorted(counts)
    axes.set_xticks(ticks)
    axes.set_xticklabels([f"{c:,}" for c in ticks])
    axes.minorticks_off()
    axes.set_xlabel("stream length (items, log scale)")
    axes.set_ylabel("peak heap (MiB)")
    axes.set_title(f"{scenario['name']}: peak heap vs stream length (one tracked pass each)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _save(plt, figure, out, f"{scenario['name']}-sweep.png")


def soak(plt: Any, scenario: Mapping[str, Any], out: Path) -> str | None:
    runs = [
        (label, entry["soak"]["series"])
        for label, entry in scenario["variants"].items()
        if (entry.get("soak") or {}).get("series")
    ]
    if not runs:
        return None
    panels = [
        ("rss", 2**20, "RSS (MiB)"),
        ("blocks", 1000, "allocated blocks (k)"),
        ("fds", 1, "open fds"),
        ("tasks", 1, "asyncio tasks"),
    ]
    figure, grid = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    for axes, (key, scale, title) in zip(grid.flat, panels, strict=True):
        for index, (label, series) in enumerate(runs):
            start = series[0]["time"]
            points = [(p["time"] - start, p[key] / scale) for p in series if p.get(key) is not None]
            axes.plot(
                [t for t, _ in points],
                [v for _, v in points],
                label=label,
                linestyle=("-", "--", ":")[index % 3],
                marker=".",
            )
        axes.set_title(title, fontsize=9)
        axes.grid(alpha=0.3)
    grid[1][0].set_xlabel("seconds into the soak")
    grid[1][1].set_xlabel("seconds into the soak")
    grid[0][0].legend(fontsize=8)
    figure.suptitle(f"{scenario['name']}: the server over the soak")
    return _save(plt, figure, out, f"{scenario['name']}-soak.png")


def draw_all(metrics: Mapping[str, Any], run_dir: Path) -> dict[str, dict[str, str]]:
    """Every plot of a run under ``run_dir/plots``: {scenario or "overview": {kind: path}}."""
    plt = _pyplot()
    out = run_dir / "plots"
    written: dict[str, dict[str, str]] = {}
    for scenario in metrics["scenarios"].values():
        name = scenario["name"]
        paths = {
            "heap": heap_over_time(plt, scenario, out),
            "throughput": None
            if paced(scenario["spec"])
            else _bars(
                plt,
                scenario,
                out,
                name=f"{name}-throughput.png",
                title="throughput (untracked; bars: median, whiskers: min-max)",
                series=[("items_per_s", "items/s")],
                ylabel="items/s (all clients)",
            ),
            "latency": _bars(
                plt,
                scenario,
                out,
                name=f"{name}-latency.png",
                title="latency (untracked; bars: median, whiskers: min-max)",
                series=[
                    ("ttfb_p50_ms", "first item p50"),
                    ("ttfb_p99_ms", "first item p99"),
                    ("gap_p99_ms", "gap p99"),
                    ("lag_p99_ms", "loop lag p99"),
                ],
                ylabel="milliseconds",
            ),
            "cost": cost(plt, scenario, out),
            "sweep": sweep(plt, scenario, out),
            "soak": soak(plt, scenario, out),
        }
        written[name] = {k: v for k, v in paths.items() if v is not None}
    overview = peak_rss_overview(plt, metrics, out)
    if overview is not None:
        written["overview"] = {"rss": overview}
    return written
