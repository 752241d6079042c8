"""Noticing the moment a stream's connection ends, and who ended it.

aiohttp runs handlers with ``handler_cancellation`` off by default, so a handler waiting for
its next item is never told that the client went away; only its next write fails. aiohttp
offers no public hook for the moment the connection is lost (its protocol object has
``__slots__`` and its ``connection_lost`` calls nothing of ours). asyncio does: a transport
delivers its events to whatever protocol ``transport.set_protocol()`` gave it. For the
life of a stream, :class:`ConnectionWatch` stands between the transport and aiohttp's
protocol, hands every event on unchanged, and calls the stream back when the connection is
lost: no timer, no scan of open streams, nothing per item, one small object per stream.

It also learns who ended the connection: a client that closes its side sends a FIN
(``eof_received``) or a reset (``connection_lost`` with an error); a connection lost with
neither was closed on the server's side (a proxy-like cut, the application's
``transport.close()``).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable

from aiohttp import web

from ..core.hooks import report_undeliverable


def is_disconnected(request: web.BaseRequest) -> bool:
    """True once the request's connection is closed or closing."""
    transport = request.transport
    return transport is None or transport.is_closing()


class Lost(enum.Enum):
    """How a watched connection ended."""

    #: Still open.
    OPEN = "open"
    #: The client closed its side (FIN) or reset the connection.
    BY_CLIENT = "by_client"
    #: The kernel gave up on unacknowledged bytes (``ETIMEDOUT``: retransmissions unanswered).
    TIMED_OUT = "timed_out"
    #: Closed on the server's side, with no word from the client.
    BY_SERVER = "by_server"


class ConnectionWatch(asyncio.Protocol):
    """A protocol in front of aiohttp's, for one stream: forwards every transport event and
    calls ``on_lost`` once, after aiohttp has seen the loss (``request.transport`` is then
    ``None``, a drain waiting in aiohttp has been woken).

    :meth:`release` gives the transport its protocol back; synchronous and idempotent.
    Without a transport, or with one that cannot change protocols, the watch stays
    :attr:`Lost.OPEN` and the stream learns of a disconnect from its next write.
    """

    __slots__ = ("_inner", "_on_lost", "_transport", "client_ended", "lost")

    def __init__(self, request: web.BaseRequest, on_lost: Callable[[Lost], None]) -> None:
        self._on_lost: Callable[[Lost], None] | None = on_lost
        #: How the connection ended, once it did.
        self.lost = Lost.OPEN
        #: The client sent its FIN.
        self.client_ended = False
        transport = request.transport
        self._transport: asyncio.BaseTransport | None = None
        self._inner: asyncio.BaseProtocol | None = None
        if transport is None or transport.is_closing():
            return
        inner = transport.get_protocol()
        if not isinstance(inner, asyncio.Protocol):
            return
        self._inner = inner
        self._transport = transport
        transport.set_protocol(self)

    def release(self) -> None:
        transport, self._transport = self._transport, None
        self._on_lost = None
        if transport is not None and not transport.is_closing() and self._inner is not None:
            transport.set_protocol(self._inner)

    # -- asyncio.Protocol: hand everything to aiohttp ----------------------------------------

    def data_received(self, data: bytes) -> None:
        assert self._inner is not None  # set before the transport sees this object
        self._inner.data_received(data)  # type: ignore[attr-defined]

    def eof_received(self) -> bool | None:
        self.client_ended = True
        assert self._inner is not None
        return self._inner.eof_received()  # type: ignore[attr-defined, no-any-return]

    def pause_writing(self) -> None:
        assert self._inner is not None
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        assert self._inner is not None
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        assert self._inner is not None
        self._inner.connection_lost(exc)
        self._transport = None
        if isinstance(exc, TimeoutError):
            self.lost = Lost.TIMED_OUT
        elif exc is not None or self.client_ended:
            self.lost = Lost.BY_CLIENT
        else:
            self.lost = Lost.BY_SERVER
        on_lost, self._on_lost = self._on_lost, None
        if on_lost is not None:
            try:
                on_lost(self.lost)
            except Exception as error:  # the stream's bug must not break aiohttp's clean-up
                report_undeliverable(error)
