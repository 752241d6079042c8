"""Noticing that a client left while its stream is idle.

aiohttp runs handlers with ``handler_cancellation`` off by default, so a handler that waits
for its next item is never told that the client went away; only its next write fails. Yet
aiohttp drops ``request.transport`` (and the transport reports ``is_closing()``) the moment
the connection is lost. aiohttp offers no public hook for that moment (its protocol object
has ``__slots__`` and its ``connection_lost`` calls nothing of ours), so one timer per event
loop looks at every watched request a few times a second: one attribute read per open
stream per tick, however many streams there are, and no timer at all while none is open.
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections.abc import Callable

from aiohttp import web

from ..core.hooks import report_undeliverable

#: Seconds between two looks at the watched transports: an idle stream notices a
#: disconnected client within this long (a writing stream notices at its next write).
POLL_INTERVAL = 0.25


def is_disconnected(request: web.BaseRequest) -> bool:
    """True once the request's connection is closed or closing."""
    transport = request.transport
    return transport is None or transport.is_closing()


class DisconnectWatcher:
    """Calls ``on_gone()`` once when a watched request's connection goes away.

    ``watch`` returns a function that stops watching; it is idempotent. Callbacks run on the
    loop, outside any handler; one that raises goes to the undeliverable hook.
    """

    __slots__ = ("__weakref__", "_handle", "_ids", "_interval", "_loop", "_watched")

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = POLL_INTERVAL) -> None:
        self._loop = loop
        self._interval = interval
        self._watched: dict[int, tuple[web.BaseRequest, Callable[[], None]]] = {}
        self._ids = itertools.count()
        self._handle: asyncio.TimerHandle | None = None

    @property
    def watching(self) -> int:
        """How many requests are watched now."""
        return len(self._watched)

    def watch(self, request: web.BaseRequest, on_gone: Callable[[], None]) -> Callable[[], None]:
        key = next(self._ids)
        self._watched[key] = (request, on_gone)
        if self._handle is None:
            self._handle = self._loop.call_later(self._interval, self._tick)
        return lambda: self._unwatch(key)

    def _unwatch(self, key: int) -> None:
        self._watched.pop(key, None)
        if not self._watched and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        self._handle = None
        gone = [key for key, (request, _) in self._watched.items() if is_disconnected(request)]
        for key in gone:
            _, on_gone = self._watched.pop(key)
            try:
                on_gone()
            except Exception as error:
                report_undeliverable(error)
        if self._watched:
            self._handle = self._loop.call_later(self._interval, self._tick)


_watchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DisconnectWatcher] = (
    weakref.WeakKeyDictionary()
)


def watcher() -> DisconnectWatcher:
    """The running loop's watcher (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _watchers.get(loop)
    if found is None:
        found = _watchers[loop] = DisconnectWatcher(loop)
    return found
