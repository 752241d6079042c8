"""Fused push segments: a run of reactivex operators behind one bounded demand boundary.

This module assembles a segment (``fuse``, ``boundary``) and hands each subscription to the
run class for its mode (``_segment_runs``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from ._families import Family, classify, operator_names
from ._segment_runs import SegmentPlan, SegmentRun, run_class
from .errors import UnsupportedOperatorError
from .flowable import DEFAULT_PREFETCH, Flowable
from .types import UNBOUNDED, Subscriber

T = TypeVar("T")
R = TypeVar("R")

PushOperator = Callable[[Any], Any]


class FlowOperator(Generic[T, R]):
    """A demand-aware operator, ``Flowable[T] -> Flowable[R]``.

    ``Flowable.pipe`` applies it as it is; anything else in ``pipe`` is a reactivex operator
    and is fused into a push segment.
    """

    __slots__ = ("_apply", "name")

    def __init__(self, name: str, apply: Callable[[Flowable[T]], Flowable[R]]) -> None:
        self.name = name
        self._apply = apply

    def __call__(self, source: Flowable[T]) -> Flowable[R]:
        return self._apply(source)

    def __repr__(self) -> str:
        return f"<flow operator {self.name}>"


def describe_operator(operator: Callable[..., Any]) -> str:
    """A readable name for a reactivex operator (``map``), for error messages."""
    return "+".join(operator_names(operator))


def validate_prefetch(prefetch: int, what: str = "prefetch") -> int:
    if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
        raise ValueError(f"{what} must be a positive int, got {prefetch!r}")
    return prefetch


def fuse(*operators: PushOperator, prefetch: int = DEFAULT_PREFETCH) -> FlowOperator[Any, Any]:
    """Run reactivex operators as one push segment behind a bounded demand boundary.

    ``Flowable.pipe`` does this on its own for every run of reactivex operators, with
    :data:`DEFAULT_PREFETCH`; call ``fuse`` to choose the prefetch.

    The segment asks upstream for ``prefetch`` items, and for ``prefetch - prefetch // 4``
    more each time that many have gone through. It feeds an item into the operators only
    while downstream has demand; what the operators emit beyond that demand is held, up to
    ``prefetch`` items, and more than that disposes them and fails the stream with
    :class:`MissingBackpressureError` (the message names the operators and what to use).
    Operators that multiply items are fed inside reactivex's trampoline, so even an
    endless synchronous inner source stops at that bound; operators that emit later
    (``observe_on``, ``delay``, ``debounce``) are paced: the segment stops feeding while
    they hold ``prefetch`` items. When downstream demand is unbounded and no operator emits
    later, nothing can pile up, so unbounded demand goes upstream and items run straight
    through. See docs/operators.md for every reactivex operator.

    Raises:
        UnsupportedOperatorError: an operator cannot keep demand inside a segment (``merge``
            with other sources, ``zip``, ``share``...); the message names what to use.
        ValueError: ``prefetch`` is not a positive int.

    Args:
        operators: reactivex operators, applied left to right.
        prefetch: how many items the segment keeps requested ahead.
    """
    validate_prefetch(prefetch)
    plan = _plan(operators, prefetch, prefetch - prefetch // 4, pass_unbounded=True)
    return FlowOperator(f"fuse({plan.names})", lambda source: _segment(source, plan))


def boundary(name: str, prefetch: int, replenish: int) -> FlowOperator[Any, Any]:
    """An operator-free boundary that never asks upstream for more than ``prefetch`` items."""
    plan = SegmentPlan((), (), name, prefetch, replenish, pass_unbounded=False)
    return FlowOperator(name, lambda source: _segment(source, plan))


def _plan(
    operators: Sequence[PushOperator], prefetch: int, replenish: int, *, pass_unbounded: bool
) -> SegmentPlan:
    """Classify the operators; refuse those that cannot keep demand inside a segment."""
    kinds = [classify(op) for op in operators]
    for kind in (k for ks in kinds for k in ks):
        if kind.family is Family.REFUSED:
            raise UnsupportedOperatorError(
                f"reactivex operator {kind.name}() cannot keep demand inside a fused "
                f"segment: {kind.advice}"
            )
    names = ", ".join(describe_operator(op) for op in operators)
    return SegmentPlan(tuple(operators), kinds, names, prefetch, replenish, pass_unbounded)


def _segment(source: Flowable[Any], plan: SegmentPlan) -> Flowable[Any]:
    def subscribe(subscriber: Subscriber[Any]) -> None:
        handoff = _Handoff()
        subscriber.on_subscribe(handoff)
        run = run_class(plan, handoff.unbounded)(subscriber, source, plan)
        handoff.hand_over(run)
        run.start()

    return Flowable(subscribe)


class _Handoff:
    """The subscription a segment's subscriber gets: it records what the subscriber asks
    during ``on_subscribe``, when the mode is not chosen yet, and then forwards to the run.

    Whether the subscriber asked for unbounded demand at once decides the mode, so the run
    is made after ``on_subscribe`` returned and the recorded calls are replayed on it.
    """

    __slots__ = ("_calls", "_lock", "_target", "_total")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Callable[[SegmentRun], None]] | None = []
        self._target: SegmentRun | None = None
        self._total = 0

    @property
    def unbounded(self) -> bool:
        return self._total >= UNBOUNDED

    def request(self, n: int) -> None:
        target = self._target
        if target is None:
            with self._lock:
                calls = self._calls
                if calls is not None:
                    calls.append(lambda run: run.request(n))
                    if type(n) is int and n > 0:
                        self._total += n
                    return
                target = self._target
        assert target is not None  # set before _calls is cleared
        target.request(n)

    def cancel(self) -> None:
        target = self._target
        if target is None:
            with self._lock:
                calls = self._calls
                if calls is not None:
                    calls.append(SegmentRun.cancel)
                    return
                target = self._target
        assert target is not None
        target.cancel()

    def hand_over(self, run: SegmentRun) -> None:
        """Forward from now on; replay what was asked so far (demand is additive, and a
        cancel replayed after a concurrent request still wins)."""
        with self._lock:
            self._target = run
            calls, self._calls = self._calls, None
        for call in calls or ():
            call(run)
