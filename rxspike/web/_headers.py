"""A stream's response headers, built once for whatever the stream answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from ._compression import accepts_gzip
from .encoders import Encoder


def stream_headers(
    request: web.BaseRequest,
    encoder: Encoder[Any],
    extra: Mapping[str, str] | None,
    compression: str | None,
) -> tuple[CIMultiDict[str], bool]:
    """The headers of a streamed body, and whether it is gzip-compressed.

    ``extra`` (the caller's) win over the encoder's; ``Content-Type`` is the encoder's.
    With compression on, ``Vary: Accept-Encoding`` is always sent (a cache must not give a
    gzip body to a client that did not ask for one), and ``Content-Encoding: gzip`` when
    the client accepts it.
    """
    headers: CIMultiDict[str] = CIMultiDict(extra or ())
    headers["Content-Type"] = encoder.media_type
    for name, value in encoder.headers.items():
        headers.setdefault(name, value)
    gzip = False
    if compression is not None:
        if "Accept-Encoding" not in headers.getall("Vary", ()):
            headers.add("Vary", "Accept-Encoding")
        if accepts_gzip(request.headers.get("Accept-Encoding", "")):
            headers["Content-Encoding"] = "gzip"
            gzip = True
    return headers, gzip
