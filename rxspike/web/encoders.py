"""Encoders: how items become bytes on the wire, one class per format.

An encoder turns each item into the bytes of one frame, and an error into the in-band
terminal frame that ends a stream whose headers were already sent. It also names the
response's media type and what a stream with no items answers. Write your own by
subclassing :class:`Encoder` and overriding :meth:`Encoder.encode` (and, if your format has
one, :meth:`Encoder.encode_error`).

>>> SSE().encode("hello")
b'data: hello\\n\\n'
>>> SSE().encode(ServerSentEvent({"n": 1}, event="tick", id=7))
b'event: tick\\nid: 7\\ndata: {"n":1}\\n\\n'
>>> NDJSON().encode({"n": 1, "text": "two\\nlines"})
b'{"n":1,"text":"two\\\\nlines"}\\n'
>>> Raw().encode("é")
b'\\xc3\\xa9'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from ._errors import ErrorInfo

T_contra = TypeVar("T_contra", contravariant=True)

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class Encoder(Generic[T_contra]):
    """A streaming format: the media type, one frame per item, and the error frame.

    ``encode`` is called once per item, as the item arrives (possibly on the producer's
    thread), so keep it a pure function of the item. If it raises, the stream fails with
    that exception like any upstream error.
    """

    #: The response's ``Content-Type``.
    media_type: str = "application/octet-stream"
    #: The status of a stream that completes before its first item (``200`` or ``204``).
    empty_status: int = HTTPStatus.OK
    #: Extra response headers the format needs (``Cache-Control`` for SSE, say).
    headers: Mapping[str, str] = _NO_HEADERS
    #: A frame clients ignore, written when the stream is idle (``heartbeat``); ``b""``: none.
    keepalive: bytes = b""

    def encode(self, item: T_contra) -> bytes:
        """The bytes of one item's frame."""
        raise NotImplementedError

    def encode_error(self, error: ErrorInfo) -> bytes:
        """The in-band terminal frame for an error after the headers; ``b""`` for none."""
        return b""

    def begin(self) -> bytes:
        """Bytes written once, before the first frame (a CSV header row, say)."""
        return b""

    def end(self) -> bytes:
        """Bytes written once, after the last frame, when the stream completes."""
        return b""


def _json_dumps(default: Callable[[Any], Any] | None) -> Callable[[Any], str]:
    # One encoder instance for the stream: json.dumps(..., separators=...) builds one per call.
    return json.JSONEncoder(
        ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=default
    ).encode


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One SSE event with all its fields; a plain item is sent as ``data`` only.

    ``data`` is sent as it is when it is a ``str`` (line breaks become several ``data:``
    lines, which the browser joins back with ``\\n``), else as compact JSON. ``None`` sends
    no data line (an event that only sets ``id`` or ``retry``).
    """

    #: The payload: ``str`` as it is, anything else as JSON, ``None`` for no data line.
    data: Any = None
    #: The event type (``addEventListener(type, ...)`` in the browser); no line breaks.
    event: str | None = None
    #: The last-event id the browser sends back as ``Last-Event-ID`` when it reconnects.
    id: str | int | None = None
    #: How long the browser waits before reconnecting, in milliseconds.
    retry: int | None = None
    #: A comment line, ignored by clients (keep-alives use these).
    comment: str | None = None


class SSE(Encoder[Any]):
    """Server-sent events (``text/event-stream``, WHATWG HTML "Server-sent events").

    Items: a :class:`ServerSentEvent`, a ``str`` (sent as the ``data``), ``bytes`` (UTF-8
    text, sent as the ``data``), or any JSON-serialisable value (sent as compact JSON data).
    An error after the headers is sent as ``event: error`` with the JSON error object as
    data. A stream that completes with no items answers ``204 No Content``, which tells a
    browser's ``EventSource`` to stop reconnecting.

    >>> SSE().encode("two\\nlines")
    b'data: two\\ndata: lines\\n\\n'
    >>> SSE().encode_error(ErrorInfo(500, "Internal Server Error", stream=3))
    b'event: error\\ndata: {"error":"Internal Server Error","status":500,"stream":3}\\n\\n'
    """

    media_type = "text/event-stream"
    empty_status = HTTPStatus.NO_CONTENT
    headers = MappingProxyType({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    keepalive = b": keep-alive\n\n"

    def __init__(self, *, default: Callable[[Any], Any] | None = None) -> None:
        """``default`` converts values ``json`` cannot serialise, as in ``json.dumps``."""
        self._dumps = _json_dumps(default)

    def encode(self, item: Any) -> bytes:
        if type(item) is str:
            if "\n" in item or "\r" in item:
                return self._data_lines(item).encode() + b"\n"
            return f"data: {item}\n\n".encode()
        if isinstance(item, ServerSentEvent):
            return self._event(item)
        if isinstance(item, (bytes, bytearray, memoryview)):
            return self.encode(bytes(item).decode())
        return self._data_lines(self._dumps(item)).encode() + b"\n"

    def encode_error(self, error: ErrorInfo) -> bytes:
        return f"event: error\ndata: {self._dumps(error.as_json())}\n\n".encode()

    @staticmethod
    def _data_lines(text: str) -> str:
        return "".join(f"data: {line}\n" for line in _LINE_BREAK.split(text))

    def _event(self, event: ServerSentEvent) -> bytes:
        parts: list[str] = []
        if event.comment is not None:
            parts.extend(f": {line}\n" for line in _LINE_BREAK.split(event.comment))
        if event.event is not None:
            _check_field("event", event.event)
            parts.append(f"event: {event.event}\n")
        if event.id is not None:
            event_id = str(event.id)
            _check_field("id", event_id)
            if "\0" in event_id:
                raise ValueError(f"SSE id must not contain NUL, got {event_id!r}")
            parts.append(f"id: {event_id}\n")
        if event.retry is not None:
            retry = event.retry
            if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
                raise ValueError(f"SSE retry must be an int >= 0 (milliseconds), got {retry!r}")
            parts.append(f"retry: {retry}\n")
        if event.data is not None:
            data = event.data if type(event.data) is str else self._dumps(event.data)
            parts.append(self._data_lines(data))
        parts.append("\n")
        return "".join(parts).encode()


def _check_field(name: str, value: str) -> None:
    if _LINE_BREAK.search(value):
        raise ValueError(f"SSE {name} must not contain line breaks, got {value!r}")


class NDJSON(Encoder[Any]):
    """Newline-delimited JSON (``application/x-ndjson``): one compact JSON text per line.

    Items are any JSON-serialisable value (NaN and infinities are rejected: they are not
    JSON). An error after the headers is the final record ``{"error": {...}}``. A stream
    with no items answers ``200`` with an empty body (zero records).

    >>> NDJSON().encode_error(ErrorInfo(503, "draining", "Shutdown"))
    b'{"error":{"error":"draining","status":503,"type":"Shutdown"}}\\n'
    """

    media_type = "application/x-ndjson"
    headers = MappingProxyType({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def __init__(self, *, default: Callable[[Any], Any] | None = None) -> None:
        """``default`` converts values ``json`` cannot serialise, as in ``json.dumps``."""
        self._dumps = _json_dumps(default)

    def encode(self, item: Any) -> bytes:
        return (self._dumps(item) + "\n").encode()

    def encode_error(self, error: ErrorInfo) -> bytes:
        return (self._dumps({"error": error.as_json()}) + "\n").encode()


class Raw(Encoder[bytes | bytearray | memoryview | str]):
    """Raw chunks: ``bytes`` as they are, ``str`` encoded with ``charset``.

    There is no in-band error frame in raw bytes: an error after the headers is signalled by
    the truncated response alone (keep the default abort policy). A stream with no items
    answers ``200`` with an empty body.

    >>> Raw(media_type="text/csv").media_type
    'text/csv; charset=utf-8'
    """

    def __init__(
        self, media_type: str = "application/octet-stream", *, charset: str = "utf-8"
    ) -> None:
        """A ``text/*`` media type gets ``; charset=...`` unless it names one."""
        if media_type.startswith("text/") and "charset=" not in media_type:
            media_type = f"{media_type}; charset={charset}"
        self.media_type = media_type
        self._charset = charset

    def encode(self, item: bytes | bytearray | memoryview | str) -> bytes:
        if type(item) is bytes:
            return item
        if isinstance(item, str):
            return item.encode(self._charset)
        if isinstance(item, (bytearray, memoryview)):
            return bytes(item)
        raise TypeError(f"Raw encoder takes bytes or str items, got {type(item).__name__}")


__all__ = ["NDJSON", "SSE", "Encoder", "Raw", "ServerSentEvent"]
