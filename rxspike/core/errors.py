"""Exceptions rxspike raises or signals, each named for what happened."""

from __future__ import annotations


class RxSpikeError(Exception):
    """Base of every error rxspike itself signals."""


class InvalidDemandError(RxSpikeError, ValueError):
    """``request(n)`` was called with something other than a positive int (rule 3.9).

    ``n <= 0``, a float (``1.5`` is not "unbounded"), a string, None or a bool. Signalled to
    the subscriber through ``on_error``, never raised out of ``request()`` (rule 3.16); the
    subscription is cancelled.
    """

    def __init__(self, n: object) -> None:
        kind = "" if type(n) is int else f" ({type(n).__name__})"
        super().__init__(
            f"request(n) needs a positive int n, got {n!r}{kind} (Reactive Streams rule 3.9); "
            "the subscription was cancelled"
        )
        self.n = n


class InvalidCallbackResultError(RxSpikeError, TypeError, ValueError):
    """A user callback (such as ``cost(item)``) returned a value its stage cannot use.

    The message names the callback, the value and what is allowed. Signalled through
    ``on_error``; the stage cancels upstream.
    """


class MissingBackpressureError(RxSpikeError):
    """A stage received more items than it asked for and had nowhere bounded to put them.

    Either an upstream publisher broke rule 1.1, or push operators inside a fused segment
    emitted more than the segment may hold. Put an explicit backpressure operator
    (``on_backpressure_buffer``, ``on_backpressure_latest``, ``throttle``) where items multiply.
    """


class ProtocolViolationError(RxSpikeError):
    """A publisher or subscriber broke a Reactive Streams rule (named in the message).

    Such errors usually cannot be delivered to anyone, so they go to the undeliverable hook.
    """
