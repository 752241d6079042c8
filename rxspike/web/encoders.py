"""Encoders: how items become bytes on the wire, one class per format.

An encoder turns each item into the bytes of one frame, and an error into the in-band
terminal frame that ends a stream whose headers were already sent. It also names the
response's media type and what a stream with no items answers. Write your own by
subclassing :class:`Encoder` and overriding :meth:`Encoder.encode` (and, if your format has
them, :meth:`Encoder.encode_error`, :meth:`Encoder.encode_goodbye` and ``keepalive``).

>>> SSE().encode("hello")
b'data: hello\\n\\n'
>>> SSE().encode(ServerSentEvent({"n": 1}, event="tick", id=7))
b'event: tick\\nid: 7\\ndata: {"n":1}\\n\\n'
>>> SSE(id=lambda item: item["n"], event="tick").encode({"n": 1})
b'event: tick\\nid: 1\\ndata: {"n":1}\\n\\n'
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

#: The event name of SSE's in-band error frame. Not ``error``: EventSource fires ``onerror``
#: for its own connection errors and for a server event of that name alike, so a page
#: could not tell a failed stream from a dropped connection.
ERROR_EVENT = "stream-error"
#: The ``id:`` an SSE error frame sets when the stream must not be retried. The browser
#: sends it back as ``Last-Event-ID`` when it reconnects, and every SSE stream answers such
#: a reconnect ``204 No Content``, which stops EventSource for good, even on a page that
#: ignores the frame.
FAILED_ID = "rxspike-stream-failed"
#: Statuses of failures worth retrying (the upstream may be back): their SSE error frame
#: says ``"retry": true`` and keeps the last id, so the browser reconnects and resumes.
RETRYABLE_STATUSES = frozenset({502, 503, 504})
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
    #: Clients of this format reconnect on their own when a response ends (``EventSource``
    #: does, unless the status is not 200). A stream the server's shutdown ends before its
    #: first item then answers 200 with the goodbye, not a 503 that would stop them.
    reconnects: bool = False

    def encode(self, item: T_contra) -> bytes:
        """The bytes of one item's frame."""
        raise NotImplementedError

    def encode_error(self, error: ErrorInfo) -> bytes:
        """The in-band terminal frame for an error after the headers; ``b""`` for none."""
        return b""

    def encode_goodbye(self, info: ErrorInfo, retry: int) -> bytes | None:
        """The last frame of a stream the server's shutdown ends; the response then ends
        cleanly. ``retry`` is the reconnection delay to suggest, in milliseconds.

        ``None`` (the default): the format cannot say goodbye, so the stream is cut without
        the final chunk, and no client mistakes the shortened body for a complete one.
        """
        return None

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

    Raises:
        ValueError: ``event`` or ``id`` contains CR, LF or NUL (the line would end early, or
            browsers would ignore the id), or ``retry`` is not an int ``>= 0``.

    >>> ServerSentEvent("x", id="7\\n8")
    Traceback (most recent call last):
    ...
    ValueError: SSE id must not contain CR, LF or NUL, got '7\\n8'
    """

    #: The payload: ``str`` as it is, anything else as JSON, ``None`` for no data line.
    data: Any = None
    #: The event type (``addEventListener(type, ...)`` in the browser); no CR, LF or NUL.
    event: str | None = None
    #: The last-event id the browser sends back as ``Last-Event-ID`` when it reconnects.
    id: str | int | None = None
    #: How long the browser waits before reconnecting, in milliseconds.
    retry: int | None = None
    #: A comment line, ignored by clients (keep-alives use these).
    comment: str | None = None

    def __post_init__(self) -> None:
        if self.event is not None:
            _check_field("event", self.event)
        if self.id is not None and type(self.id) is not int:
            _check_field("id", self.id)
        if self.retry is not None:
            _check_retry(self.retry)


#: An SSE id selector: the id of an item (``None``: the event gets no ``id:`` line).
IdSelector = Callable[[Any], str | int | None]
#: An SSE event-name selector: the event type of an item (``None``: the default, message).
EventSelector = Callable[[Any], str | None]


class SSE(Encoder[Any]):
    """Server-sent events (``text/event-stream``, WHATWG HTML "Server-sent events").

    Items: a :class:`ServerSentEvent` (sent as it is), a ``str`` (sent as the ``data``),
    ``bytes`` (UTF-8 text, sent as the ``data``), or any JSON-serialisable value (sent as
    compact JSON data). ``id`` and ``event`` give every other item its ``id:`` and
    ``event:`` lines; ``retry`` is sent once, before the first event. An error after the
    headers is sent as ``event: stream-error`` (:data:`ERROR_EVENT`) with the JSON error
    object as data, plus ``"retry"``: ``true`` for the statuses in
    :data:`RETRYABLE_STATUSES`, else ``false``, and then the frame also sets the id
    :data:`FAILED_ID`, whose reconnect is answered ``204``. A page stops on its own by
    closing its EventSource on a ``stream-error`` whose ``retry`` is false. A stream that
    completes with no items answers ``204 No Content``, which tells a browser's
    ``EventSource`` to stop reconnecting. At shutdown the goodbye is a ``retry:`` line (and
    a comment saying why), and the response ends cleanly: the browser reconnects, with
    ``Last-Event-ID``, to whichever server answers next.

    >>> SSE().encode("two\\nlines")
    b'data: two\\ndata: lines\\n\\n'
    >>> SSE().encode_error(ErrorInfo(500, "Internal Server Error", stream=3)).splitlines()
    [b'event: stream-error', b'id: rxspike-stream-failed', \
b'data: {"error":"Internal Server Error","status":500,"stream":3,"retry":false}', b'']
    >>> SSE().encode_error(ErrorInfo(504, "upstream slow")).splitlines()
    [b'event: stream-error', b'data: {"error":"upstream slow","status":504,"retry":true}', b'']
    >>> SSE(retry=5000).begin()
    b'retry: 5000\\n\\n'

    Raises:
        ValueError: a constant ``event`` with CR, LF or NUL, or a ``retry`` that is not an
            int ``>= 0``. (A selector's bad value fails the stream with the same message.)
    """

    media_type = "text/event-stream"
    empty_status = HTTPStatus.NO_CONTENT
    headers = MappingProxyType({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    keepalive = b": keep-alive\n\n"
    reconnects = True

    def __init__(
        self,
        *,
        id: IdSelector | None = None,
        event: str | EventSelector | None = None,
        retry: int | None = None,
        default: Callable[[Any], Any] | None = None,
    ) -> None:
        """``id`` and ``event`` apply to items that are not :class:`ServerSentEvent`;
        ``retry`` is in milliseconds; ``default`` converts values ``json`` cannot serialise,
        as in ``json.dumps``."""
        if isinstance(event, str):
            _check_field("event", event)
        elif event is not None and not callable(event):
            raise TypeError(f"SSE event must be a str or a callable, got {event!r}")
        if id is not None and not callable(id):
            raise TypeError(f"SSE id must be a callable (item -> id), got {id!r}")
        if retry is not None:
            _check_retry(retry)
        self._dumps = _json_dumps(default)
        self._id = id
        self._event = event
        self._retry = retry
        self._plain = id is None and event is None

    def begin(self) -> bytes:
        return b"" if self._retry is None else f"retry: {self._retry}\n\n".encode()

    def encode(self, item: Any) -> bytes:
        # A plain str first: the bulk case, one call per item, so it takes one test.
        if type(item) is str and self._plain:
            if "\n" in item or "\r" in item:
                return self._data_lines(item).encode() + b"\n"
            return f"data: {item}\n\n".encode()
        if isinstance(item, ServerSentEvent):
            return self._frame(item.data, item.event, item.id, item.retry, item.comment)
        if not self._plain:
            return self._selected(item)
        if isinstance(item, (bytes, bytearray, memoryview)):
            return self.encode(bytes(item).decode())
        return self._data_lines(self._dumps(item)).encode() + b"\n"

    def encode_error(self, error: ErrorInfo) -> bytes:
        retry = error.status in RETRYABLE_STATUSES
        data = self._dumps({**error.as_json(), "retry": retry})
        stop = "" if retry else f"id: {FAILED_ID}\n"
        return f"event: {ERROR_EVENT}\n{stop}data: {data}\n\n".encode()

    def encode_goodbye(self, info: ErrorInfo, retry: int) -> bytes:
        return f": {info.message}\nretry: {retry}\n\n".encode()

    def _selected(self, item: Any) -> bytes:
        """An item that gets its ``id`` / ``event`` from the selectors."""
        event = self._event
        if event is not None and not isinstance(event, str):
            event = event(item)
            if event is not None:
                _check_field("event", event)
        event_id = None if self._id is None else self._id(item)
        if event_id is not None and type(event_id) is not int:
            _check_field("id", event_id)
        return self._frame(item, event, event_id, None, None)

    @staticmethod
    def _data_lines(text: str) -> str:
        return "".join(f"data: {line}\n" for line in _LINE_BREAK.split(text))

    def _frame(
        self,
        data: Any,
        event: str | None,
        event_id: str | int | None,
        retry: int | None,
        comment: str | None,
    ) -> bytes:
        """The event's lines; the fields were checked already."""
        parts: list[str] = []
        if comment is not None:
            parts.extend(f": {line}\n" for line in _LINE_BREAK.split(comment))
        if event is not None:
            parts.append(f"event: {event}\n")
        if event_id is not None:
            parts.append(f"id: {event_id}\n")
        if retry is not None:
            parts.append(f"retry: {retry}\n")
        if data is not None:
            if isinstance(data, (bytes, bytearray, memoryview)):
                data = bytes(data).decode()
            parts.append(self._data_lines(data if type(data) is str else self._dumps(data)))
        parts.append("\n")
        return "".join(parts).encode()


def _check_field(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"SSE {name} must be a str or an int, got {value!r}")
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError(f"SSE {name} must not contain CR, LF or NUL, got {value!r}")


def _check_retry(retry: object) -> None:
    if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
        raise ValueError(f"SSE retry must be an int >= 0 (milliseconds), got {retry!r}")


class NDJSON(Encoder[Any]):
    """Newline-delimited JSON (``application/x-ndjson``): one compact JSON text per line.

    Items are any JSON-serialisable value (NaN and infinities are rejected: they are not
    JSON). An error after the headers is the final record ``{"error": {...}}``, and so is
    the goodbye at shutdown (status 503; that body then ends cleanly). A stream with no
    items answers ``200`` with an empty body (zero records).

    >>> NDJSON().encode_error(ErrorInfo(503, "draining", "Shutdown"))
    b'{"error":{"error":"draining","status":503,"type":"Shutdown"}}\\n'
    """

    media_type = "application/x-ndjson"
    headers = MappingProxyType({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def __init__(
        self, *, default: Callable[[Any], Any] | None = None, keepalive: Any = None
    ) -> None:
        """``default`` converts values ``json`` cannot serialise, as in ``json.dumps``.

        ``keepalive``: a JSON value written as its own line when the stream is idle
        (``StreamOptions.heartbeat``), e.g. ``{"type": "keepalive"}``; ``None`` (the
        default): NDJSON has no frame a client would ignore, so nothing is written.
        """
        self._dumps = _json_dumps(default)
        if keepalive is not None:
            self.keepalive = self.encode(keepalive)

    def encode(self, item: Any) -> bytes:
        return (self._dumps(item) + "\n").encode()

    def encode_error(self, error: ErrorInfo) -> bytes:
        return (self._dumps({"error": error.as_json()}) + "\n").encode()

    def encode_goodbye(self, info: ErrorInfo, retry: int) -> bytes:
        """The error record (status 503): the body ends cleanly, the record says it is cut."""
        return self.encode_error(info)


class Raw(Encoder[bytes | bytearray | memoryview | str]):
    """Raw chunks: ``bytes`` as they are, ``str`` encoded with ``charset``.

    There is no in-band error frame in raw bytes: an error after the headers, or the
    server's shutdown, is signalled by the truncated response alone (keep the default abort
    policy). A stream with no items answers ``200`` with an empty body.

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


__all__ = [
    "ERROR_EVENT",
    "FAILED_ID",
    "NDJSON",
    "RETRYABLE_STATUSES",
    "SSE",
    "Encoder",
    "EventSelector",
    "IdSelector",
    "Raw",
    "ServerSentEvent",
]
