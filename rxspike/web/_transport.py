"""Transport tuning for one stream, and the send timeout that watches progress.

- The transport's high-water mark comes down to ``max_bytes_ahead`` (asyncio's default is
  64 KiB of low water and 64 KiB of high, aiohttp's write() drains only above it), and goes
  back up when the stream ends, for the connection's next request.
- ``TCP_NOTSENT_LOWAT``: the kernel reports the socket writable, and takes more bytes, only
  while fewer than :data:`NOTSENT_LOWAT` of its bytes are unsent. Without it Linux grows a
  loopback or fast link's send buffer to megabytes, all of it in flight to a client that may
  never read it, and reports the socket writable only once much of that is free.
- No ``TCP_USER_TIMEOUT``: Linux applies it to zero-window probes as well, and drops a
  client that reads steadily but slowly (its window reopens by less than the segment at the
  head of the send queue, so the probing never ends). A half-open client (its machine
  vanished) is found instead at the next heartbeat: bytes in flight and no acknowledgement
  for ``send_timeout`` seconds (:func:`half_open`, from Linux's ``TCP_INFO``).

:class:`SendTimer` ends a stream whose client takes no bytes for ``send_timeout`` seconds.
It runs only while a write waits for the client, and it watches progress, not the length of
one wait: a client that keeps reading, however slowly, is never cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import socket
import struct
import sys
import termios
from collections.abc import Callable

#: Unsent bytes the kernel may hold for a stream (``TCP_NOTSENT_LOWAT``); about what one
#: round trip of a fast link carries, so a fast client is not slowed down by it.
NOTSENT_LOWAT = 128 * 1024

#: ``TCP_NOTSENT_LOWAT``'s number: Python names it on some platforms only; Linux has had it
#: since 3.12 as 25.
_NOTSENT_LOWAT_OPTION: int | None = getattr(
    socket, "TCP_NOTSENT_LOWAT", 25 if sys.platform == "linux" else None
)

#: Checks per ``send_timeout`` while a write waits: a stalled client is cut at most a
#: quarter of the timeout late.
CHECKS_PER_TIMEOUT = 4


class TransportTuning:
    """What one stream changed on its transport, so :meth:`restore` can undo it."""

    __slots__ = ("_limits", "_transport")

    def __init__(self, transport: asyncio.BaseTransport | None) -> None:
        self._transport = transport
        self._limits: tuple[int, int] | None = None

    def apply(self, max_bytes_ahead: int) -> None:
        """Lower the high-water mark to ``max_bytes_ahead`` if above it; set
        ``TCP_NOTSENT_LOWAT`` where the platform has it (a failure is harmless: the default
        stays)."""
        transport = self._transport
        if not isinstance(transport, asyncio.WriteTransport):
            return
        low, high = transport.get_write_buffer_limits()
        if max_bytes_ahead < high:
            self._limits = (low, high)
            transport.set_write_buffer_limits(high=max_bytes_ahead)
        sock = transport.get_extra_info("socket")
        if _NOTSENT_LOWAT_OPTION is None or sock is None:
            return
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, _NOTSENT_LOWAT_OPTION, NOTSENT_LOWAT)

    def restore(self) -> None:
        """Give the transport its write buffer limits back; idempotent."""
        limits, self._limits = self._limits, None
        transport = self._transport
        writable = isinstance(transport, asyncio.WriteTransport) and not transport.is_closing()
        if limits is not None and writable:
            low, high = limits
            assert isinstance(transport, asyncio.WriteTransport)  # writable says so
            transport.set_write_buffer_limits(high=high, low=low)


def pending_bytes(transport: asyncio.BaseTransport | None) -> int:
    """Bytes written and not yet taken by the client: the transport's buffer plus, where the
    platform tells (Linux ``SIOCOUTQ``), the kernel's unsent and unacknowledged bytes."""
    if not isinstance(transport, asyncio.WriteTransport):
        return 0
    pending = transport.get_write_buffer_size()
    sock = transport.get_extra_info("socket")
    if sock is not None and sys.platform == "linux":
        with contextlib.suppress(OSError, ValueError):
            raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
            pending += struct.unpack("i", raw)[0]
    return pending


class SendTimer:
    """Calls ``on_stall`` when a waiting write sees no progress for ``timeout`` seconds.

    :meth:`waiting` starts watching (the writer is about to wait for the client),
    :meth:`done` stops it; both are cheap and idempotent. While watching, a check runs
    :data:`CHECKS_PER_TIMEOUT` times per timeout: progress is the client taking bytes
    (:func:`pending_bytes` went down). No timer runs while no write waits.
    """

    __slots__ = (
        "_handle",
        "_interval",
        "_last_pending",
        "_loop",
        "_on_stall",
        "_progress_at",
        "_timeout",
        "_transport",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.BaseTransport | None,
        timeout: float,
        on_stall: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._transport = transport
        self._timeout = timeout
        self._interval = timeout / CHECKS_PER_TIMEOUT
        self._on_stall = on_stall
        self._handle: asyncio.TimerHandle | None = None
        self._progress_at = 0.0
        self._last_pending = 0

    @property
    def watching(self) -> bool:
        return self._handle is not None

    def waiting(self) -> None:
        if self._handle is not None:
            return
        self._progress_at = self._loop.time()
        self._last_pending = pending_bytes(self._transport)
        self._handle = self._loop.call_later(self._interval, self._check)

    def done(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()

    def _check(self) -> None:
        now = self._loop.time()
        pending = pending_bytes(self._transport)
        if pending < self._last_pending:
            self._progress_at = now
        self._last_pending = pending
        if now - self._progress_at >= self._timeout:
            self._handle = None
            self._on_stall()
            return
        self._handle = self._loop.call_later(self._interval, self._check)


#: ``struct tcp_info`` (linux/tcp.h): ``tcpi_unacked`` (segments in flight) at byte 24,
#: ``tcpi_last_ack_recv`` (milliseconds since the peer's last ACK) at byte 56.
_TCP_INFO = getattr(socket, "TCP_INFO", None) if sys.platform == "linux" else None
_TCP_INFO_SIZE = 60


def half_open(transport: asyncio.BaseTransport | None, timeout: float) -> bool:
    """Whether the peer has acknowledged nothing for ``timeout`` seconds while segments are
    in flight: its machine vanished. A client that does not read still acknowledges (its
    zero window too), so it is never taken for one. ``False`` where the platform cannot
    tell."""
    if _TCP_INFO is None or transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_SIZE)
    except OSError:
        return False
    if len(info) < _TCP_INFO_SIZE:
        return False
    (unacked,) = struct.unpack_from("I", info, 24)
    (last_ack_ms,) = struct.unpack_from("I", info, 56)
    return bool(unacked > 0 and last_ack_ms >= timeout * 1000)


def timed_out(error: BaseException) -> bool:
    """Whether a connection error comes from the kernel's ``ETIMEDOUT`` (TCP_USER_TIMEOUT)."""
    seen: BaseException | None = error
    for _ in range(4):  # aiohttp wraps the OSError once; a short chain is plenty
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno == errno.ETIMEDOUT:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
