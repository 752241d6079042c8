"""From an exception to what the client is told: a status, a message, and how much to reveal.

An exception is *public* when its status is known: an ``aiohttp.web.HTTPException``, or a type
(or a base of it) in the status mapping you pass. A public exception's message reaches the
client. Anything else is a server bug as far as the client is concerned: it gets ``500`` and
"Internal Server Error", and the details stay in the server's log (unless ``expose_errors``).

>>> info = describe_error(KeyError("user 7"), {LookupError: 404})
>>> info.status, info.message, info.type
(404, "'user 7'", 'KeyError')
>>> describe_error(ZeroDivisionError("oops"), {}).as_json()
{'error': 'Internal Server Error', 'status': 500}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web


class InvalidLastEventId(ValueError):
    """The ``Last-Event-ID`` a reconnecting client sent is not one the resume hook accepts:
    malformed (``int("x")`` raised), or well formed but not an event it can resume after.

    Raised for you when an ``sse(..., resume=hook)`` hook raises ``ValueError``; the stream
    answers ``400`` with the message (the client sent a bad header: reason ``client_error``).
    """

    def __init__(self, last_id: str, reason: BaseException | str) -> None:
        super().__init__(f"rejected Last-Event-ID {last_id!r}: {reason}")
        #: The header's value, as the client sent it.
        self.last_id = last_id


#: Status mapping every stream starts from; the mapping you pass is consulted first.
DEFAULT_STATUSES: Mapping[type[BaseException], int] = {
    TimeoutError: HTTPStatus.GATEWAY_TIMEOUT,
    InvalidLastEventId: HTTPStatus.BAD_REQUEST,
}


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What a stream's error becomes on the wire: the JSON body, or the in-band error frame."""

    #: The HTTP status: the response's status before the headers, a field in the frame after.
    status: int
    #: Safe to show the client: the exception's text if it is public, else the status phrase.
    message: str
    #: The exception's class name if it is public, else ``None``.
    type: str | None = None
    #: The stream's id, as in the server log line (``None`` outside a stream).
    stream: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON object sent to the client: ``error``, ``status``, and ``type``/``stream``."""
        body: dict[str, Any] = {"error": self.message, "status": self.status}
        if self.type is not None:
            body["type"] = self.type
        if self.stream is not None:
            body["stream"] = self.stream
        return body


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def describe_error(
    error: BaseException,
    statuses: Mapping[type[BaseException], int],
    *,
    expose_errors: bool = False,
    stream: int | None = None,
) -> ErrorInfo:
    """Classify ``error``: its status, the message the client may see, and its public name.

    The exception's class and then each of its bases is looked up in ``statuses``, then in
    :data:`DEFAULT_STATUSES`; the first hit wins.
    """
    if isinstance(error, web.HTTPException):
        return ErrorInfo(error.status, error.text or error.reason, type(error).__name__, stream)
    for cls in type(error).__mro__:
        status = statuses.get(cls) or DEFAULT_STATUSES.get(cls)
        if status is not None:
            return ErrorInfo(
                int(status), str(error) or _phrase(status), type(error).__name__, stream
            )
    if expose_errors:
        return ErrorInfo(500, str(error) or _phrase(500), type(error).__name__, stream)
    return ErrorInfo(500, _phrase(500), None, stream)


def validate_statuses(statuses: Mapping[type[BaseException], int]) -> None:
    """Reject a mapping that is not ``{exception type: 400..599}``, naming the bad entry."""
    for cls, status in statuses.items():
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(f"statuses keys must be exception types, got {cls!r}")
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(
                f"statuses[{cls.__name__}] must be an error status in 400..599, got {status!r}"
            )
