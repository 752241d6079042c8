"""``limit_rate``: cap how much is ever requested upstream at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..core import Flowable, boundary, validate_prefetch

T = TypeVar("T")


def limit_rate(high: int, low: int | None = None) -> Callable[[Flowable[T]], Flowable[T]]:
    """Never have more than ``high`` items requested upstream; ask for ``low`` more at a time.

    Whatever the downstream demand (unbounded included), upstream first gets
    ``request(high)`` and then ``request(low)`` each time ``low`` items went downstream
    (Reactor's ``limitRate(highTide, lowTide)``). ``low`` defaults to 75 % of ``high``.
    Items arriving before downstream asked for them wait in a queue of at most ``high``.

    .. code::

        request:  --r(∞)------------------------------
        upstream: --r(4)--a--b--c--r(3)--d--e--f--r(3)
        result:   --------a--b--c--------d--e--f------

    >>> from rxspike import range_
    >>> range_(10).pipe(limit_rate(4)).collect()
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]

    Raises:
        ValueError: ``high`` is not a positive int, or ``low`` is not in ``1..high``.
    """
    validate_prefetch(high, "limit_rate(high)")
    if low is None:
        low = high - high // 4
    elif isinstance(low, bool) or not isinstance(low, int) or not 1 <= low <= high:
        raise ValueError(f"limit_rate(low) must be an int in 1..{high} (high), got {low!r}")
    return boundary(f"limit_rate({high}, {low})", high, low)
