"""Normalising what a handler passes in: every source becomes one Flowable, here and only here.

- a :class:`~rxspike.Flowable` is used as it is: its demand is the socket's;
- a plain ``reactivex.Observable`` cannot be slowed down, so it goes through a bounded
  buffer that fails the stream when the client falls ``push_capacity`` items behind
  (``from_observable(observable, push_capacity, Overflow.ERROR)``): memory stays bounded and
  the failure is visible. For another strategy (drop oldest, drop incoming, throttle), build
  the Flowable yourself and pass that;
- an async iterable is pulled one item per unit of demand (``from_async_iterable``), and
  closed when the stream ends early, so an async generator's ``finally`` runs;
- a broadcast :class:`~rxspike.Hub` is joined: the stream gets a subscriber buffer of its
  own (``hub.flowable``), whose drops the stream's statistics report;
- a plain iterable (a list, a generator) is pulled on demand too (``from_iterable``), on the
  event loop: each ``next()`` must be quick. One that blocks (a database cursor, a file on
  a slow disk) belongs in ``rxspike.from_blocking_iterable(it)``, which reads it in a worker
  thread, still one item per unit of demand.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import TypeVar

from reactivex import Observable

from ..bridges import Hub, from_observable
from ..core import Flowable, from_async_iterable, from_iterable
from ..operators import Overflow

T = TypeVar("T")

#: What the one-call functions accept as a source.
Source = Flowable[T] | Observable[T] | Hub[T] | AsyncIterable[T] | Iterable[T]

#: Iterables that are one value, not a sequence of items: iterating them is never meant.
_SCALARS = (str, bytes, bytearray, memoryview)


def as_flowable(source: Source[T], push_capacity: int) -> Flowable[T]:
    """The Flowable a stream writes from; see the module docstring for each kind.

    Raises:
        TypeError: ``source`` is none of the five kinds, or a single ``str``/``bytes``
            value (which would be streamed character by character or as ints).
    """
    if isinstance(source, Flowable):
        return source
    if isinstance(source, Hub):
        return source.flowable  # a new one per stream: its statistics are this stream's
    if isinstance(source, Observable):
        return from_observable(source, push_capacity, Overflow.ERROR)
    if isinstance(source, AsyncIterable):
        return from_async_iterable(source)
    if isinstance(source, _SCALARS):
        raise TypeError(
            f"a stream's source must be a sequence of items, got one {type(source).__name__} "
            "value; pass [value] (or rxspike.just(value)) to send it as one item"
        )
    if isinstance(source, Iterable):
        return from_iterable(source)
    raise TypeError(
        "a stream's source must be a rxspike.Flowable, a reactivex.Observable, a "
        f"rxspike.Hub, an async iterable or an iterable, got {type(source).__name__}"
    )
