"""Argument and callback-result checks, written once for every stage.

Each check names the argument, the value it got, and what is allowed, and raises a real
exception: ``ValueError`` for a value out of range, ``TypeError`` for a value of the wrong
kind. Construction-time checks (``positive_int``, ``positive_number``, ``seconds``, ...)
run when an operator is built, so a bad argument fails at once, in the caller's code.
Run-time checks (:func:`checked_cost`, :func:`checked_delay`) judge what user callbacks
return while the stream runs; the stage turns their :class:`InvalidCallbackResultError`
into ``on_error``, never into an exception out of ``request()``.

>>> positive_int(3, "take(count)")
3
>>> positive_int(0, "batch(max_items)")
Traceback (most recent call last):
...
ValueError: batch(max_items) must be a positive int, got 0
>>> try:
...     checked_cost(None, "throttle()")
... except InvalidCallbackResultError as error:
...     print(error)
throttle(): cost(item) must return a finite number >= 0, got None
"""

from __future__ import annotations

import enum
import math
from typing import TypeVar

from .errors import InvalidCallbackResultError

E = TypeVar("E", bound=enum.Enum)

#: The longest wait any timed stage may schedule: about 31.7 years. Far beyond any real
#: timeout, and far inside what ``datetime.timedelta`` (and so every reactivex scheduler)
#: can represent, which is what keeps OverflowError out of the schedulers.
MAX_SECONDS = 1e9


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def positive_int(value: object, what: str) -> int:
    """``value`` if it is an int ``>= 1`` (bool is not an int here)."""
    if not _is_int(value) or value < 1:  # type: ignore[operator]
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return value  # type: ignore[return-value]


def non_negative_int(value: object, what: str) -> int:
    """``value`` if it is an int ``>= 0``."""
    if not _is_int(value) or value < 0:  # type: ignore[operator]
        raise ValueError(f"{what} must be an int >= 0, got {value!r}")
    return value  # type: ignore[return-value]


def positive_number(value: object, what: str) -> float:
    """``value`` as a float if it is a finite number ``> 0``."""
    if not _is_number(value) or not value > 0:  # type: ignore[operator]
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    if not math.isfinite(value):  # type: ignore[arg-type]
        raise ValueError(f"{what} must be finite, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def seconds(value: object, what: str) -> float:
    """``value`` as a float if it is a positive duration a scheduler can wait for."""
    duration = positive_number(value, what)
    if duration > MAX_SECONDS:
        raise ValueError(
            f"{what} must be at most {MAX_SECONDS:g} seconds (a scheduler cannot wait longer), "
            f"got {value!r}"
        )
    return duration


def rate(value: object, burst: float, what: str) -> float:
    """A token rate per second: positive, finite, and fast enough that refilling a bucket
    of ``burst`` tokens takes at most :data:`MAX_SECONDS`."""
    per_second = positive_number(value, what)
    if burst / per_second > MAX_SECONDS:
        raise ValueError(
            f"{what} must refill the burst of {burst:g} within {MAX_SECONDS:g} seconds, so at "
            f"least {burst / MAX_SECONDS:g} per second; got {value!r}"
        )
    return per_second


def member(value: object, kind: type[E], what: str) -> E:
    """``value`` if it is a member of the enum ``kind``."""
    if not isinstance(value, kind):
        allowed = ", ".join(f"{kind.__name__}.{m.name}" for m in kind)
        raise TypeError(f"{what} must be one of {allowed}, got {value!r}")
    return value


def check_callable(value: object, what: str, *, optional: bool = True) -> None:
    """``value`` must be callable (or None, when ``optional``)."""
    if value is None and optional:
        return
    if not callable(value):
        raise TypeError(f"{what} must be callable{' or None' if optional else ''}, got {value!r}")


def check_max_bytes(max_bytes: object, cost: object, what: str) -> None:
    """An optional positive ``max_bytes`` bound and the ``cost`` callable that measures it."""
    if max_bytes is not None:
        positive_int(max_bytes, f"{what}(max_bytes)")
    check_callable(cost, f"{what}(cost)", optional=False)


def checked_cost(value: object, where: str) -> float:
    """What a ``cost(item)`` callback returned, if it is a finite number ``>= 0``.

    Raises:
        InvalidCallbackResultError: anything else (None, a string, a negative or infinite
            number, NaN).
    """
    if not _is_number(value) or not 0 <= value < math.inf:  # type: ignore[operator]
        raise InvalidCallbackResultError(
            f"{where}: cost(item) must return a finite number >= 0, got {value!r}"
        )
    return value  # type: ignore[return-value]


def checked_int_cost(value: object, where: str) -> int:
    """What a ``cost(item)`` callback measuring bytes returned, if it is an int ``>= 0``."""
    if not _is_int(value) or value < 0:  # type: ignore[operator]
        raise InvalidCallbackResultError(
            f"{where}: cost(item) must return an int >= 0, got {value!r}"
        )
    return value  # type: ignore[return-value]


def checked_delay(value: float, where: str) -> float:
    """A wait computed at run time (from costs and rates), if a scheduler can wait for it."""
    if not value <= MAX_SECONDS:  # also NaN
        raise InvalidCallbackResultError(
            f"{where}: the next item would have to wait {value:g} s, more than the "
            f"{MAX_SECONDS:g} s a scheduler can wait; its cost is too large for the rate"
        )
    return value


# The names the stages were written against before this module existed.
check_capacity = positive_int


def check_overflow(value: object, what: str) -> enum.Enum:
    """``value`` if it is an :class:`rxspike.core.kit.Overflow` strategy."""
    from ._buffer import Overflow

    return member(value, Overflow, what)
