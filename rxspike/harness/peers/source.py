"""The peers' source: the demo's items as an async generator, and the query that shapes it.

The items are the demo server's (:mod:`rxspike.demo`) byte for byte: event ``seq`` carries
``id: seq`` and a payload of ``size`` characters that starts with ``seq``. Each peer's
``create_app(source=...)`` takes the factory (default :func:`async_iterator_source`), so the
harness can hand in one wrapped by its finalizer probe and see when each source is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass

#: Bounds that keep one request from taking a peer down (as the demo's).
MAX_COUNT = 10_000_000
MIN_SIZE, MAX_SIZE = 16, 1024 * 1024
MAX_INTERVAL_MS = 60_000.0


#: What a peer calls once per request to get its events.
Source = Callable[["StreamQuery"], AsyncGenerator[tuple[int, str]]]


class SourceFailed(Exception):
    """The source failed on purpose (``fail_after``)."""


class BadQuery(ValueError):
    """A query parameter is malformed or out of range; the message names it and its range."""


def _int(query: Mapping[str, str], name: str, low: int, high: int, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadQuery(f"{name} must be an integer in {low}..{high}, got {text!r}") from None
    if not low <= value <= high:
        raise BadQuery(f"{name} must be an integer in {low}..{high}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class StreamQuery:
    """The part of the demo's ``/stream`` query the peers honour (the rest is ignored)."""

    count: int = 10
    size: int = 64
    interval_ms: float = 0.0
    fail_after: int | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> StreamQuery:
        """Validate a query; raises :class:`BadQuery` naming the bad parameter.

        >>> StreamQuery.parse({"count": "3", "interval_ms": "20"})
        StreamQuery(count=3, size=64, interval_ms=20.0, fail_after=None)
        """
        text = query.get("interval_ms", "0")
        try:
            interval = float(text)
        except ValueError:
            raise BadQuery(f"interval_ms must be a number of milliseconds, got {text!r}") from None
        if not 0 <= interval <= MAX_INTERVAL_MS:
            raise BadQuery(f"interval_ms must be within 0..{MAX_INTERVAL_MS:g}, got {interval:g}")
        fail = query.get("fail_after")
        return cls(
            count=_int(query, "count", 1, MAX_COUNT, 10),
            size=_int(query, "size", MIN_SIZE, MAX_SIZE, 64),
            interval_ms=interval,
            fail_after=None if fail is None else _int(query, "fail_after", 0, MAX_COUNT, 0),
        )


def payload(seq: int, size: int) -> str:
    """``size`` characters: the sequence number, a space, then padding (the demo's)."""
    head = f"{seq} "
    return head + "x" * (size - len(head))


async def async_iterator_source(query: StreamQuery) -> AsyncGenerator[tuple[int, str]]:
    """``(seq, payload)`` pairs, one per ``interval_ms``; raises at ``fail_after``."""
    interval = query.interval_ms / 1000.0
    for seq in range(query.count):
        if seq == query.fail_after:
            raise SourceFailed(f"source failed after {query.fail_after} items (fail_after)")
        if interval:
            await asyncio.sleep(interval)
        yield seq, payload(seq, query.size)
