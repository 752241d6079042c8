"""The query of ``GET /stream``, validated once into :class:`Params`; bad input is a 400."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from rxspike.web import FAILED_ID

from .names import FORMATS, OVERFLOWS, Approach, Format

#: Every ``approach=`` a query may name (``redis`` answers 400 on a server without Redis).
_ALL_APPROACHES = tuple(a.value for a in Approach)

#: Upper bounds that keep one request from taking the server down.
MAX_COUNT = 10_000_000
MIN_SIZE, MAX_SIZE = 16, 1024 * 1024
MAX_TOTAL_BYTES = 1024**3
MAX_INTERVAL_MS = 60_000
#: The shortest interval but 0 (a microsecond: the pacing rate is at most MAX_RATE).
MIN_INTERVAL_MS = 0.001
MAX_CAPACITY = 100_000
MAX_RATE = 1_000_000.0
#: What the push designs' buffer may hold at most: ``capacity * size`` bytes.
MAX_BUFFER_BYTES = 64 * 1024 * 1024

#: Open streams one ``GET /metrics`` page shows by default, and at most.
METRICS_PAGE = 20
MAX_METRICS_PAGE = 1000

#: Integers and decimal numbers as the query may spell them: ASCII digits only (Python's
#: ``int()`` and ``float()`` also take full-width digits, ``1_000`` and spaces).
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


class BadParameter(web.HTTPBadRequest):
    """A query parameter is missing its mark: 400 with a JSON body that says how."""

    def __init__(self, parameter: str, error: str, allowed: Any) -> None:
        super().__init__(
            text=web.json_response(
                {"error": error, "parameter": parameter, "allowed": allowed}
            ).text,
            content_type="application/json",
        )


@dataclass(frozen=True, slots=True)
class Params:
    """The validated query of ``GET /stream``."""

    format: Format = Format.SSE
    count: int = 10
    size: int = 64
    interval_ms: float = 0.0
    approach: Approach = Approach.PULL
    fail_after: int | None = None
    overflow: str = "error"
    capacity: int = 1024
    rate: float = 1000.0
    burst: int = 100
    drop_after: int | None = None
    #: The first sequence number: one past the ``Last-Event-ID`` header (not a query
    #: parameter; see :func:`resume_point`).
    start: int = 0

    @property
    def interval(self) -> float:
        """Seconds between two items."""
        return self.interval_ms / 1000


_DEFAULT = Params()

#: The designs whose push source runs into a buffer of ``capacity`` items.
BUFFERED = frozenset({Approach.PUSH_BUFFER, Approach.PUSH_THROTTLE})


def _integer(query: Mapping[str, str], name: str, low: int, high: int, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not _INTEGER.fullmatch(text):
        raise BadParameter(
            name,
            f"{name} must be an integer in ASCII digits, got {text!r}",
            f"integer {low}..{high}",
        )
    value = int(text)
    if not low <= value <= high:
        raise BadParameter(
            name, f"{name} must be in {low}..{high}, got {value}", f"integer {low}..{high}"
        )
    return value


def _number(
    query: Mapping[str, str],
    name: str,
    low: float,
    high: float,
    default: float,
    *,
    open_low: bool = False,
    zero: bool = False,
) -> float:
    """A decimal number in ``low..high`` (``open_low``: above ``low``); ``zero``: or 0."""
    text = query.get(name)
    if text is None:
        return default
    value = float(text) if _NUMBER.fullmatch(text) else None
    allowed = f"number {'>' if open_low else '>='} {low:g} and <= {high:g}"
    if zero:
        allowed = f"0, or a {allowed}"
    if value is None or not (
        (zero and value == 0) or (low < value <= high if open_low else low <= value <= high)
    ):
        raise BadParameter(
            name, f"{name} must be a {allowed}, in ASCII digits, got {text!r}", allowed
        )
    return value


def _choice(query: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = query.get(name, default)
    if value not in allowed:
        raise BadParameter(
            name, f"{name} must be one of {', '.join(allowed)}, got {value!r}", list(allowed)
        )
    return value


def parse_params(query: MultiMapping[str]) -> Params:
    """Validate every parameter of ``GET /stream``.

    Numbers are ASCII digits only. ``capacity * size`` is bounded for the designs with a
    buffer (:data:`BUFFERED`), and an ``interval_ms`` is 0 or at least a microsecond.

    Raises:
        BadParameter: (400) an unknown parameter, a repeated one, or a value of the wrong
            type, out of range, or not among the allowed ones.
    """
    known = Params.__dataclass_fields__.keys() - {"start"}
    for name in query:
        if name not in known:
            raise BadParameter(name, f"unknown parameter {name!r}", sorted(known))
        if len(query.getall(name)) > 1:
            raise BadParameter(name, f"{name} given more than once", "one value")
    count = _integer(query, "count", 0, MAX_COUNT, _DEFAULT.count)
    size = _integer(query, "size", MIN_SIZE, MAX_SIZE, _DEFAULT.size)
    if count * size > MAX_TOTAL_BYTES:
        raise BadParameter(
            "count",
            f"count * size must be <= {MAX_TOTAL_BYTES} bytes, got {count} * {size}",
            f"count * size <= {MAX_TOTAL_BYTES}",
        )
    fail_after = query.get("fail_after")
    drop_after = query.get("drop_after")
    approach = Approach(_choice(query, "approach", _ALL_APPROACHES, _DEFAULT.approach))
    capacity = _integer(query, "capacity", 1, MAX_CAPACITY, _DEFAULT.capacity)
    if approach in BUFFERED and capacity * size > MAX_BUFFER_BYTES:
        raise BadParameter(
            "capacity",
            f"capacity * size must be <= {MAX_BUFFER_BYTES} bytes (what the buffer may hold), "
            f"got {capacity} * {size}",
            f"capacity <= {MAX_BUFFER_BYTES // size} at size {size}",
        )
    interval_ms = _number(
        query, "interval_ms", MIN_INTERVAL_MS, MAX_INTERVAL_MS, _DEFAULT.interval_ms, zero=True
    )
    return Params(
        format=Format(_choice(query, "format", FORMATS, _DEFAULT.format)),
        count=count,
        size=size,
        interval_ms=interval_ms,
        approach=approach,
        fail_after=None if fail_after is None else _integer(query, "fail_after", 0, count, 0),
        overflow=_choice(query, "overflow", tuple(OVERFLOWS), _DEFAULT.overflow),
        capacity=capacity,
        rate=_number(query, "rate", 0, MAX_RATE, _DEFAULT.rate, open_low=True),
        burst=_integer(query, "burst", 1, MAX_CAPACITY, _DEFAULT.burst),
        drop_after=None if drop_after is None else _integer(query, "drop_after", 1, MAX_COUNT, 1),
    )


def resume_point(headers: Mapping[str, str], params: Params) -> Params:
    """``params`` starting one past the ``Last-Event-ID`` header, if the client sent one.

    Raises:
        BadParameter: (400) the header is not an integer in ``0..count-1``, the ids this
            stream hands out.
    """
    text = headers.get("Last-Event-ID")
    if not text or text == FAILED_ID:
        # Absent, or empty (a browser sends none when the last id was empty); or the
        # reconnect after a failure, which the stream answers 204 on its own.
        return params
    last = _integer({"Last-Event-ID": text}, "Last-Event-ID", 0, params.count - 1, 0)
    return replace(params, start=last + 1)


def parse_page(query: MultiMapping[str]) -> tuple[int, int]:
    """``offset`` and ``limit`` of ``GET /metrics`` (default ``0`` and :data:`METRICS_PAGE`).

    Raises:
        BadParameter: (400) an unknown or repeated parameter, or a value that is not an
            ASCII integer in range (``limit`` at most :data:`MAX_METRICS_PAGE`).
    """
    for name in query:
        if name not in ("offset", "limit"):
            raise BadParameter(name, f"unknown parameter {name!r}", ["limit", "offset"])
        if len(query.getall(name)) > 1:
            raise BadParameter(name, f"{name} given more than once", "one value")
    offset = _integer(query, "offset", 0, MAX_COUNT, 0)
    return offset, _integer(query, "limit", 0, MAX_METRICS_PAGE, METRICS_PAGE)
