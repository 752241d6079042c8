"""What the harness reads from the demo server's ``GET /metrics``: one place for the names.

The demo server (``rxspike.web``) answers ``/metrics`` with JSON; the harness needs four facts
from it and nothing else. If the server renames a field, this is the only module to change.

>>> view = MetricsView({"open_streams": 2, "dropped": 5, "finalized": 7})
>>> view.open_streams, view.dropped, view.finalized
(2, 5, 7)
>>> MetricsView(None).open_streams is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _dig(data: Mapping[str, Any] | None, *paths: str) -> Any:
    """The first present value among dotted ``paths``."""
    if data is None:
        return None
    for path in paths:
        node: Any = data
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                node = None
                break
            node = node[part]
        if node is not None:
            return node
    return None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class MetricsView:
    """Typed access to one ``/metrics`` document (every property is None when absent)."""

    __slots__ = ("data",)

    def __init__(self, data: Mapping[str, Any] | None) -> None:
        self.data = data

    @property
    def open_streams(self) -> int | None:
        """Streams whose handler has not finished."""
        return _int(_dig(self.data, "open_streams", "streams.open", "open"))

    @property
    def dropped(self) -> int | None:
        """Items the server dropped on purpose (overflow strategies), all streams together."""
        return _int(_dig(self.data, "dropped", "items.dropped", "drops", "totals.dropped"))

    @property
    def finalized(self) -> int | None:
        """Sources whose finalizer (``finally`` / dispose) ran, all streams together."""
        return _int(_dig(self.data, "finalized", "sources.finalized", "finalizers_ran"))

    @property
    def items_sent(self) -> int | None:
        """Items handed to the socket."""
        return _int(_dig(self.data, "items_sent", "items.sent"))

    @property
    def ended(self) -> dict[str, int]:
        """Streams ended, by reason."""
        value = _dig(self.data, "ended", "streams.ended", "end_reasons")
        if not isinstance(value, Mapping):
            return {}
        return {str(k): int(v) for k, v in value.items() if _int(v) is not None}


def delta(before: int | None, after: int | None) -> int | None:
    """``after - before`` when both are known."""
    if before is None or after is None:
        return None
    return after - before


def open_streams(data: Mapping[str, Any]) -> int | None:
    """``MetricsView(data).open_streams``, as a plain function for callbacks."""
    return MetricsView(data).open_streams
