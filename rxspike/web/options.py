"""How a stream is written: the bounds, the error policy, the timeouts."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ._errors import validate_statuses


class ErrorEnd(enum.Enum):
    """What happens after the in-band error frame of a stream whose headers were sent."""

    #: Close the connection without the response's final chunk: clients see a truncated body
    #: (aiohttp's client raises ``ClientPayloadError``, curl exits with 18). The default: a
    #: strict client can tell a failed stream from a complete one even if it ignores frames.
    ABORT = "abort"
    #: End the response normally after the error frame; only the frame tells of the failure.
    CLOSE = "close"


#: Items a plain Observable may run ahead of the client before its stream fails.
DEFAULT_PUSH_CAPACITY = 1024

#: What ``StreamOptions.compression`` accepts.
COMPRESSIONS = (None, "gzip")


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """The knobs of one streaming response; the defaults suit most services.

    >>> StreamOptions(heartbeat=None, compression="gzip").send_timeout
    30.0

    Raises:
        ValueError: a bound is not a positive int, a timeout is not positive, a status
            in ``statuses`` is not in 400..599, ``compression`` is not ``None`` or
            ``"gzip"``, or ``shutdown_retry`` is negative.
    """

    #: Items requested from the source but not yet handed to the socket, at most.
    max_items_ahead: int = 1024
    #: Encoded bytes waiting to be sent (queued, plus the transport's write buffer) beyond
    #: which no more items are requested. One item larger than this is still sent whole.
    max_bytes_ahead: int = 256 * 1024
    #: Queued frames are joined into one write of at most this many bytes.
    write_limit: int = 64 * 1024
    #: After the headers, an error writes the format's error frame and then does this.
    on_error: ErrorEnd = ErrorEnd.ABORT
    #: Exception type -> HTTP status (400..599); mapped exceptions are public: their
    #: message reaches the client. ``aiohttp.web.HTTPException`` is always public.
    statuses: Mapping[type[BaseException], int] = field(
        default_factory=lambda: MappingProxyType({})
    )
    #: Send the message of unmapped exceptions too (development only: it may leak internals).
    expose_errors: bool = False
    #: End the stream (reason ``timeout``) when a waiting write sees the client take no
    #: bytes for this many seconds: a frozen client, or one whose machine vanished. Progress
    #: counts, not the length of one wait: a client that keeps reading, however slowly, is
    #: never cut. Where the platform tells (Linux ``TCP_INFO``), an idle stream whose peer
    #: acknowledged nothing that long is ended at its next heartbeat too (a half-open
    #: connection). ``None``: wait as long as the connection lives.
    send_timeout: float | None = 30.0
    #: A writer that keeps finding frames to write yields to the event loop once it has
    #: written for this many seconds (0: after every write). Lower gives other tasks a turn
    #: sooner; higher saves the cost of a loop turn per write (about 5 % at 64 KiB writes).
    time_slice: float = 0.0002
    #: When nothing was written for this many seconds, write the format's keep-alive (an
    #: SSE comment, NDJSON's opt-in ``keepalive`` record), so proxies and clients do not
    #: take the silence for a dead connection; ``None``: never. A source still silent this
    #: long before its first item gets its headers (200) and a keep-alive then. Formats
    #: without a keep-alive frame (``Raw``) ignore it.
    heartbeat: float | None = 15.0
    #: ``"gzip"``: compress the body for clients whose ``Accept-Encoding`` takes gzip, with
    #: a zlib SYNC_FLUSH after every write so each event arrives when it is sent (about
    #: 24 KiB of zlib state per stream). ``None`` (the default): no compression.
    compression: str | None = None
    #: Seconds the shutdown goodbye tells clients to wait before reconnecting (SSE
    #: ``retry:``), spread at random over ``[shutdown_retry, 2 * shutdown_retry)`` so the
    #: clients of a stopping server do not all arrive at the next one at the same instant.
    shutdown_retry: float = 1.0
    #: Capacity of the bounded buffer a plain (push) Observable goes through; overflowing it
    #: fails the stream. Pass a Flowable to choose another strategy.
    push_capacity: int = DEFAULT_PUSH_CAPACITY

    def __post_init__(self) -> None:
        for name in ("max_items_ahead", "max_bytes_ahead", "write_limit", "push_capacity"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"StreamOptions.{name} must be a positive int, got {value!r}")
        if self.compression not in COMPRESSIONS:
            raise ValueError(
                f"StreamOptions.compression must be one of {COMPRESSIONS}, got {self.compression!r}"
            )
        if isinstance(self.shutdown_retry, bool) or not self.shutdown_retry >= 0:
            raise ValueError(
                "StreamOptions.shutdown_retry must be a number of seconds >= 0, "
                f"got {self.shutdown_retry!r}"
            )
        for name in ("send_timeout", "heartbeat"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise ValueError(
                    f"StreamOptions.{name} must be None or a positive number of seconds, "
                    f"got {value!r}"
                )
        if isinstance(self.time_slice, bool) or not self.time_slice >= 0:
            raise ValueError(
                "StreamOptions.time_slice must be a number of seconds >= 0, "
                f"got {self.time_slice!r}"
            )
        if not isinstance(self.on_error, ErrorEnd):
            raise ValueError(f"StreamOptions.on_error must be an ErrorEnd, got {self.on_error!r}")
        validate_statuses(self.statuses)
