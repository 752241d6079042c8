"""The writer core: one Flowable into one aiohttp response, paced by the socket.

Every format and every kind of source goes through :class:`FlowWriter`; the formats differ
only in their :class:`~rxspike.web.encoders.Encoder`, the sources only in how they were made
into a Flowable (``_source.as_flowable``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import logging
import random
import socket
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from ..core import Flowable
from ..core.hooks import report_undeliverable
from ._compression import GzipStream, accepts_gzip
from ._disconnect import is_disconnected, watcher
from ._errors import ErrorInfo, describe_error
from ._receiver import FrameReceiver
from .encoders import Encoder
from .metrics import EndReason, HasStatistics, StreamRegistry, StreamStats
from .options import ErrorEnd, StreamOptions

T = TypeVar("T")

logger = logging.getLogger("rxspike.web")

#: Status logged for a request whose client left before the headers (nginx's convention).
CLIENT_CLOSED_REQUEST = 499

#: The message of the goodbye (or body) of a stream ended by the application's shutdown.
SHUTTING_DOWN = "Service Unavailable: the server is shutting down"

_NO_STAGES: Mapping[str, HasStatistics] = MappingProxyType({})

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
    - When nothing was written for ``heartbeat`` seconds it writes the encoder's
      keep-alive, from the same loop as the frames, so the two never interleave. (A source
      silent that long before its first item gets its headers, 200, at that moment.)
    - An error after the headers writes the encoder's error frame, then aborts or closes
      per ``options.on_error``.
    - A client that leaves is noticed by the write that fails, by the watcher's tick while
      idle, or by aiohttp's handler cancellation; upstream is cancelled once, at once. The
      same tick ends a stream whose current write waited ``send_timeout`` seconds (reason
      ``timeout``), and the kernel drops a connection that stays unacknowledged that long
      (``TCP_USER_TIMEOUT``).
    - ``stop(SHUTDOWN)`` cancels upstream and lets the writer finish its current write,
      then write the encoder's goodbye and end the response cleanly; :meth:`abort` cuts it
      when the registry's grace runs out.
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
        stages: Mapping[str, HasStatistics] | None = None,
        resumed_from: str | None = None,
    ) -> None:
        self._request = request
        self._source = source
        self._encoder = encoder
        self._options = options
        self._registry = registry
        self._status = status
        self._headers = headers
        self._stages = _NO_STAGES if not stages else MappingProxyType(dict(stages))
        self._resumed_from = resumed_from
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
        #: Seconds of silence before a keep-alive, if the format has one.
        self._heartbeat = options.heartbeat if encoder.keepalive else None
        #: Set by the heartbeat timer while the writer idles: write a keep-alive now.
        self._heartbeat_due = False
        self._heartbeat_timer: asyncio.TimerHandle | None = None
        #: Loop time of the latest write (or of the start): the silence is measured from it.
        self._quiet_since = self._loop.time()
        self._heartbeats = 0
        self._items = 0
        self._bytes = 0
        self._writes = 0
        self._lag = 0.0
        self._max_lag = 0.0
        #: The status answered, once chosen.
        self._answered: int | None = None
        self._gzip: GzipStream | None = None
        self._compressed = 0
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
        receiver = self._receiver
        buffered = receiver.queued_bytes() if receiver.chunks else 0
        transport = self._request.transport
        if self._state is WriterState.STREAMING and transport is not None:
            buffered += transport.get_write_buffer_size()
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
            status=self._answered,
            buffered_items=len(receiver.chunks),
            buffered_bytes=buffered,
            drops=self._drops(),
            heartbeats=self._heartbeats,
            lag=self._lag,
            max_lag=self._max_lag,
            compressed_bytes=self._compressed if self._gzip is not None else None,
            resumed_from=self._resumed_from,
        )

    def _drops(self) -> Mapping[str, int]:
        drops: dict[str, int] = {}
        for name, stage in self._stages.items():
            try:
                drops[name] = stage.statistics().dropped
            except Exception as failure:  # a broken stage must not break the metrics
                report_undeliverable(failure)
        return MappingProxyType(drops)

    def stop(self, reason: EndReason) -> None:
        """End the stream soon with ``reason``: cancel upstream now, wake the writer.

        Synchronous and idempotent; the first reason wins. ``TIMEOUT`` aborts a writer stuck
        waiting for a client that does not read, as nothing else would wake it; ``SHUTDOWN``
        lets the current write finish, then the writer says goodbye.
        """
        if self._stop_reason is not None or self._state is WriterState.ENDED:
            return
        self._stop_reason = reason
        self._receiver.cancel()
        if self._blocked_since is not None and reason is EndReason.TIMEOUT:
            self._abort(hard=True)

    def abort(self) -> None:
        """Drop the connection now, whatever the writer is waiting for (the end of the
        shutdown's grace). Synchronous and idempotent; the reason stays ``shutdown``."""
        self.stop(EndReason.SHUTDOWN)
        if self._state is not WriterState.STARTING or self._blocked_since is not None:
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
        if self._heartbeat is not None:
            self._heartbeat_timer = self._loop.call_at(
                self._quiet_since + self._heartbeat, self._beat
            )
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
            if self._heartbeat_timer is not None:
                self._heartbeat_timer.cancel()
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
            if self._heartbeat_due:
                break  # silent for a heartbeat: send the headers now, with a keep-alive
        if self._stop_reason is not None:
            return self._refuse(self._stop_reason)
        if not receiver.chunks and receiver.finished:
            if receiver.error is not None:
                return self._fail_early(receiver.error)
            self._finish(EndReason.COMPLETED)
            self._answered = self._encoder.empty_status
            return web.Response(status=self._encoder.empty_status, headers=self._headers)
        response = self._response = self._new_response()
        if self._request.method == "HEAD":
            return await self._head(response)
        try:
            await self._start(response)
            if self._heartbeat_due:
                self._heartbeat_due = False
                if not receiver.chunks:
                    await self._keepalive(response)
            await self._pump(response)
        except ConnectionError as error:
            if _timed_out(error):  # the kernel gave up on unacknowledged bytes
                self._stop_reason = EndReason.TIMEOUT
            else:
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
        if self._options.compression is not None:
            if "Accept-Encoding" not in response.headers.getall("Vary", ()):
                response.headers.add("Vary", "Accept-Encoding")
            if accepts_gzip(self._request.headers.get("Accept-Encoding", "")):
                response.headers["Content-Encoding"] = "gzip"
                self._gzip = GzipStream()
        self._answered = self._status
        return response

    async def _start(self, response: web.StreamResponse) -> None:
        """Send the headers (and the encoder's prologue)."""
        self._limit_transport()
        self._set_user_timeout()
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
        time_slice = self._options.time_slice
        protocol, payload_writer = self._protocol, self._payload_writer
        gzip = self._gzip
        now = self._loop.time
        tally = self._registry.tally  # the registry's aggregates, kept up to date per write
        next_yield = 0.0
        while self._stop_reason is None:
            oldest = receiver.since
            data, count = receiver.take(write_limit)
            if not count:
                if receiver.finished:
                    return
                self._replenish()
                if not receiver.chunks and not receiver.finished:
                    await self._idle()
                    next_yield = now() + time_slice  # waiting gave the loop its turns
                    if self._heartbeat_due:
                        self._heartbeat_due = False
                        if not receiver.chunks and self._stop_reason is None:
                            await self._keepalive(response)
                continue
            # The hot path: _send() inlined.
            size = len(data)
            started = self._blocked_since = self._quiet_since = now()
            if gzip is not None:
                data = gzip.write(data)
                self._compressed += len(data)
            await response.write(data)  # aiohttp itself drains in here now and then
            if protocol.writing_paused:
                await payload_writer.drain()
            self._blocked_since = None
            self._items += count
            self._bytes += size
            self._writes += 1
            lag = self._lag = started - oldest
            self._max_lag = max(self._max_lag, lag)
            tally.wrote(count, size, lag)
            self._replenish()
            if started >= next_yield:  # wrote for a time slice: every other task gets a turn
                await asyncio.sleep(0)
                next_yield = now() + time_slice

    async def _send(self, response: web.StreamResponse, data: bytes, *, eof: bool = False) -> None:
        """Write (and with ``eof`` end the body), waiting while the transport is above its
        high-water mark. While this waits, the watcher may find it stalled (``send_timeout``).
        """
        if not data and not eof:
            return
        gzip = self._gzip
        if gzip is not None:
            data = gzip.finish(data) if eof else gzip.write(data)
            self._compressed += len(data)
        self._blocked_since = self._loop.time()
        if eof:
            await response.write_eof(data)
        else:
            await response.write(data)  # aiohttp itself drains in here now and then
            if self._protocol.writing_paused:
                await self._payload_writer.drain()
        self._blocked_since = None

    async def _keepalive(self, response: web.StreamResponse) -> None:
        self._quiet_since = self._loop.time()
        await self._send(response, self._encoder.keepalive)
        self._heartbeats += 1

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
        try:
            await waiter
        finally:
            receiver.waiter = None

    def _beat(self) -> None:
        """The heartbeat timer: one per stream, re-armed for when the silence would reach
        ``heartbeat`` seconds (no timer per idle wait). A writer that idles that long is
        woken to write a keep-alive; one busy writing needs none."""
        heartbeat = self._heartbeat
        if heartbeat is None or self._state is WriterState.ENDED:
            return
        now = self._loop.time()
        due = self._quiet_since + heartbeat
        if now >= due:
            if self._receiver.waiter is not None:
                self._heartbeat_due = True
                self._receiver.wake()
            due = now + heartbeat
        self._heartbeat_timer = self._loop.call_at(due, self._beat)

    # -- endings ---------------------------------------------------------------------------------

    async def _end(self, response: web.StreamResponse) -> web.StreamResponse:
        """After the last frame: the clean end, the goodbye, or the error frame and the
        error policy."""
        reason = self._stop_reason
        if reason is EndReason.SHUTDOWN and not is_disconnected(self._request):
            return await self._goodbye(response)
        if reason is not None:
            # The client left or reads nothing (timeout), or the connection is gone already:
            # no frame could reach anyone. Drop the connection if it is still there.
            self._finish(reason)
            self._abort(hard=True)
            return response
        error = self._receiver.error
        if error is None:
            try:
                await self._send(response, self._encoder.end(), eof=True)
            except ConnectionError:
                self._finish(EndReason.CLIENT_GONE)
                return response
            self._finish(EndReason.COMPLETED)
            return response
        info = self._describe(error)
        try:
            await self._send(response, self._error_frame(info))
        except ConnectionError:
            self._finish(EndReason.CLIENT_GONE)
            return response
        self._finish(EndReason.FAILED, error, info)
        if self._options.on_error is ErrorEnd.ABORT:
            self._abort(hard=False)  # after what is buffered: the frame reaches the client
        else:
            with contextlib.suppress(ConnectionError):  # the client left: it is over anyway
                await self._send(response, b"", eof=True)
        return response

    async def _goodbye(self, response: web.StreamResponse) -> web.StreamResponse:
        """The server shuts down: the goodbye frame and a complete response, or, for a format
        without one, the cut that tells the client its body is incomplete."""
        goodbye = self._goodbye_frame()
        self._finish(EndReason.SHUTDOWN)
        if goodbye is None:
            self._abort(hard=False)
            return response
        with contextlib.suppress(ConnectionError):  # gone, or cut when the grace ran out
            await self._send(response, goodbye, eof=True)
        return response

    def _goodbye_frame(self) -> bytes | None:
        info = ErrorInfo(503, SHUTTING_DOWN, None, self._id)
        retry = round(self._options.shutdown_retry * 1000 * (1 + random.random()))
        try:
            return self._encoder.encode_goodbye(info, retry)
        except Exception as failure:  # a broken encoder: the truncation alone must do
            report_undeliverable(failure)
            return None

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
        self._answered = info.status
        return web.json_response(info.as_json(), status=info.status)

    def _refuse(self, reason: EndReason) -> web.StreamResponse:
        """Stopped before the headers: the client left, or the server shuts down, or timeout.

        At shutdown a format whose clients reconnect on their own (SSE) answers 200 with
        the goodbye, since a 503 would make ``EventSource`` give up; the others get 503
        with ``Retry-After``.
        """
        self._finish(reason)
        if reason is EndReason.SHUTDOWN:
            goodbye = self._goodbye_frame() if self._encoder.reconnects else None
            if goodbye is not None:
                response = web.Response(status=self._status, body=goodbye, headers=self._headers)
                response.headers["Content-Type"] = self._encoder.media_type
                for name, value in self._encoder.headers.items():
                    response.headers.setdefault(name, value)
                self._answered = self._status
                return response
            info = ErrorInfo(503, SHUTTING_DOWN, None, self._id)
            retry_after = str(max(1, round(self._options.shutdown_retry)))
            self._answered = 503
            return web.json_response(
                info.as_json(), status=503, headers={"Retry-After": retry_after}
            )
        self._answered = CLIENT_CLOSED_REQUEST
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

    # -- the transport ---------------------------------------------------------------------------

    def _set_user_timeout(self) -> None:
        """``TCP_USER_TIMEOUT`` = ``send_timeout``, where the platform has it: the kernel then
        drops a connection whose bytes stay unacknowledged that long (a half-open client),
        which the watcher notices even while the stream is idle."""
        timeout = self._options.send_timeout
        option = getattr(socket, "TCP_USER_TIMEOUT", None)
        transport = self._request.transport
        if timeout is None or option is None or transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, option, max(1, round(timeout * 1000)))

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


def _timed_out(error: BaseException) -> bool:
    """Whether a connection error comes from the kernel's ``ETIMEDOUT`` (TCP_USER_TIMEOUT)."""
    seen: BaseException | None = error
    for _ in range(4):  # aiohttp wraps the OSError once; a short chain is plenty
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno == errno.ETIMEDOUT:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
