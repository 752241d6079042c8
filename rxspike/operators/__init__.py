"""Demand-aware operators, used like ``reactivex.operators``: ``flow.pipe(take(3))``."""

from ..core import fuse
from ..core.kit import BufferOverflowError, EmitResult, Overflow, StageOperator, StageStats
from ._batch import batch
from ._buffer import on_backpressure_buffer
from ._latest import on_backpressure_latest, on_backpressure_reduce
from ._limit_rate import limit_rate
from ._take import take
from ._throttle import ThrottleExceededError, ThrottleMode, throttle

__all__ = [
    "BufferOverflowError",
    "EmitResult",
    "Overflow",
    "StageOperator",
    "StageStats",
    "ThrottleExceededError",
    "ThrottleMode",
    "batch",
    "fuse",
    "limit_rate",
    "on_backpressure_buffer",
    "on_backpressure_latest",
    "on_backpressure_reduce",
    "take",
    "throttle",
]
