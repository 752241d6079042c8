"""Shared state of a source that emits only what was requested."""

from __future__ import annotations

import enum
from typing import Any, Generic, TypeVar

from ._upstream import signal_end
from ._workloop import WorkLoop
from .errors import InvalidDemandError
from .hooks import report_undeliverable
from .types import UNBOUNDED, Subscriber

T = TypeVar("T")


class Lifecycle(enum.Enum):
    """Where a subscription is in its life."""

    #: Emitting whenever there is demand.
    ACTIVE = "active"
    #: ``cancel()`` was called; the source stops at the next item boundary and releases.
    CANCELLED = "cancelled"
    #: ``on_completed`` or ``on_error`` was signalled; counts as cancelled (rule 1.6).
    TERMINATED = "terminated"


ACTIVE = Lifecycle.ACTIVE


class DemandLoop(WorkLoop):
    """A drain loop that is also a Subscription: the demand bookkeeping every boundary shares.

    ``request(n)`` adds to the running total ``_requested`` (saturating at
    :data:`UNBOUNDED`); a request that is not a positive int (``0``, ``-1``, ``1.5``,
    ``"3"``, ``None``, ``True``) is kept in ``_bad_request`` as an
    :class:`InvalidDemandError` for the drain to signal; ``cancel()`` moves ``_state`` to
    ``CANCELLED``. Both only record under the lock and then run the drain or mark it, so
    they return promptly, never raise, and are no-ops once the subscription ended.
    """

    __slots__ = ("_bad_request", "_requested", "_state")

    def __init__(self) -> None:
        super().__init__()
        self._state = ACTIVE
        #: Total demand so far, saturating at UNBOUNDED.
        self._requested = 0
        #: The first invalid request, answered by the drain through ``on_error``.
        self._bad_request: InvalidDemandError | None = None

    def request(self, n: int) -> None:
        # type(n) is int rejects bool, float, str and None in one test on the hot path.
        if type(n) is not int or n <= 0:
            self._bad_demand(n)
            return
        with self._lock:
            if self._state is not ACTIVE:
                return
            total = self._requested + n
            self._requested = total if total < UNBOUNDED else UNBOUNDED
            if not self._enter_locked():
                return
        self._run()

    def _bad_demand(self, n: object) -> None:
        """Keep the first invalid request for the drain to answer (rule 3.9)."""
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:  # an int subclass
            self.request(int(n))
            return
        with self._lock:
            if self._state is not ACTIVE:
                return
            if self._bad_request is None:
                self._bad_request = InvalidDemandError(n)
            if not self._enter_locked():
                return
        self._run()

    def cancel(self) -> None:
        with self._lock:
            if self._state is not ACTIVE:
                return
            self._state = Lifecycle.CANCELLED
            if not self._enter_locked():
                return
        self._run()

    # -- ending, for boundaries that keep their subscriber in ``_downstream`` ----------------

    _downstream: Subscriber[Any] | None

    def _release(self) -> None:
        """Drop the subscriber, cancel upstream, free buffers. Runs once the stream ended."""
        raise NotImplementedError

    def _settle(self) -> Subscriber[Any] | None:
        """The drain's first step: the subscriber to deliver to, or None when there is none.

        Releases a cancelled stream and answers a non-positive request with
        :class:`InvalidDemandError`, so every drain handles both the same way.
        """
        downstream = self._downstream
        if downstream is None:
            return None
        if self._state is not ACTIVE:
            self._release_fenced()
            return None
        if self._bad_request is not None:
            self._end(self._bad_request)
            return None
        return downstream

    def _check_terminated(self, done: bool, empty: bool, error: Exception | None) -> bool:
        """RxJava's ``checkTerminated``: decide, in one place, whether the drain ends here.

        True when it must stop: the stream was cancelled (released), ``error`` is set (it is
        signalled at once, ahead of anything still queued), or upstream is ``done`` and
        nothing is left (completion). False: keep delivering.
        """
        if self._state is not ACTIVE:
            if self._downstream is not None:
                self._release_fenced()
            return True
        if error is not None:
            self._end(error)
            return True
        if done and empty:
            self._end(None)
            return True
        return False

    def _end(self, error: Exception | None) -> None:
        """Release, then signal ``error`` (``None``: completion) to the subscriber, fenced."""
        with self._lock:
            self._state = Lifecycle.TERMINATED
        downstream = self._downstream
        self._release_fenced()
        if downstream is not None:
            signal_end(downstream, error)

    def _abandon(self, error: Exception) -> None:
        """The subscriber raised from ``on_next`` (rule 2.13): stop, release, report it."""
        with self._lock:
            self._state = Lifecycle.CANCELLED
        self._release_fenced()
        report_undeliverable(error)

    def _release_fenced(self) -> None:
        """:meth:`_release`, with whatever it raises (a disposal, a ``finally``) sent to the
        undeliverable hook: ``request()``/``cancel()`` return normally and the terminal
        signal still goes out."""
        try:
            self._release()
        except Exception as error:
            report_undeliverable(error)


class DemandSubscription(DemandLoop, Generic[T]):
    """Base of rxspike's demand-honouring sources.

    Keeps the running totals ``_requested`` (saturating at :data:`UNBOUNDED`) and
    ``_emitted``; outstanding demand is their difference. Subclasses implement ``_emit()``,
    which delivers at most the outstanding demand and may end the stream with ``_end()``,
    and ``_free()``, which frees the source's resources (close iterators, dispose state).
    ``_free()`` runs exactly once, on the draining thread, after the last signal or on
    cancel, before the terminal signal; an exception from it goes to the hook.
    """

    __slots__ = ("_downstream", "_emitted")

    def __init__(self, subscriber: Subscriber[T]) -> None:
        super().__init__()
        self._downstream: Subscriber[T] | None = subscriber
        self._emitted = 0

    def _emit(self) -> None:
        raise NotImplementedError

    def _free(self) -> None:
        """Free the source's resources. Default: nothing."""

    def _release(self) -> None:
        self._downstream = None
        try:
            self._free()
        except Exception as error:
            report_undeliverable(error)

    def _drain(self) -> None:
        if self._state is ACTIVE:
            if self._bad_request is not None:
                self._end(self._bad_request)
                return
            try:
                self._emit()
            except Exception as error:  # a subscriber callback raised (rule 2.13)
                self._abandon(error)
                return
        if self._state is Lifecycle.CANCELLED and self._downstream is not None:
            self._release_fenced()
