"""The Reactive Streams protocol in Python: the names everything else is written against."""

from __future__ import annotations

from typing import Protocol, TypeVar

T_contra = TypeVar("T_contra", contravariant=True)

#: Total demand at or above this is unbounded (Reactive Streams rule 3.17: Long.MAX_VALUE).
UNBOUNDED = 2**63 - 1


class Subscription(Protocol):
    """A subscriber's handle on its source.

    ``request(n)`` adds ``n`` to the outstanding demand; demand is additive and saturates at
    :data:`UNBOUNDED`. ``request(n <= 0)`` is answered with ``on_error(InvalidDemandError)``.
    ``cancel()`` asks the source to stop and to drop its reference to the subscriber. Both
    return promptly, never raise, may be called from any thread and from inside ``on_next``,
    and become no-ops once the subscription has ended.
    """

    def request(self, n: int) -> None: ...

    def cancel(self) -> None: ...


class Subscriber(Protocol[T_contra]):
    """Receives a stream's signals, serially: ``on_subscribe`` first, then at most as many
    ``on_next`` as it requested, then at most one of ``on_error`` / ``on_completed``.

    A subscriber may see ``on_next`` after it called ``cancel()`` (items already in flight),
    and a terminal signal whether or not it requested anything.
    """

    def on_subscribe(self, subscription: Subscription) -> None: ...

    def on_next(self, value: T_contra) -> None: ...

    def on_error(self, error: Exception) -> None: ...

    def on_completed(self) -> None: ...
