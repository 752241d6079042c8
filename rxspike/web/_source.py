"""Normalising what a handler passes in: every source becomes one Flowable, here and only here.

- a :class:`~rxspike.Flowable` is used as it is: its demand is the socket's;
- a plain ``reactivex.Observable`` cannot be slowed down, so it goes through a bounded
  buffer that fails the stream when the client falls ``push_capacity`` items behind
  (``from_observable(observable, push_capacity, Overflow.ERROR)``): memory stays bounded and
  the failure is visible. For another strategy (drop oldest, drop incoming, throttle), build
  the Flowable yourself and pass that;
- an async iterable is pulled one item per unit of demand (``from_async_iterable``), and
  closed when the stream ends early, so an async generator's ``finally`` runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import TypeVar

from reactivex import Observable

from ..bridges import from_observable
from ..core import Flowable, from_async_iterable
from ..operators import Overflow

T = TypeVar("T")

#: What the one-call functions accept as a source.
Source = Flowable[T] | Observable[T] | AsyncIterable[T]


def as_flowable(source: Source[T], push_capacity: int) -> Flowable[T]:
    """The Flowable a stream writes from; see the module docstring for each kind.

    Raises:
        TypeError: ``source`` is none of the three (a list or a generator, say: wrap it in
            ``rxspike.from_iterable``, which pulls it on demand).
    """
    if isinstance(source, Flowable):
        return source
    if isinstance(source, Observable):
        return from_observable(source, push_capacity, Overflow.ERROR)
    if hasattr(source, "__aiter__"):
        return from_async_iterable(source)
    raise TypeError(
        "a stream's source must be a rxspike.Flowable, a reactivex.Observable or an async "
        f"iterable, got {type(source).__name__}; wrap a plain iterable in "
        "rxspike.from_iterable(...)"
    )
