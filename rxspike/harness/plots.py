"""PNG plots of a run, drawn from ``metrics.json`` with matplotlib's Agg backend.

Per scenario: the heap over time of every approach on one chart (from the tracked passes),
throughput bars and latency bars (from the untracked passes). Across scenarios: the heap
growth of every approach, and, for scenarios with a ``[sweep]``, peak heap versus stream
length. Every function returns the paths it wrote, relative to the run directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    figure, axes = plt.subplots(figsize=(8, 4))
    drawn = False
    for label, entry in scenario["variants"].items():
        series = entry.get("memory", {}).get("heap_series")
        if not series or not series["t_s"]:
            continue
        axes.plot(series["t_s"], series["heap_mib"], label=label, linewidth=1.4)
        drawn = True
    if not drawn:
        plt.close(figure)
        return None
    axes.set_title(f"{scenario['name']}: server heap over time (memray, tracked pass)")
    axes.set_xlabel("seconds since the load started")
    axes.set_ylabel("heap (MiB)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _save(plt, figure, out, f"{scenario['name']}-heap.png")


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
    values = {
        key: [scenario["variants"][v]["timing"].get(key) or 0.0 for v in labels]
        for key, _ in series
    }
    if not any(any(vals) for vals in values.values()):
        return None
    figure, axes = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(series)
    for i, (key, legend) in enumerate(series):
        positions = [x + i * width - 0.4 + width / 2 for x in range(len(labels))]
        axes.bar(positions, values[key], width=width, label=legend)
    axes.set_xticks(range(len(labels)))
    axes.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
    axes.set_title(f"{scenario['name']}: {title}")
    axes.set_ylabel(ylabel)
    axes.grid(axis="y", alpha=0.3)
    if len(series) > 1:
        axes.legend(fontsize=8)
    return _save(plt, figure, out, name)


def peak_heap_overview(plt: Any, metrics: Mapping[str, Any], out: Path) -> str | None:
    scenarios = list(metrics["scenarios"].values())
    labels: list[str] = []
    for scenario in scenarios:
        for label in scenario["variants"]:
            if label not in labels:
                labels.append(label)
    if not any("memory" in e for s in scenarios for e in s["variants"].values()):
        return None
    plt.rcParams["axes.prop_cycle"] = plt.cycler(color=plt.get_cmap("tab10").colors)
    figure, axes = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(len(labels), 1)
    for i, label in enumerate(labels):
        values = [
            s["variants"].get(label, {}).get("memory", {}).get("peak_heap_mib", 0.0)
            for s in scenarios
        ]
        positions = [x + i * width - 0.4 + width / 2 for x in range(len(scenarios))]
        axes.bar(positions, values, width=width, label=label)
    axes.set_xticks(range(len(scenarios)))
    axes.set_xticklabels([s["name"] for s in scenarios], rotation=15, ha="right", fontsize=8)
    axes.set_yscale("log")
    axes.set_ylabel("peak heap (MiB, log scale)")
    axes.set_title("Server peak heap (memray), per scenario and approach")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    return _save(plt, figure, out, "overview-peak-heap.png")


def sweep(plt: Any, scenario: Mapping[str, Any], out: Path) -> str | None:
    figure, axes = plt.subplots(figsize=(6, 4))
    drawn = False
    for label, entry in scenario["variants"].items():
        points = sorted(entry.get("sweep") or [], key=lambda p: p["count"])
        if not points:
            continue
        counts = [p["count"] for p in points]
        peaks = [p["peak_heap_mib"] for p in points]
        axes.plot(counts, peaks, marker="o", label=label)
        drawn = True
    if not drawn:
        plt.close(figure)
        return None
    axes.set_xscale("log")
    axes.set_xlabel("stream length (items)")
    axes.set_ylabel("peak heap (MiB)")
    axes.set_title(f"{scenario['name']}: peak heap vs stream length")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _save(plt, figure, out, f"{scenario['name']}-sweep.png")


def draw_all(metrics: Mapping[str, Any], run_dir: Path) -> dict[str, dict[str, str]]:
    """Every plot of a run under ``run_dir/plots``: {scenario or "overview": {kind: path}}."""
    plt = _pyplot()
    out = run_dir / "plots"
    written: dict[str, dict[str, str]] = {}
    for scenario in metrics["scenarios"].values():
        name = scenario["name"]
        paths = {
            "heap": heap_over_time(plt, scenario, out),
            "throughput": _bars(
                plt,
                scenario,
                out,
                name=f"{name}-throughput.png",
                title="throughput (untracked, median)",
                series=[("items_per_s", "items/s")],
                ylabel="items/s (all clients)",
            ),
            "latency": _bars(
                plt,
                scenario,
                out,
                name=f"{name}-latency.png",
                title="latency (untracked, median of passes)",
                series=[
                    ("ttfb_p50_ms", "first item p50"),
                    ("ttfb_p99_ms", "first item p99"),
                    ("gap_p99_ms", "gap p99"),
                    ("lag_p99_ms", "loop lag p99"),
                ],
                ylabel="milliseconds",
            ),
            "sweep": sweep(plt, scenario, out),
        }
        written[name] = {k: v for k, v in paths.items() if v is not None}
    overview = peak_heap_overview(plt, metrics, out)
    if overview is not None:
        written["overview"] = {"heap": overview}
    return written
