"""Reading memray capture files: peak heap, heap over time, and flamegraphs.

The server process writes the capture (``rxspike.harness.server --memray FILE``); the runner
reads it here, after the server exited, with ``memray.FileReader``. ``peak_memory`` is exact
(memray's high-water mark of the heap it tracked); the heap over time comes from memray's
periodic snapshots (about every 10 ms), which the report plots per approach.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIB = 1024.0 * 1024.0
#: Points kept of a heap-over-time series (the plot needs no more).
SERIES_POINTS = 160


@dataclass(frozen=True, slots=True)
class HeapProfile:
    """The heap of one tracked server session, seen around one load window."""

    #: memray's exact high-water mark of the tracked heap, whole session (bytes).
    peak_heap: int
    #: The heap just before the load started (bytes): the server at rest.
    baseline_heap: int
    #: The highest heap snapshot within the load window (bytes).
    window_peak_heap: int
    #: The heap at the end of the window plus settle time (bytes): what the load left behind.
    heap_after: int
    #: The highest resident set size seen (bytes).
    peak_rss: int
    #: (seconds since the load started, heap bytes) pairs, thinned to SERIES_POINTS.
    series: tuple[tuple[float, int], ...]

    @property
    def growth(self) -> int:
        """How far the load pushed the heap above the server at rest (bytes, snapshots)."""
        return max(0, self.window_peak_heap - self.baseline_heap)

    def as_json(self, clients: int) -> dict[str, Any]:
        return {
            "peak_heap_mib": round(self.peak_heap / MIB, 3),
            "baseline_heap_mib": round(self.baseline_heap / MIB, 3),
            "window_peak_heap_mib": round(self.window_peak_heap / MIB, 3),
            "heap_growth_mib": round(self.growth / MIB, 3),
            "heap_after_mib": round(self.heap_after / MIB, 3),
            "per_connection_kib": round(self.growth / 1024.0 / max(clients, 1), 2),
            "peak_rss_mib": round(self.peak_rss / MIB, 3),
            "heap_series": {
                "t_s": [round(t, 3) for t, _ in self.series],
                "heap_mib": [round(h / MIB, 3) for _, h in self.series],
            },
        }


def read_profile(path: str | Path, start: float, end: float) -> HeapProfile:
    """Summarise a capture around the load window ``[start, end]`` (``time.time()`` seconds)."""
    import memray

    reader = memray.FileReader(str(path))
    try:
        peak = int(reader.metadata.peak_memory)
        snapshots = [
            (s.time / 1000.0, int(s.heap), int(s.rss)) for s in reader.get_memory_snapshots()
        ]
    finally:
        reader.close()
    if not snapshots:
        return HeapProfile(peak, 0, peak, 0, 0, ())
    before = [heap for t, heap, _ in snapshots if t <= start]
    baseline = before[-1] if before else snapshots[0][1]
    window = [heap for t, heap, _ in snapshots if start <= t <= end]
    after = [heap for t, heap, _ in snapshots if t <= end]
    series = [(t - start, heap) for t, heap, _ in snapshots if t >= start - 0.2]
    return HeapProfile(
        peak_heap=peak,
        baseline_heap=baseline,
        window_peak_heap=max(window) if window else baseline,
        heap_after=after[-1] if after else baseline,
        peak_rss=max(rss for _, _, rss in snapshots),
        series=_thin(series, SERIES_POINTS),
    )


def _thin(series: Sequence[tuple[float, int]], points: int) -> tuple[tuple[float, int], ...]:
    """Keep at most ``points`` samples, each bucket represented by its highest heap."""
    if len(series) <= points:
        return tuple(series)
    step = len(series) / points
    out: list[tuple[float, int]] = []
    for i in range(points):
        bucket = series[int(i * step) : int((i + 1) * step)] or [series[-1]]
        out.append(max(bucket, key=lambda sample: sample[1]))
    return tuple(out)


def flamegraph_command(capture: Path, out: Path, *, temporal: bool) -> list[str]:
    """``python -m memray flamegraph [--temporal] --no-web -f -o OUT CAPTURE``."""
    command = [sys.executable, "-m", "memray", "flamegraph", "--no-web", "-f", "-o", str(out)]
    if temporal:
        command.insert(4, "--temporal")
    return [*command, str(capture)]


def render_flamegraph(capture: Path, out: Path, *, temporal: bool) -> str | None:
    """Write one self-contained flamegraph; returns an error message instead of raising."""
    out.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        flamegraph_command(capture, out, temporal=temporal),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not out.exists():
        return (done.stderr or done.stdout or f"exit {done.returncode}").strip()[-400:]
    return None
