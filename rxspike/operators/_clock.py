"""Time for the timed operators: a reactivex scheduler, resolved at subscribe time."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from reactivex import abc
from reactivex.scheduler import VirtualTimeScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler


def _reader(scheduler: abc.SchedulerBase) -> Callable[[], float]:
    loop = getattr(scheduler, "_loop", None)
    if isinstance(scheduler, AsyncIOScheduler) and isinstance(loop, asyncio.AbstractEventLoop):
        return loop.time
    if isinstance(scheduler, VirtualTimeScheduler) and isinstance(scheduler.clock, int | float):
        return lambda: float(scheduler.clock)
    origin = scheduler.now

    def since_origin() -> float:
        return (scheduler.now - origin).total_seconds()

    return since_origin


def check_scheduler(scheduler: object, what: str) -> None:
    if scheduler is not None and not isinstance(scheduler, abc.SchedulerBase):
        raise TypeError(f"{what} must be a reactivex scheduler or None, got {scheduler!r}")


def resolve_scheduler(scheduler: abc.SchedulerBase | None, what: str) -> abc.SchedulerBase:
    """``scheduler``, or an :class:`AsyncIOScheduler` on the running loop.

    Raises:
        RuntimeError: no scheduler was given and no event loop is running.
    """
    if scheduler is not None:
        return scheduler
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            f"{what} needs time: subscribe from a coroutine (it then uses the running asyncio "
            "loop), or pass scheduler=... (reactivex.testing.TestScheduler in tests)"
        ) from None
    return AsyncIOScheduler(loop)


class Clock:
    """Seconds since subscription, read from a scheduler, and timers on it.

    ``scheduler.now`` builds a datetime on every call; where the scheduler's own time base
    is a plain number (an asyncio loop's ``time()``, a virtual-time scheduler's float
    clock) it is read directly, with the same meaning and a fraction of the cost.
    """

    __slots__ = ("origin", "read", "scheduler")

    def __init__(self, scheduler: abc.SchedulerBase) -> None:
        self.scheduler = scheduler
        #: The scheduler's time base, in seconds (``now() == read() - origin``): a stage that
        #: reads the time once per item calls it directly.
        self.read = _reader(scheduler)
        self.origin = self.read()

    def now(self) -> float:
        return self.read() - self.origin

    def after(self, seconds: float, action: Callable[[], None]) -> abc.DisposableBase:
        """Run ``action`` after ``seconds``, rounded up to the microsecond (never early)."""
        micros = max(0, math.ceil(seconds * 1e6 - 1e-6))

        def run(_: abc.SchedulerBase, __: Any = None) -> None:
            action()

        return self.scheduler.schedule_relative(timedelta(microseconds=micros), run)
