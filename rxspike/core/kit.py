"""The stage kit: what every boundary above the core is built from.

Layers above the core (operators, bridges, the web adapter) import the core's machinery
from here and from the core's public modules only, never from its private modules; the
import contract in ``.importlinter`` checks that. See docs/architecture.md, "The stage kit".

- :class:`WorkLoop`: the drain loop and its one door (``_enter_locked``, ``_mark_locked``,
  ``_enter_idle_locked``/``_leave``, ``_schedule``); the only code that touches the
  work-in-progress counter.
- :class:`DemandLoop`: a WorkLoop that is a Subscription: ``request``/``cancel`` with
  rule 3.9 for every kind of bad demand, ``_settle`` (the drain's first step),
  ``_check_terminated`` (RxJava's ``checkTerminated``), ``_end`` (one fenced terminal
  signal), ``_abandon`` (rule 2.13), and :class:`Lifecycle`.
- :class:`Upstream`: the one subscriber a stage puts upstream, with rule 2.5
  (:func:`validate_subscription`) and late-signal handling.
- :class:`BufferStage`: the bounded buffer and its :class:`Overflow` strategies, shared by
  the overflow operators and the bridges; :class:`StageStats` / :class:`StageOperator`.
- :mod:`rxspike.core.validate`: argument and callback-result checks.
"""

from ._buffer import (
    BufferOverflowError,
    BufferStage,
    Cost,
    EmitResult,
    OnDropped,
    Overflow,
    Reducer,
)
from ._demand import ACTIVE, DemandLoop, DemandSubscription, Lifecycle
from ._upstream import (
    NO_DEMAND,
    Upstream,
    UpstreamStage,
    end_at_once,
    subscribe_fenced,
    validate_subscription,
)
from ._workloop import WorkLoop
from .stats import Stage, StageOperator, StageStats, empty_stats
from .validate import (
    MAX_SECONDS,
    check_callable,
    check_capacity,
    check_max_bytes,
    check_overflow,
    checked_cost,
    checked_delay,
    checked_int_cost,
    member,
    non_negative_int,
    positive_int,
    positive_number,
    rate,
    seconds,
)

__all__ = [
    "ACTIVE",
    "MAX_SECONDS",
    "NO_DEMAND",
    "BufferOverflowError",
    "BufferStage",
    "Cost",
    "DemandLoop",
    "DemandSubscription",
    "EmitResult",
    "Lifecycle",
    "OnDropped",
    "Overflow",
    "Reducer",
    "Stage",
    "StageOperator",
    "StageStats",
    "Upstream",
    "UpstreamStage",
    "WorkLoop",
    "check_callable",
    "check_capacity",
    "check_max_bytes",
    "check_overflow",
    "checked_cost",
    "checked_delay",
    "checked_int_cost",
    "empty_stats",
    "end_at_once",
    "member",
    "non_negative_int",
    "positive_int",
    "positive_number",
    "rate",
    "seconds",
    "subscribe_fenced",
    "validate_subscription",
]
