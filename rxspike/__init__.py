"""rxspike: ReactiveX streams with real backpressure, bridged to asyncio and aiohttp.

>>> import rxspike
>>> import reactivex.operators as ops
>>> rxspike.range_(10).pipe(ops.filter(lambda x: x % 3 == 0)).collect()
[0, 3, 6, 9]
"""

from . import operators
from .bridges import (
    Emitter,
    Hub,
    HubMode,
    broadcast,
    emitter,
    from_blocking_iterable,
    from_observable,
)
from .core import (
    DEFAULT_PREFETCH,
    UNBOUNDED,
    Flowable,
    FlowIterator,
    FlowOperator,
    GenerateSink,
    InvalidDemandError,
    LambdaSubscriber,
    MissingBackpressureError,
    ProtocolViolationError,
    RequestSubscriber,
    RxSpikeError,
    Subscriber,
    Subscription,
    defer,
    empty,
    error,
    from_async_iterable,
    from_iterable,
    generate,
    just,
    range_,
    report_undeliverable,
    set_undeliverable_hook,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PREFETCH",
    "UNBOUNDED",
    "Emitter",
    "FlowIterator",
    "FlowOperator",
    "Flowable",
    "GenerateSink",
    "Hub",
    "HubMode",
    "InvalidDemandError",
    "LambdaSubscriber",
    "MissingBackpressureError",
    "ProtocolViolationError",
    "RequestSubscriber",
    "RxSpikeError",
    "Subscriber",
    "Subscription",
    "broadcast",
    "defer",
    "emitter",
    "empty",
    "error",
    "from_async_iterable",
    "from_blocking_iterable",
    "from_iterable",
    "from_observable",
    "generate",
    "just",
    "operators",
    "range_",
    "report_undeliverable",
    "set_undeliverable_hook",
]
