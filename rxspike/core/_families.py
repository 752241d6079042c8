"""What each reactivex operator does to demand, so ``pipe`` can fuse, bound or refuse it.

A fused segment feeds an item into its operators only while downstream has demand. That is
enough for operators that answer each item before the call returns (``map``, ``filter``,
``scan``). Two kinds need more:

- operators that **multiply** items (``flat_map``, ``concat``, ``repeat``) may emit many
  items, even endlessly, per item fed; the segment feeds them inside reactivex's trampoline
  (so an inner source subscribes after the feeding call returned and can be disposed) and
  fails with :class:`MissingBackpressureError` once their output passes its bound;
- operators that **emit later** (``observe_on``, ``delay``, ``debounce``, ``sample``,
  ``buffer_with_time``) hold items past the call; the segment counts what each of them
  holds and stops feeding while one holds a full window.

Operators that cannot keep demand inside a segment at all are **refused** by ``pipe``,
with the rxspike operator to use instead.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


class Family(enum.Enum):
    """How an operator treats the items fed into it."""

    #: Answers every item before the call returns (emits zero, one or a bounded few).
    FUSED = "fused"
    #: May emit many items per item fed, inner sources included: bounded by the segment.
    MULTIPLIES = "multiplies"
    #: Emits each item later, one for one (observe_on, delay): counted while held.
    EMITS_LATER = "emits later"
    #: Emits later, and an emission settles everything it took in (debounce, sample).
    EMITS_SETTLED = "emits later, settling"
    #: Cannot keep demand inside a segment: ``pipe`` refuses it.
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class OperatorKind:
    """What the segment knows about one operator."""

    #: The reactivex name (``observe_on``), or the callable's own name for other operators.
    name: str
    family: Family
    #: What to use instead, or why it is bounded as it is; shown in error messages.
    advice: str = ""


_LATER = Family.EMITS_LATER
_SETTLED = Family.EMITS_SETTLED
_MULTIPLIES = Family.MULTIPLIES

_FLAT_MAP = (
    "rxspike.operators.flat_map(fn, max_concurrency=..., prefetch=...), which requests its "
    "inner sources"
)
_CONCAT_MAP = "rxspike.operators.concat_map(fn, prefetch=...), which requests its inner sources"
_MERGE = "rxspike.operators.merge(*others), which requests every source"
_LATEST = (
    "put rxspike.operators.on_backpressure_latest() or on_backpressure_buffer() right after it"
)

_MULTICAST = (
    "a multicast shares one upstream demand among subscribers the segment cannot see: "
    "subscribe each consumer to the Flowable, or share it after the segment through a "
    "boundary that buffers each subscriber explicitly"
)

_KINDS: dict[str, tuple[Family, str]] = {
    # Items multiply: bounded by the segment, MissingBackpressureError beyond the bound.
    "flat_map": (_MULTIPLIES, _FLAT_MAP),
    "flat_map_indexed": (_MULTIPLIES, _FLAT_MAP),
    "flat_map_latest": (_MULTIPLIES, _FLAT_MAP),
    "switch_latest": (_MULTIPLIES, _FLAT_MAP),
    "merge_all": (_MULTIPLIES, _FLAT_MAP),
    "exclusive": (_MULTIPLIES, _FLAT_MAP),
    "concat_all": (_MULTIPLIES, _CONCAT_MAP),
    "expand": (_MULTIPLIES, _FLAT_MAP),
    "concat": (_MULTIPLIES, "the sources after the first push without demand; " + _LATEST),
    "repeat": (_MULTIPLIES, "each repetition resubscribes upstream; " + _LATEST),
    "retry": (_MULTIPLIES, "each retry resubscribes upstream"),
    "do_while": (_MULTIPLIES, "each round resubscribes upstream"),
    "while_do": (_MULTIPLIES, "each round resubscribes upstream"),
    "catch": (_MULTIPLIES, "the fallback source pushes without demand; " + _LATEST),
    "on_error_resume_next": (_MULTIPLIES, "the next source pushes without demand; " + _LATEST),
    "combine_latest": (_MULTIPLIES, "the other sources push without demand; " + _LATEST),
    "with_latest_from": (Family.FUSED, "emits only when the segment feeds it"),
    "default_if_empty": (Family.FUSED, ""),
    "start_with": (Family.FUSED, ""),
    # Items come out later (another thread, a timer): the segment counts what each holds.
    "observe_on": (_LATER, "rxspike.operators.observe_on(scheduler) keeps demand exactly"),
    "delay": (_LATER, "rxspike.operators.delay(duration) keeps demand exactly"),
    "delay_with_mapper": (_LATER, "rxspike.operators.delay(duration) keeps demand exactly"),
    "timeout": (_LATER, ""),
    "timeout_with_mapper": (_LATER, ""),
    "skip_last_with_time": (_LATER, ""),
    "debounce": (_SETTLED, ""),
    "throttle_with_mapper": (_SETTLED, ""),
    "sample": (_SETTLED, ""),
    "buffer": (_SETTLED, ""),
    "buffer_when": (_SETTLED, ""),
    "buffer_toggle": (_SETTLED, ""),
    "buffer_with_time": (_SETTLED, "rxspike.operators.batch(max_items, max_time=...)"),
    "buffer_with_time_or_count": (_SETTLED, "rxspike.operators.batch(max_items, max_time=...)"),
    "window": (_SETTLED, ""),
    "window_when": (_SETTLED, ""),
    "window_toggle": (_SETTLED, ""),
    "window_with_time": (_SETTLED, ""),
    "window_with_time_or_count": (_SETTLED, ""),
    # Cannot keep demand in a segment.
    "merge": (
        Family.REFUSED,
        "its other sources push without demand (without others it is merge_all): use " + _MERGE,
    ),
    "zip": (
        Family.REFUSED,
        "it queues the other sources' items without bound: make each side a Flowable "
        "(rxspike.from_observable(other, capacity, overflow)) or zip with an iterable "
        "(zip_with_iterable)",
    ),
    "zip_latest": (
        Family.REFUSED,
        "the other sources push without demand: make them Flowables with "
        "rxspike.from_observable(other, capacity, overflow)",
    ),
    "amb": (
        Family.REFUSED,
        "the winning source may push without demand: make it a Flowable with "
        "rxspike.from_observable(other, capacity, overflow)",
    ),
    "join": (Family.REFUSED, "it keeps both sides' windows without bound"),
    "group_join": (Family.REFUSED, "it keeps both sides' windows without bound"),
    "fork_join": (Family.REFUSED, "the other sources push without demand"),
    "multicast": (Family.REFUSED, _MULTICAST),
    "publish": (Family.REFUSED, _MULTICAST),
    "publish_value": (Family.REFUSED, _MULTICAST),
    "replay": (Family.REFUSED, _MULTICAST + "; its replay buffer is unbounded by default"),
    "share": (Family.REFUSED, _MULTICAST),
    "ref_count": (Family.REFUSED, _MULTICAST),
    "to_future": (Family.REFUSED, "it returns a Future, not an Observable: await acollect()"),
    "subscribe_on": (
        Family.REFUSED,
        "a Flowable subscribes when it is asked to; use rxspike.operators.observe_on "
        "(scheduler) to move delivery to a scheduler",
    ),
}


def _identify(operator: Callable[..., Any]) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """The reactivex names of ``operator`` with their positional arguments (several for a
    ``compose``), else its own name."""
    closure = getattr(operator, "__closure__", None) or ()
    qualname = getattr(operator, "__qualname__", "")
    if getattr(operator, "__module__", "") == "reactivex.pipe" and qualname.startswith("compose"):
        for cell in closure:
            if isinstance(cell.cell_contents, tuple):
                for inner in cell.cell_contents:
                    yield from _identify(inner)
                return
    contents = [cell.cell_contents for cell in closure]
    for content in contents:
        name = getattr(content, "__name__", "")
        if callable(content) and name.endswith("_") and not name.startswith("_"):
            args = next((c for c in contents if isinstance(c, tuple)), ())
            yield name.rstrip("_"), args
            return
    head = qualname.split(".<locals>")[0]
    if head.endswith("_") and getattr(operator, "__module__", "").startswith("reactivex."):
        yield head.rstrip("_"), ()
        return
    yield getattr(operator, "__name__", None) or repr(operator), ()


def classify(operator: Callable[..., Any]) -> list[OperatorKind]:
    """The kinds of the reactivex operators ``operator`` is made of (one, or a compose's).

    An operator rxspike does not know (a user's function) counts as one that may multiply
    items: the segment then bounds its output and can stop a synchronous endless inner
    source.
    """
    kinds = []
    for found, args in _identify(operator):
        # merge with no other sources is merge_all (reactivex's concat_map is built on it).
        name = "merge_all" if found == "merge" and not args else found
        family, advice = _KINDS.get(name, (None, ""))
        if family is None:
            known = getattr(operator, "__module__", "").startswith("reactivex.")
            family = Family.FUSED if known else Family.MULTIPLIES
        kinds.append(OperatorKind(name, family, advice))
    return kinds


def operator_names(operator: Callable[..., Any]) -> list[str]:
    """The names ``operator`` is known by (``["map"]``; a ``compose`` has several)."""
    return [name for name, _ in _identify(operator)]
