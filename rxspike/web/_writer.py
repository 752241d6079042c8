"""The writer core: one Flowable into one aiohttp response, paced by the socket.

Every format and every kind of source goes through :class:`FlowWriter`; the formats differ
only in their :class:`~rxspike.web.encoders.Encoder`, the sources only in how they were made
into a Flowable (``_source.as_flowable``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Mapping
from typing import Generic, TypeVar

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from ..core import Flowable
from ..core.hooks import report_undeliverable
from ._disconnect import is_disconnected, watcher
from ._errors import ErrorInfo, describe_error
from ._receiver import FrameReceiver
from .encoders import Encoder
from .metrics import EndReason, StreamRegistry, StreamStats
from .options import ErrorEnd, StreamOptions

T = TypeVar("T")

logger = logging.getLogger("rxspike.web")

#: Status logged for a request whose client left before the headers (nginx's convention).
CLIENT_CLOSED_REQUEST = 499

#: The message of the error frame (or body) of a stream ended by the application's shutdown.
SHUTTING_DOWN = "Service Unavailable: the server is shutting down"

#: How each end reason is logged: failures and stalls are worth a WARNING, the rest is routine.
_LOG_LEVEL = {
    EndReason.COMPLETED: logging.DEBUG,
    EndReason.FAILED: logging.WARNING,
    EndReason.CLIENT_GONE: logging.INFO,
    EndReason.TIMEOUT: logging.WARNING,
    EndReason.SHUTDOWN: logging.INFO,
    EndReason.CANCELLED: logging.INFO,
}


class WriterState(enum.Enum):
    """Where a stream is in its life."""

    #: Subscribed; waiting for the first signal before choosing the status.
    STARTING = "starting"
    #: Headers sent; frames go out as the socket takes them.
    STREAMING = "streaming"
    #: Ended; :attr:`FlowWriter.reason` says why.
    ENDED = "ended"


class FlowWriter(Generic[T]):
    """Writes a Flowable into an aiohttp response with demand taken from the socket.

    - Before the headers it waits for the first signal: an error becomes a real status with
      a JSON body, an empty stream the encoder's ``empty_status``.
    - Then, each round: whatever frames are queued go out as one write (up to
      ``write_limit`` bytes), the writer waits for the transport if it is over its
      high-water mark, and requests as many items as the item and byte bounds allow. After
      ``time_slice`` seconds of writing it yields to the event loop, so one fast stream
      cannot starve the others.
    - An error after the headers writes the encoder's error frame, then aborts or closes
      per ``options.on_error``.
    - A client that leaves is noticed by the write that fails, by the watcher's tick while
      idle, or by aiohttp's handler cancellation; upstream is cancelled once, at once. The
      same tick ends a stream whose client took nothing for ``send_timeout`` seconds.
    """

    def __init__(
        self,
        request: web.BaseRequest,
        source: Flowable[T],
        encoder: Encoder[T],
        options: StreamOptions,
        registry: StreamRegistry,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._request = request
        self._source = source
        self._encoder = encoder
        self._options = options
        self._registry = registry
        self._status = status
        self._headers = headers
        self._loop = asyncio.get_running_loop()
        self._receiver: FrameReceiver[T] = FrameReceiver(
            encoder.encode, options.max_items_ahead, self._loop
        )
        self._id = registry.next_id()
        self._state = WriterState.STARTING
        self._reason: EndReason | None = None
        self._error: BaseException | None = None
        #: Set by stop(): the writer ends with this reason at its next step.
        self._stop_reason: EndReason | None = None
        #: Loop time at which the writer began waiting for the client (a write or a drain
        #: in progress), else None; the watcher's tick compares it with ``send_timeout``.
        self._blocked_since: float | None = None
        self._heartbeat_due = False
        self._items = 0
        self._bytes = 0
        self._writes = 0
        self._started = time.monotonic()
        self._ended: float | None = None
        self._closed = asyncio.Event()
        self._response: web.StreamResponse | None = None
        self._protocol = request.protocol
        self._restore_limits: tuple[int, int] | None = None

    # -- what the registry sees ------------------------------------------------------------------

    @property
    def id(self) -> int:
        return self._id

    @property
    def state(self) -> WriterState:
        return self._state

    @property
    def reason(self) -> EndReason | None:
        """Why the stream ended; ``None`` while it runs."""
        return self._reason

    def stats(self) -> StreamStats:
        end = self._ended if self._ended is not None else time.monotonic()
        return StreamStats(
            id=self._id,
            request=f"{self._request.method} {self._request.path}",
            media_type=self._encoder.media_type,
            items=self._items,
            bytes=self._bytes,
            writes=self._writes,
            queued_high_water=self._receiver.high_water,
            headers_sent=self._response is not None,
            duration=end - self._started,
            reason=self._reason,
            error=repr(self._error) if self._error is not None else None,
        )

    def stop(self, reason: EndReason) -> None:
        """End the stream soon with ``reason``: cancel upstream now, wake the writer.

        Synchronous and idempotent; the first reason wins. A writer stuck waiting for a
        client that does not read has its connection aborted, as nothing else would wake it.
        """
        if self._stop_reason is not None or self._state is WriterState.ENDED:
            return
        self._stop_reason = reason
        self._receiver.cancel()
        if self._blocked_since is not None and reason is not EndReason.CLIENT_GONE:
            self._abort(hard=True)

    def _check(self, now: float) -> bool:
        """The watcher's tick: has the client left, or stopped reading for too long?"""
        if is_disconnected(self._request):
            self.stop(EndReason.CLIENT_GONE)
            return True
        since, timeout = self._blocked_since, self._options.send_timeout
        if since is not None and timeout is not None and now - since >= timeout:
            if self._state is WriterState.ENDED:
                self._abort(hard=True)  # stuck in the last writes: nothing left to stop
            else:
                self.stop(EndReason.TIMEOUT)
            return True
        return False

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # -- the stream ------------------------------------------------------------------------------

    async def run(self) -> web.StreamResponse:
        """Stream, and return the response for the handler to return."""
        self._registry.add(self)
        unwatch = watcher().watch(self._check)
        try:
            response = await self._run()
        except asyncio.CancelledError as cancelled:
            # aiohttp's handler cancellation (the client left), or someone cancelled the task.
            if self._stop_reason is not None:
                self._finish(self._stop_reason)
            elif is_disconnected(self._request):
                self._finish(EndReason.CLIENT_GONE)
            else:
                self._finish(EndReason.CANCELLED, cancelled)
            raise
        except Exception as error:  # a bug of ours or aiohttp's: still end the stream cleanly
            self._finish(EndReason.FAILED, error)
            raise
        finally:
            unwatch()
            self._receiver.cancel()
            self._restore_transport()
            self._registry.remove(self)
            self._closed.set()
        return response

    async def _run(self) -> web.StreamResponse:
        receiver = self._receiver
        self._source.subscribe_flow(receiver)
        receiver.request(1)  # one item first: its size tells how many the byte bound allows
        while not receiver.chunks and not receiver.finished:
            await self._idle()
        if self._stop_reason is not None:
            return self._refuse(self._stop_reason)
        if not receiver.chunks:
            if receiver.error is not None:
                return self._fail_early(receiver.error)
            self._finish(EndReason.COMPLETED)
            return web.Response(status=self._encoder.empty_status, headers=self._headers)
        response = self._response = self._new_response()
        if self._request.method == "HEAD":
            return await self._head(response)
        try:
            await self._start(response)
            await self._pump(response)
        except ConnectionError:
            self._stop_reason = self._stop_reason or EndReason.CLIENT_GONE
            receiver.cancel()
        return await self._end(response)

    async def _head(self, response: web.StreamResponse) -> web.StreamResponse:
        """HEAD: the status and headers a GET would get, and no body (RFC 9110, 9.3.2)."""
        self._receiver.cancel()
        self._state = WriterState.STREAMING
        with contextlib.suppress(ConnectionError):
            await response.prepare(self._request)
            await response.write_eof()
        self._finish(EndReason.COMPLETED)
        return response

    def _new_response(self) -> web.StreamResponse:
        response = web.StreamResponse(status=self._status, headers=self._headers)
        response.headers["Content-Type"] = self._encoder.media_type
        for name, value in self._encoder.headers.items():
            response.headers.setdefault(name, value)
        return response

    async def _start(self, response: web.StreamResponse) -> None:
        """Send the headers (and the encoder's prologue)."""
        self._limit_transport()
        self._state = WriterState.STREAMING
        writer = await response.prepare(self._request)
        if writer is None:  # only a response prepared before returns None; ours is fresh
            raise RuntimeError("aiohttp returned no payload writer for a fresh response")
        self._payload_writer: AbstractStreamWriter = writer
        begin = self._encoder.begin()
        if begin:
            await self._send(response, begin)

    async def _pump(self, response: web.StreamResponse) -> None:
        """Write until the source ends or the stream is stopped."""
        receiver = self._receiver
        write_limit = self._options.write_limit
        keepalive = self._encoder.keepalive
        time_slice = self._options.time_slice
        protocol, payload_writer = self._protocol, self._payload_writer
        now = self._loop.time
        next_yield = 0.0
        while self._stop_reason is None:
            data, count = receiver.take(write_limit)
            if not count:
                if receiver.finished:
                    return
                self._replenish()
                if not receiver.chunks and not receiver.finished:
                    await self._idle()
                    next_yield = now() + time_slice  # waiting gave the loop its turns
                    if self._heartbeat_due and keepalive and not receiver.chunks:
                        await self._send(response, keepalive)
                continue
            # The hot path: _send() inlined.
            started = self._blocked_since = now()
            await response.write(data)  # aiohttp itself drains in here now and then
            if protocol.writing_paused:
                await payload_writer.drain()
            self._blocked_since = None
            self._items += count
            self._bytes += len(data)
            self._writes += 1
            self._replenish()
            if started >= next_yield:  # wrote for a time slice: every other task gets a turn
                await asyncio.sleep(0)
                next_yield = now() + time_slice

    async def _send(self, response: web.StreamResponse, data: bytes, *, eof: bool = False) -> None:
        """Write (and with ``eof`` end the body), waiting while the transport is above its
        high-water mark. While this waits, the watcher may find it stalled (``send_timeout``).
        """
        self._blocked_since = self._loop.time()
        if eof:
            await response.write_eof(data)
        elif data:
            await response.write(data)  # aiohttp itself drains in here now and then
            if self._protocol.writing_paused:
                await self._payload_writer.drain()
        self._blocked_since = None

    def _replenish(self) -> None:
        """Request what the item and byte bounds allow, given what is queued and in flight.

        While items are still queued or on their way, it waits until half the window is free
        and asks for that much at once: fewer, larger requests. With nothing in hand it
        always asks for at least one item, so the stream never stalls on its own bounds.
        """
        receiver = self._receiver
        if receiver.finished:
            return
        options = self._options
        queued = len(receiver.chunks)
        outstanding = receiver.outstanding
        busy = queued or outstanding
        if not self._items:  # before the first write: one item, to learn the frame size
            if not busy:
                receiver.request(1)
            return
        mean = self._bytes // self._items or 1
        transport = self._request.transport
        ahead = (
            (transport.get_write_buffer_size() if transport is not None else 0)
            + (receiver.queued_bytes() if queued else 0)
            + outstanding * mean
        )
        n = min(
            options.max_items_ahead - outstanding - queued,
            (options.max_bytes_ahead - ahead) // mean,
        )
        if busy:
            window = min(options.max_items_ahead, options.max_bytes_ahead // mean)
            if n < (window + 1) // 2:
                return  # what is queued or coming keeps the writer busy meanwhile
        elif n <= 0:
            n = 1  # one item always fits
        receiver.request(n)

    async def _idle(self) -> None:
        """Wait for a signal, a stop, or the heartbeat."""
        receiver = self._receiver
        waiter = receiver.waiter = self._loop.create_future()
        heartbeat = self._options.heartbeat
        handle = None
        self._heartbeat_due = False
        if heartbeat is not None and self._response is not None:
            handle = self._loop.call_later(heartbeat, self._beat)
        try:
            await waiter
        finally:
            receiver.waiter = None
            if handle is not None:
                handle.cancel()

    def _beat(self) -> None:
        self._heartbeat_due = True
        self._receiver.wake()

    # -- endings ---------------------------------------------------------------------------------

    async def _end(self, response: web.StreamResponse) -> web.StreamResponse:
        """After the last frame: the clean end, or the error frame and the error policy."""
        reason = self._stop_reason
        if reason is not None and (
            reason is not EndReason.SHUTDOWN or is_disconnected(self._request)
        ):
            # The client left or reads nothing (timeout), or the connection is gone already:
            # no frame could reach anyone. Drop the connection if it is still there.
            self._finish(reason)
            self._abort(hard=True)
            return response
        error = self._receiver.error
        if reason is EndReason.SHUTDOWN:
            info = ErrorInfo(503, SHUTTING_DOWN, None, self._id)
        elif error is not None:
            info, reason = self._describe(error), EndReason.FAILED
        else:
            try:
                await self._send(response, self._encoder.end(), eof=True)
            except ConnectionError:
                self._finish(EndReason.CLIENT_GONE)
                return response
            self._finish(EndReason.COMPLETED)
            return response
        try:
            await self._send(response, self._error_frame(info))
        except ConnectionError:
            self._finish(EndReason.CLIENT_GONE)
            return response
        self._finish(reason, error, info)
        if self._options.on_error is ErrorEnd.ABORT:
            self._abort(hard=False)  # after what is buffered: the frame reaches the client
        else:
            with contextlib.suppress(ConnectionError):  # the client left: it is over anyway
                await self._send(response, b"", eof=True)
        return response

    def _error_frame(self, info: ErrorInfo) -> bytes:
        try:
            return self._encoder.encode_error(info)
        except Exception as failure:  # a broken encoder: the truncation alone must do
            report_undeliverable(failure)
            return b""

    def _abort(self, *, hard: bool) -> None:
        """Drop the connection so the client sees a truncated body (no final chunk).

        ``hard=False`` sends what is buffered first (the error frame); ``hard=True`` drops it.
        aiohttp's own ``write_eof()`` afterwards meets a closing transport, which it treats
        as a disconnected client: no traceback.
        """
        if self._response is not None:
            self._response.force_close()
        transport = self._request.transport
        if transport is not None:
            if hard:
                transport.abort()
            else:
                transport.close()

    def _describe(self, error: BaseException) -> ErrorInfo:
        return describe_error(
            error,
            self._options.statuses,
            expose_errors=self._options.expose_errors,
            stream=self._id,
        )

    def _fail_early(self, error: Exception) -> web.StreamResponse:
        info = self._describe(error)
        self._finish(EndReason.FAILED, error, info)
        return web.json_response(info.as_json(), status=info.status)

    def _refuse(self, reason: EndReason) -> web.StreamResponse:
        """Stopped before the headers: the client left, or the server shuts down, or timeout."""
        self._finish(reason)
        if reason is EndReason.SHUTDOWN:
            info = ErrorInfo(503, SHUTTING_DOWN, None, self._id)
            return web.json_response(info.as_json(), status=503)
        return web.Response(status=CLIENT_CLOSED_REQUEST)

    def _finish(
        self,
        reason: EndReason,
        error: BaseException | None = None,
        info: ErrorInfo | None = None,
    ) -> None:
        if self._state is WriterState.ENDED:
            return
        self._state = WriterState.ENDED
        self._reason = reason
        self._error = error
        self._ended = time.monotonic()
        level = _LOG_LEVEL[reason]
        if not logger.isEnabledFor(level):
            return
        where = "after the headers" if self._response is not None else "before the headers"
        detail = f": {error!r}" if error is not None else ""
        status = f", answered {info.status}" if info is not None and self._response is None else ""
        logger.log(
            level,
            "stream %d (%s %s) %s %s, %d items, %d bytes%s%s",
            self._id,
            self._request.method,
            self._request.path,
            reason.value,
            where,
            self._items,
            self._bytes,
            status,
            detail,
        )
        if error is not None and reason is EndReason.FAILED and logger.isEnabledFor(logging.DEBUG):
            logger.debug("stream %d traceback", self._id, exc_info=error)

    # -- the transport's write buffer ------------------------------------------------------------

    def _limit_transport(self) -> None:
        """Lower the transport's high-water mark to ``max_bytes_ahead`` if it is above it."""
        transport = self._request.transport
        if transport is None:
            return
        low, high = transport.get_write_buffer_limits()
        if self._options.max_bytes_ahead < high:
            self._restore_limits = (low, high)
            transport.set_write_buffer_limits(high=self._options.max_bytes_ahead)

    def _restore_transport(self) -> None:
        limits, self._restore_limits = self._restore_limits, None
        transport = self._request.transport
        if limits is not None and transport is not None and not transport.is_closing():
            low, high = limits
            transport.set_write_buffer_limits(high=high, low=low)
