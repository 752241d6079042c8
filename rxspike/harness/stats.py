"""Small statistics helpers: percentiles and medians that tolerate empty input.

>>> percentile([1.0, 2.0, 3.0, 4.0], 50)
2.5
>>> percentile([], 99) is None
True
>>> summarize([0.001, 0.002, 0.003], scale=1000.0)
{'p50': 2.0, 'p99': 2.98, 'max': 3.0, 'n': 3}
>>> median([3.0, None, 1.0])
2.0
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation between closest ranks); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def summarize(values: Sequence[float], scale: float = 1.0) -> dict[str, float | int | None]:
    """p50, p99 and max of ``values * scale`` (rounded to 3 decimals) and their count."""
    ordered = sorted(values)
    p50 = percentile(ordered, 50)
    p99 = percentile(ordered, 99)
    return {
        "p50": None if p50 is None else round(p50 * scale, 3),
        "p99": None if p99 is None else round(p99 * scale, 3),
        "max": round(ordered[-1] * scale, 3) if ordered else None,
        "n": len(ordered),
    }


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are not None; None when there are none."""
    present = [v for v in values if v is not None]
    return float(statistics.median(present)) if present else None
