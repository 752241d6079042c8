"""The pump: one source into one aiohttp response, paced by the socket.

Every format and every kind of source goes through :class:`FlowWriter`; the formats differ
only in their :class:`~rxspike.web.encoders.Encoder`, the sources only in their feed
(``_feed``). How a stream ends, and with which reason, is decided in ``_ending``; what the
stream changes on its transport, and the send timeout, live in ``_transport``; the moment
the connection is lost comes from ``_disconnect``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from aiohttp import web
from aiohttp.http_writer import StreamWriter

from ..core.hooks import report_undeliverable
from ._compression import GzipStream
from ._disconnect import ConnectionWatch, Lost, is_disconnected
from ._ending import (
    LOST_REASON,
    early_reason,
    error_frame,
    goodbye_frame,
    log_end,
    refusal,
)
from ._errors import ErrorInfo, describe_error
from ._feed import END, SUSPENDED, End, Feed, IteratorFeed
from ._headers import stream_headers
from ._receiver import FrameReceiver
from ._transport import SendTimer, TransportTuning, half_open, timed_out
from .encoders import Encoder
from .metrics import EndReason, HasStatistics, StreamRegistry, StreamStats
from .options import ErrorEnd, StreamOptions

T = TypeVar("T")

_NO_STAGES: Mapping[str, HasStatistics] = MappingProxyType({})


class WriterState(enum.Enum):
    """Where a stream is in its life."""

    #: Subscribed; waiting for the first signal before choosing the status.
    STARTING = "starting"
    #: Headers sent; frames go out as the socket takes them.
    STREAMING = "streaming"
    #: Ended; :attr:`FlowWriter.reason` says why.
    ENDED = "ended"


class FlowWriter(Generic[T]):
    """Writes a feed into an aiohttp response with demand taken from the socket.

    - Before the headers it waits for the first signal: an error becomes a real status with
      a JSON body, an empty stream the encoder's ``empty_status``.
    - Then, each round: whatever frames are queued go out as one write (up to
      ``write_limit`` bytes), the writer waits for the transport if it is over its
      high-water mark, and requests as many items as the item and byte bounds allow. After
      ``time_slice`` seconds of writing without waiting it yields to the event loop, so one
      fast stream cannot starve the others.
    - When nothing was written for ``heartbeat`` seconds it writes the encoder's
      keep-alive, never in the middle of another write. (A source silent that long before
      its first item gets its headers, 200, at that moment.)
    - An error after the headers (from the source, its encoder, or raised into the writer
      by the source's ``request``) writes the encoder's error frame, then aborts or closes
      per ``options.on_error``; nothing escapes to aiohttp as a traceback.
    - The connection's end is noticed the moment it happens (``_disconnect``); upstream is
      cancelled once, at once. A write that sees no progress for ``send_timeout`` seconds
      ends the stream (reason ``timeout``).
    - ``stop(SHUTDOWN)`` cancels upstream and lets the writer finish its current write,
      then write the encoder's goodbye and end the response cleanly; :meth:`abort` cuts it
      when the registry's grace runs out.
    """

    __slots__ = (
        "_answered",
        "_beat_task",
        "_bytes",
        "_closed",
        "_compressed",
        "_encoder",
        "_ended",
        "_error",
        "_feed",
        "_gzip",
        "_headers",
        "_heartbeat",
        "_heartbeat_due",
        "_heartbeat_timer",
        "_heartbeats",
        "_id",
        "_items",
        "_lag",
        "_loop",
        "_max_lag",
        "_options",
        "_payload_writer",
        "_protocol",
        "_quiet_since",
        "_reason",
        "_receiver",
        "_registry",
        "_request",
        "_response",
        "_resumed_from",
        "_send_timer",
        "_stages",
        "_started",
        "_state",
        "_status",
        "_stop_reason",
        "_tuning",
        "_waiting",
        "_watch",
        "_writes",
    )

    def __init__(
        self,
        request: web.BaseRequest,
        feed: Feed[T],
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
        self._feed = feed
        self._encoder: Encoder[Any] = encoder
        self._options = options
        self._registry = registry
        self._status = status
        self._stages = _NO_STAGES if not stages else MappingProxyType(dict(stages))
        self._resumed_from = resumed_from
        loop = self._loop = asyncio.get_running_loop()
        self._receiver: FrameReceiver[T] = FrameReceiver(
            encoder.encode, options.max_items_ahead, loop
        )
        self._id = registry.next_id()
        self._state = WriterState.STARTING
        self._reason: EndReason | None = None
        self._error: BaseException | None = None
        #: Set by stop(): the writer ends with this reason at its next step.
        self._stop_reason: EndReason | None = None
        #: True while the writer waits for the client (a write or a drain in progress).
        self._waiting = False
        #: Seconds of silence before a keep-alive, if the format has one.
        self._heartbeat = options.heartbeat if encoder.keepalive else None
        #: Set by the heartbeat timer while the writer idles: write a keep-alive now.
        self._heartbeat_due = False
        self._heartbeat_timer: asyncio.TimerHandle | None = None
        #: A keep-alive written while the writer's task waits inside a pull it cannot leave.
        self._beat_task: asyncio.Task[None] | None = None
        #: Loop time of the latest write (or of the start): the silence is measured from it.
        self._quiet_since = loop.time()
        self._heartbeats = 0
        self._items = 0
        self._bytes = 0
        self._writes = 0
        self._lag = 0.0
        self._max_lag = 0.0
        #: The status answered, once chosen.
        self._answered: int | None = None
        self._compressed = 0
        self._started = time.monotonic()
        self._ended: float | None = None
        self._closed: asyncio.Event | None = None
        self._protocol = request.protocol
        transport = request.transport
        self._tuning = TransportTuning(transport)
        #: Made at the first wait for the client (most streams never wait).
        self._send_timer: SendTimer | None = None
        self._headers, gzip = stream_headers(request, encoder, headers, options.compression)
        self._gzip = GzipStream() if gzip else None
        self._response: web.StreamResponse | None = None
        self._payload_writer: StreamWriter | None = None
        self._watch: ConnectionWatch | None = None

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
            queued_high_water=receiver.high_water,
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
        if self._waiting and reason is EndReason.TIMEOUT:
            self._abort(hard=True)

    def abort(self) -> None:
        """Drop the connection now, whatever the writer is waiting for (the end of the
        shutdown's grace). Synchronous and idempotent; the reason stays ``shutdown``."""
        self.stop(EndReason.SHUTDOWN)
        if self._state is not WriterState.STARTING or self._waiting:
            self._abort(hard=True)

    def _on_lost(self, lost: Lost) -> None:
        """The connection is gone (``ConnectionWatch``): stop at once, with who ended it."""
        self.stop(LOST_REASON[lost])

    def _on_stall(self) -> None:
        """A write saw no progress for ``send_timeout`` seconds (``SendTimer``)."""
        if self._state is WriterState.ENDED:
            self._abort(hard=True)  # stuck in the last writes: nothing left to stop
        else:
            self.stop(EndReason.TIMEOUT)

    async def wait_closed(self) -> None:
        if self._state is WriterState.ENDED and self._closed is None:
            return
        if self._closed is None:
            self._closed = asyncio.Event()
        await self._closed.wait()

    # -- the stream ------------------------------------------------------------------------------

    async def run(self) -> web.StreamResponse:
        """Stream, and return the response for the handler to return."""
        self._registry.add(self)
        self._watch = ConnectionWatch(self._request, self._on_lost)
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
                self._finish(LOST_REASON[self._watch.lost])
            else:
                self._finish(EndReason.CANCELLED, cancelled)
            raise
        except Exception as error:  # a bug of ours or aiohttp's in an ending: still no traceback
            self._finish(EndReason.FAILED, error)
            self._abort(hard=True)
            return self._response or web.Response(status=500)
        finally:
            self._release()
        return response

    def _release(self) -> None:
        if self._watch is not None:
            self._watch.release()
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
        if self._send_timer is not None:
            self._send_timer.done()
        if self._beat_task is not None:
            self._beat_task.cancel()
        self._receiver.cancel()
        self._tuning.restore()
        self._registry.remove(self)
        if self._closed is not None:
            self._closed.set()

    async def _run(self) -> web.StreamResponse:
        receiver = self._receiver
        try:
            self._feed.start(receiver)
            receiver.request(1)  # one item first: its size tells how many the byte bound allows
            while not receiver.chunks and not receiver.finished:
                await self._feed.wait()
                if self._heartbeat_due:
                    break  # silent for a heartbeat: send the headers now, with a keep-alive
                if self._beat_task is not None:
                    await self._beat_done()
                    break  # the keep-alive went out, and the headers with it
        except Exception as error:  # a bug of ours or the source's: fail the stream
            receiver.fail(error)
        if self._response is None:
            if self._stop_reason is not None:
                return self._refuse(self._stop_reason)
            if not receiver.chunks and receiver.finished:
                if receiver.error is not None:
                    return self._fail_early(receiver.error)
                self._finish(EndReason.COMPLETED)
                self._answered = self._encoder.empty_status
                return web.Response(status=self._encoder.empty_status, headers=self._headers)
            if self._request.method == "HEAD":
                return await self._head()
        try:
            response = await self._start()
            if self._heartbeat_due:
                self._heartbeat_due = False
                if not receiver.chunks:
                    await self._keepalive(response)
            if isinstance(self._feed, IteratorFeed):
                await self._pump_pulled(response, self._feed)
            else:
                await self._pump(response)
        except ConnectionError as error:
            if timed_out(error):  # the kernel gave up on unacknowledged bytes
                self._stop_reason = EndReason.TIMEOUT
            elif self._stop_reason is None:
                watch = self._watch
                self._stop_reason = LOST_REASON[watch.lost if watch is not None else Lost.OPEN]
            receiver.cancel()
        except Exception as error:  # raised into the pump (a request(), say): fail the stream
            receiver.fail(error)
        return await self._end()

    async def _head(self) -> web.StreamResponse:
        """HEAD: the status and headers a GET would get, and no body (RFC 9110, 9.3.2)."""
        self._receiver.cancel()
        self._state = WriterState.STREAMING
        response = web.StreamResponse(status=self._status, headers=self._headers)
        self._answered = self._status
        with contextlib.suppress(ConnectionError):
            await response.prepare(self._request)
            await response.write_eof()
        self._finish(EndReason.COMPLETED)
        return response

    async def _start(self) -> web.StreamResponse:
        """Send the headers (and the encoder's prologue), once; the response."""
        response = self._response
        if response is not None:
            return response
        response = self._response = web.StreamResponse(status=self._status, headers=self._headers)
        self._answered = self._status
        self._tuning.apply(self._options.max_bytes_ahead)
        self._state = WriterState.STREAMING
        writer = await response.prepare(self._request)
        if not isinstance(writer, StreamWriter):  # None only for a response prepared before
            raise RuntimeError(f"aiohttp returned {writer!r} as a fresh response's writer")
        self._payload_writer = writer
        begin = self._encoder.begin()
        if begin:
            await self._send(response, begin)
        return response

    async def _pump(self, response: web.StreamResponse) -> None:
        """Write until the source ends or the stream is stopped."""
        receiver = self._receiver
        feed = self._feed
        write_limit = self._options.write_limit
        time_slice = self._options.time_slice
        protocol, payload_writer = self._protocol, self._payload_writer
        assert payload_writer is not None  # prepared by _start
        gzip = self._gzip
        now = self._loop.time
        tally = self._registry.tally  # the registry's aggregates, kept up to date per write
        next_yield = now() + time_slice
        while self._stop_reason is None:
            oldest = receiver.since
            data, count = receiver.take(write_limit)
            if not count:
                if receiver.finished:
                    return
                self._replenish()
                if not receiver.chunks and not receiver.finished:
                    if await feed.wait():
                        next_yield = now() + time_slice  # waiting gave the loop its turns
                    if self._beat_task is not None:
                        await self._beat_done()
                    if self._heartbeat_due:
                        self._heartbeat_due = False
                        if not receiver.chunks and self._stop_reason is None:
                            await self._keepalive(response)
                continue
            # The hot path: _send() inlined.
            size = len(data)
            started = self._quiet_since = now()
            if gzip is not None:
                data = gzip.write(data)
                self._compressed += len(data)
            await payload_writer.write(data, drain=False)  # never waits: we drain below
            if protocol.writing_paused:
                await self._drain(payload_writer)
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

    async def _pump_pulled(self, response: web.StreamResponse, feed: IteratorFeed[T]) -> None:
        """The pump for an async iterable: pull one item, encode it, write it, in the
        writer's own task. What the pull returns is written at once, so there is no queue,
        no demand to count and no lag; the transport's high-water mark bounds what is
        ahead. A pull that did not wait (an iterator with items at hand) counts as writing,
        for the time slice."""
        receiver = self._receiver
        data, count = receiver.take(self._options.write_limit)  # the first item, if pulled
        tally = self._registry.tally  # the registry's aggregates, kept up to date per write
        if count:
            await self._send(response, data)
            self._items += count
            self._bytes += len(data)
            self._writes += 1
            tally.wrote(count, len(data), 0.0)
        encode = self._encoder.encode
        time_slice = self._options.time_slice
        protocol, payload_writer = self._protocol, self._payload_writer
        assert payload_writer is not None  # prepared by _start
        gzip = self._gzip
        now = self._loop.time
        pulled = now()
        next_yield = pulled + time_slice
        while self._stop_reason is None and (iterator := feed.iterator) is not None:
            asked = pulled
            item: T | End
            # The pull, inlined (a frame less per stream, a call less per item): only
            # inside it may a stop interrupt the task (IteratorFeed.cancel).
            feed.pulling(True)
            try:
                item = await anext(iterator)
            except BaseException as error:
                item = feed.ended(error)
            finally:
                feed.pulling(False)
            pulled = now()
            if self._beat_task is not None:
                await self._beat_done()
            if item is END:
                return
            if pulled - asked >= SUSPENDED:
                next_yield = pulled + time_slice  # the pull gave the loop its turns
            try:
                data = encode(item)
            except Exception as error:  # the encoder's fault: fail the stream, stop the source
                receiver.fail(error)
                return
            size = len(data)
            self._quiet_since = pulled
            if gzip is not None:
                data = gzip.write(data)
                self._compressed += len(data)
            await payload_writer.write(data, drain=False)  # never waits: we drain below
            if protocol.writing_paused:
                await self._drain(payload_writer)
            self._items += 1
            self._bytes += size
            self._writes += 1
            tally.wrote(1, size, 0.0)  # written as soon as it was pulled: it waited for nothing
            if pulled >= next_yield:  # wrote for a time slice: every other task gets a turn
                await asyncio.sleep(0)
                next_yield = now() + time_slice

    async def _drain(self, payload_writer: StreamWriter) -> None:
        """Wait for the transport to go below its low-water mark, watched by the send
        timer meanwhile."""
        timer = self._timer()
        self._waiting = True
        if timer is not None:
            timer.waiting()
        try:
            await payload_writer.drain()
        finally:
            self._waiting = False
            if timer is not None:
                timer.done()

    def _timer(self) -> SendTimer | None:
        """The send timer (``None`` without a ``send_timeout``), made on first use."""
        timer = self._send_timer
        timeout = self._options.send_timeout
        if timer is None and timeout is not None:
            timer = self._send_timer = SendTimer(
                self._loop, self._request.transport, timeout, self._on_stall
            )
        return timer

    async def _send(self, response: web.StreamResponse, data: bytes, *, eof: bool = False) -> None:
        """Write (and with ``eof`` end the body), waiting while the transport is above its
        high-water mark."""
        if not data and not eof:
            return
        gzip = self._gzip
        if gzip is not None:
            data = gzip.finish(data) if eof else gzip.write(data)
            self._compressed += len(data)
        payload_writer = self._payload_writer
        assert payload_writer is not None  # prepared by _start
        if eof:
            timer = self._timer()
            self._waiting = True
            if timer is not None:
                timer.waiting()
            try:
                await response.write_eof(data)
            finally:
                self._waiting = False
                if timer is not None:
                    timer.done()
            return
        await payload_writer.write(data, drain=False)
        if self._protocol.writing_paused:
            await self._drain(payload_writer)

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

    def _beat(self) -> None:
        """The heartbeat timer: one per stream, re-armed for when the silence would reach
        ``heartbeat`` seconds (no timer per idle wait). A writer that idles that long is
        woken to write a keep-alive; one busy writing needs none. A writer that cannot be
        woken without ending its source (a pull in progress) gets the keep-alive written
        beside it."""
        heartbeat = self._heartbeat
        if heartbeat is None or self._state is WriterState.ENDED:
            return
        now = self._loop.time()
        due = self._quiet_since + heartbeat
        timeout = self._options.send_timeout
        streaming = self._state is WriterState.STREAMING
        if timeout is not None and streaming and half_open(self._request.transport, timeout):
            self.stop(EndReason.TIMEOUT)  # a client whose machine vanished
            return
        if now >= due:
            if self._feed.wake():
                if self._receiver.waiter is not None:
                    self._heartbeat_due = True
                    self._receiver.wake()
            elif not self._waiting and self._stop_reason is None and self._beside_free():
                self._beat_task = self._loop.create_task(self._beside())
            due = now + heartbeat
        self._heartbeat_timer = self._loop.call_at(due, self._beat)

    def _beside_free(self) -> bool:
        """No keep-alive is being written beside the pull, and the last one went out well
        (a failed one waits for the writer's task to collect its error)."""
        task = self._beat_task
        return task is None or (task.done() and not task.cancelled() and not task.exception())

    async def _beside(self) -> None:
        """A keep-alive (and the headers, if not sent yet) while the writer's task pulls."""
        response = await self._start()
        await self._keepalive(response)

    async def _beat_done(self) -> None:
        """Let the keep-alive written beside the pull finish before the next write."""
        task, self._beat_task = self._beat_task, None
        if task is None:
            return
        try:
            await task
        except asyncio.CancelledError:
            raise
        except ConnectionError:
            raise
        except Exception as error:  # e.g. prepare() failing: the stream fails
            self._receiver.fail(error)

    # -- endings ---------------------------------------------------------------------------------

    async def _end(self) -> web.StreamResponse:
        """After the last frame: the clean end, the goodbye, or the error frame and the
        error policy."""
        response = self._response
        assert response is not None  # _start ran
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
                self._finish(self._lost_reason())
                return response
            self._finish(EndReason.COMPLETED)
            return response
        info = self._describe(error)
        try:
            await self._send(response, error_frame(self._encoder, info))
        except ConnectionError:
            self._finish(self._lost_reason())
            return response
        self._finish(EndReason.FAILED, error, info)
        if self._options.on_error is ErrorEnd.ABORT:
            self._abort(hard=False)  # after what is buffered: the frame reaches the client
        else:
            with contextlib.suppress(ConnectionError):  # the client left: it is over anyway
                await self._send(response, b"", eof=True)
        return response

    def _lost_reason(self) -> EndReason:
        return self._stop_reason or LOST_REASON[self._watch.lost if self._watch else Lost.OPEN]

    async def _goodbye(self, response: web.StreamResponse) -> web.StreamResponse:
        """The server shuts down: the goodbye frame and a complete response, or, for a format
        without one, the cut that tells the client its body is incomplete."""
        goodbye = goodbye_frame(self._encoder, self._id, self._options.shutdown_retry)
        self._finish(EndReason.SHUTDOWN)
        if goodbye is None:
            self._abort(hard=False)
            return response
        with contextlib.suppress(ConnectionError):  # gone, or cut when the grace ran out
            await self._send(response, goodbye, eof=True)
        return response

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
        self._finish(early_reason(info), error, info)
        self._answered = info.status
        return web.json_response(info.as_json(), status=info.status)

    def _refuse(self, reason: EndReason) -> web.StreamResponse:
        """Stopped before the headers: the client left, or the server shuts down, or timeout."""
        self._finish(reason)
        response = refusal(
            reason,
            encoder=self._encoder,
            headers=self._headers,
            status=self._status,
            stream=self._id,
            shutdown_retry=self._options.shutdown_retry,
        )
        self._answered = response.status
        return response

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
        log_end(
            self._id,
            self._request,
            reason,
            headers_sent=self._response is not None,
            items=self._items,
            size=self._bytes,
            error=error,
            answered=info.status if info is not None else None,
        )
