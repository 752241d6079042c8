"""Noticing, while a stream waits, that its client left or stopped reading.

aiohttp runs handlers with ``handler_cancellation`` off by default, so a handler that waits
for its next item is never told that the client went away; only its next write fails. Yet
aiohttp drops ``request.transport`` (and the transport reports ``is_closing()``) the moment
the connection is lost. aiohttp offers no public hook for that moment (its protocol object
has ``__slots__`` and its ``connection_lost`` calls nothing of ours), so one timer per event
loop calls every open stream's check a few times a second: one attribute read or two per
open stream per tick, however many streams there are, and no timer at all while none is
open. The same tick finds writers stuck on a client that reads nothing (``send_timeout``),
so no write pays for a timeout of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections.abc import Callable

from aiohttp import web

from ..core.hooks import report_undeliverable

#: Seconds between two ticks: an idle stream notices a disconnected client within this long
#: (a writing stream notices at its next write), a stalled one its ``send_timeout`` late by
#: at most this much.
POLL_INTERVAL = 0.25

#: Called every tick with the loop's time; returns True when it needs no more ticks.
Check = Callable[[float], bool]


def is_disconnected(request: web.BaseRequest) -> bool:
    """True once the request's connection is closed or closing."""
    transport = request.transport
    return transport is None or transport.is_closing()


class StreamWatcher:
    """Calls each watched check every :data:`POLL_INTERVAL` seconds until it returns True.

    ``watch`` returns a function that stops watching; it is idempotent. Checks run on the
    loop, outside any handler; one that raises is dropped and reported to the undeliverable
    hook.
    """

    __slots__ = ("__weakref__", "_checks", "_handle", "_ids", "_interval", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = POLL_INTERVAL) -> None:
        self._loop = loop
        self._interval = interval
        self._checks: dict[int, Check] = {}
        self._ids = itertools.count()
        self._handle: asyncio.TimerHandle | None = None

    @property
    def watching(self) -> int:
        """How many checks are watched now."""
        return len(self._checks)

    def watch(self, check: Check) -> Callable[[], None]:
        key = next(self._ids)
        self._checks[key] = check
        if self._handle is None:
            self._handle = self._loop.call_later(self._interval, self._tick)
        return lambda: self._unwatch(key)

    def _unwatch(self, key: int) -> None:
        self._checks.pop(key, None)
        if not self._checks and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        self._handle = None
        now = self._loop.time()
        for key, check in list(self._checks.items()):
            try:
                done = check(now)
            except Exception as error:
                done = True
                report_undeliverable(error)
            if done:
                self._checks.pop(key, None)
        if self._checks:
            self._handle = self._loop.call_later(self._interval, self._tick)


_watchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StreamWatcher] = (
    weakref.WeakKeyDictionary()
)


def watcher() -> StreamWatcher:
    """The running loop's watcher (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _watchers.get(loop)
    if found is None:
        found = _watchers[loop] = StreamWatcher(loop)
    return found
