"""Demand-aware operators, used like ``reactivex.operators``: ``flow.pipe(take(3))``."""

from ..core import fuse
from ._limit_rate import limit_rate
from ._take import take

__all__ = ["fuse", "limit_rate", "take"]
