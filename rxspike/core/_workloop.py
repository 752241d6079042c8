"""The drain loop, written once: every boundary in rxspike serialises its signals through it."""

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

    def _schedule(self) -> None:
        """Run the drain on this thread, or leave a mark for the thread already running it."""
        with self._lock:
            self._wip += 1
            if self._wip != 1:
                return
        self._run()

    def _run(self) -> None:
        """Drain until no marks are left; the caller has just turned ``_wip`` from 0 to 1."""
        missed = 1
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
