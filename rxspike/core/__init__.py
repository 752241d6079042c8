"""The demand core: Flowable, the Reactive Streams protocol, sources, consumers, segments.

Depends on reactivex only; every other layer of rxspike builds on this one.
"""

from ._aiter import FlowIterator
from ._segment import FlowOperator, boundary, describe_operator, fuse, validate_prefetch
from .async_source import DEFAULT_CLEANUP_TIMEOUT, AsyncCleanupTimeoutError, from_async_iterable
from .errors import (
    InvalidDemandError,
    MissingBackpressureError,
    ProtocolViolationError,
    RxSpikeError,
)
from .flowable import DEFAULT_PREFETCH, Flowable
from .hooks import report_undeliverable, set_undeliverable_hook
from .sources import GenerateSink, defer, empty, error, from_iterable, generate, just, range_
from .subscribers import LambdaSubscriber, RequestSubscriber
from .types import UNBOUNDED, Subscriber, Subscription

__all__ = [
    "DEFAULT_CLEANUP_TIMEOUT",
    "DEFAULT_PREFETCH",
    "UNBOUNDED",
    "AsyncCleanupTimeoutError",
    "FlowIterator",
    "FlowOperator",
    "Flowable",
    "GenerateSink",
    "InvalidDemandError",
    "LambdaSubscriber",
    "MissingBackpressureError",
    "ProtocolViolationError",
    "RequestSubscriber",
    "RxSpikeError",
    "Subscriber",
    "Subscription",
    "boundary",
    "defer",
    "describe_operator",
    "empty",
    "error",
    "from_async_iterable",
    "from_iterable",
    "fuse",
    "generate",
    "just",
    "range_",
    "report_undeliverable",
    "set_undeliverable_hook",
    "validate_prefetch",
]
