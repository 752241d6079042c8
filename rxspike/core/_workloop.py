"""The drain loop, written once: every boundary in rxspike serialises its signals through it.

This is the only module that touches the work-in-progress counter. Boundaries enter the
drain through one door (RxJava's ``trySchedule``), in one of four ways:

- :meth:`WorkLoop._schedule`: a signal with nothing else to record (a timer fired);
- :meth:`WorkLoop._enter_locked`, under the boundary's own lock right after it recorded the
  signal, so recording and entering cost one lock acquisition; the caller runs
  :meth:`WorkLoop._run` when it returns True;
- :meth:`WorkLoop._mark_locked`, when a signal needs a drain only if one is running already;
- :meth:`WorkLoop._enter_idle_locked` + :meth:`WorkLoop._leave`, the fast path of a
  boundary that hands one item over itself when nobody else is draining (the owner may
  answer marks in between with :meth:`WorkLoop._consume_marks` and a ``_drain()`` pass of
  its own, when ``_draining_again``).
"""

from __future__ import annotations

import threading


class WorkLoop:
    """Work-in-progress guard (RxJava's ``wip`` counter, as in ``FlowableObserveOn``).

    Whoever turns ``_wip`` from 0 to 1 runs ``_drain()``; everybody else only increments it,
    which makes the running drain go round once more. So signals that race in from other
    threads (``request``, ``cancel``, late items) never overlap, and a ``request(1)`` from
    inside ``on_next`` is answered by the loop that is already running instead of by a nested
    call: recursion depth stays 1 however long the stream (Reactive Streams rules 1.3, 3.3).

    The lock guards only the counter and whatever a subclass updates with it; it is never held
    while user code runs.
    """

    __slots__ = ("_lock", "_wip")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wip = 0

    def _drain(self) -> None:
        """Deliver whatever the current state allows. Must not raise."""
        raise NotImplementedError

    # -- entering the drain ----------------------------------------------------------------

    def _enter_locked(self) -> bool:
        """Leave a mark; True when the caller now owns the drain and must call :meth:`_run`.

        Call with ``_lock`` held, right after recording the signal the drain must see.
        """
        self._wip += 1
        return self._wip == 1

    def _mark_locked(self) -> bool:
        """Mark a running drain so it goes round once more; False (no mark) when none runs."""
        if self._wip:
            self._wip += 1
            return True
        return False

    def _enter_idle_locked(self) -> bool:
        """Own the drain only if nobody does (no mark otherwise): the one-item fast path.

        The caller delivers by itself and then calls :meth:`_leave`.
        """
        if self._wip:
            return False
        self._wip = 1
        return True

    @property
    def _draining_again(self) -> bool:
        """For the drain's owner: marks were left since it last consumed them."""
        return self._wip != 1

    def _consume_marks(self) -> None:
        """For the drain's owner about to run a pass itself: that pass answers every mark
        left so far (it sees everything recorded before them)."""
        with self._lock:
            self._wip = 1

    def _schedule(self) -> None:
        """Run the drain on this thread, or leave a mark for the thread already running it."""
        with self._lock:
            self._wip += 1
            if self._wip != 1:
                return
        self._run()

    # -- running it ------------------------------------------------------------------------

    def _run(self) -> None:
        """Drain until no marks are left; the caller has just turned ``_wip`` from 0 to 1."""
        self._loop(1)

    def _leave(self) -> None:
        """Give up a drain owned through :meth:`_enter_idle_locked`, draining for any marks
        left meanwhile (requests, cancels or items that came in while the owner worked)."""
        with self._lock:
            self._wip -= 1
            missed = self._wip
            if not missed:
                return
        self._loop(missed)

    def _loop(self, missed: int) -> None:
        try:
            while True:
                self._drain()
                with self._lock:
                    self._wip -= missed
                    missed = self._wip
                    if not missed:
                        return
        except BaseException:
            with self._lock:
                self._wip = 0
            raise
