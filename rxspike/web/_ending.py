"""How a stream ends: which reason each ending gets, what the client is sent, what is logged.

The writer's pump moves bytes; every decision about the end of a stream is made here, in
one place:

- a source's error before the headers is answered with its status: a 4xx is the client's
  request (``client_error``, logged at INFO: a client can send a bad request every time),
  anything else ``failed`` (WARNING);
- a lost connection is ``client_gone`` if the client closed or reset it, ``timeout`` if the
  kernel gave up on it, ``server_closed`` if it was closed on the server's side;
- after the headers an error becomes the format's error frame; at shutdown the format's
  goodbye; a stream stopped before its headers gets a refusal (499, or 503 / the goodbye).
"""

from __future__ import annotations

import logging
import random
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from ..core.hooks import report_undeliverable
from ._disconnect import Lost
from ._errors import ErrorInfo
from .encoders import Encoder
from .metrics import EndReason

logger = logging.getLogger("rxspike.web")

#: Status logged for a request whose client left before the headers (nginx's convention).
CLIENT_CLOSED_REQUEST = 499

#: The message of the goodbye (or body) of a stream ended by the application's shutdown.
SHUTTING_DOWN = "Service Unavailable: the server is shutting down"

#: How each end reason is logged: failures and stalls are worth a WARNING, the rest is routine.
LOG_LEVEL = {
    EndReason.COMPLETED: logging.DEBUG,
    EndReason.FAILED: logging.WARNING,
    EndReason.CLIENT_ERROR: logging.INFO,
    EndReason.CLIENT_GONE: logging.INFO,
    EndReason.SERVER_CLOSED: logging.INFO,
    EndReason.TIMEOUT: logging.WARNING,
    EndReason.SHUTDOWN: logging.INFO,
    EndReason.CANCELLED: logging.INFO,
}

#: The reason of a stream whose connection was lost, by how it was lost.
LOST_REASON = {
    Lost.BY_CLIENT: EndReason.CLIENT_GONE,
    Lost.TIMED_OUT: EndReason.TIMEOUT,
    Lost.BY_SERVER: EndReason.SERVER_CLOSED,
    Lost.OPEN: EndReason.CLIENT_GONE,  # a failed write on a connection we could not watch
}


def early_reason(info: ErrorInfo) -> EndReason:
    """The reason of a stream answered ``info.status`` before its headers."""
    return EndReason.CLIENT_ERROR if 400 <= info.status < 500 else EndReason.FAILED


def goodbye_frame(encoder: Encoder[Any], stream: int, shutdown_retry: float) -> bytes | None:
    """The format's goodbye at shutdown, with a ``retry`` spread over
    ``[shutdown_retry, 2 * shutdown_retry)`` so clients do not all come back at once;
    ``None`` if the format has none (or its encoder is broken: the cut alone must do)."""
    info = ErrorInfo(503, SHUTTING_DOWN, None, stream)
    retry = round(shutdown_retry * 1000 * (1 + random.random()))
    try:
        return encoder.encode_goodbye(info, retry)
    except Exception as failure:
        report_undeliverable(failure)
        return None


def error_frame(encoder: Encoder[Any], info: ErrorInfo) -> bytes:
    """The format's error frame; ``b""`` if its encoder is broken (the cut alone must do)."""
    try:
        return encoder.encode_error(info)
    except Exception as failure:
        report_undeliverable(failure)
        return b""


def refusal(
    reason: EndReason,
    *,
    encoder: Encoder[Any],
    headers: CIMultiDict[str],
    status: int,
    stream: int,
    shutdown_retry: float,
) -> web.Response:
    """The answer of a stream stopped before its headers.

    At shutdown a format whose clients reconnect on their own (SSE) answers ``status`` with
    the goodbye, since a 503 would make ``EventSource`` give up; the others get 503 with
    ``Retry-After``. A client gone, or one that timed out, gets 499 (nobody reads it).
    """
    if reason is EndReason.SHUTDOWN:
        goodbye = goodbye_frame(encoder, stream, shutdown_retry) if encoder.reconnects else None
        if goodbye is not None:
            return web.Response(status=status, body=goodbye, headers=headers)
        info = ErrorInfo(503, SHUTTING_DOWN, None, stream)
        retry_after = str(max(1, round(shutdown_retry)))
        return web.json_response(info.as_json(), status=503, headers={"Retry-After": retry_after})
    return web.Response(status=CLIENT_CLOSED_REQUEST)


def log_end(
    stream: int,
    request: web.BaseRequest,
    reason: EndReason,
    *,
    headers_sent: bool,
    items: int,
    size: int,
    error: BaseException | None,
    answered: int | None,
) -> None:
    """One line per ended stream, at the reason's level; a failure's traceback at DEBUG."""
    level = LOG_LEVEL[reason]
    if not logger.isEnabledFor(level):
        return
    where = "after the headers" if headers_sent else "before the headers"
    detail = f": {error!r}" if error is not None else ""
    status = f", answered {answered}" if answered is not None and not headers_sent else ""
    logger.log(
        level,
        "stream %d (%s %s) %s %s, %d items, %d bytes%s%s",
        stream,
        request.method,
        request.path,
        reason.value,
        where,
        items,
        size,
        status,
        detail,
    )
    if error is not None and reason is EndReason.FAILED and logger.isEnabledFor(logging.DEBUG):
        logger.debug("stream %d traceback", stream, exc_info=error)
