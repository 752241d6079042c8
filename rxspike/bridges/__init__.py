"""Bridges between push and pull: reactivex Observables and hot producers into Flowables.

Part of the operators-and-bridges layer: imports the demand core and the shared overflow
buffer of :mod:`rxspike.operators`, never the other way round.
"""

from ._blocking import from_blocking_iterable
from ._emitter import (
    Emitter,
    EmitterClosedError,
    EmitterState,
    SubscriberCancelledError,
    WouldBlock,
    emitter,
)
from ._from_observable import ObservableFlowable, from_observable
from ._hub import Hub, HubFlowable, HubMode, HubState, HubStats, broadcast

__all__ = [
    "Emitter",
    "EmitterClosedError",
    "EmitterState",
    "Hub",
    "HubFlowable",
    "HubMode",
    "HubState",
    "HubStats",
    "ObservableFlowable",
    "SubscriberCancelledError",
    "WouldBlock",
    "broadcast",
    "emitter",
    "from_blocking_iterable",
    "from_observable",
]
