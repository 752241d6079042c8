"""Exceptions of :mod:`rxspike.redis`, each named for what happened and what to do."""

from __future__ import annotations

from ..core.errors import RxSpikeError


class RedisStreamError(RxSpikeError):
    """Base of the errors a Redis stream source or sink signals."""


class InvalidEntryIdError(RedisStreamError, ValueError):
    """An entry id is not one Redis accepts here.

    A ``ValueError``, so a ``resume`` hook of :func:`rxspike.web.sse` that is handed a bad
    ``Last-Event-ID`` answers ``400``.
    """

    def __init__(self, text: object, allowed: str) -> None:
        super().__init__(f"invalid stream entry id {text!r}: {allowed}")
        self.text = text


class StreamNotFoundError(RedisStreamError, LookupError):
    """The stream key does not exist, and the source was asked to require it
    (``must_exist=True``); create it with its first ``XADD`` or drop the requirement."""


class WrongKeyTypeError(RedisStreamError, TypeError):
    """The key holds another type than a stream (Redis answered ``WRONGTYPE``)."""


class GroupNotFoundError(RedisStreamError, LookupError):
    """The consumer group (or its key) does not exist and ``create=False`` was given;
    create it with ``XGROUP CREATE key group $ MKSTREAM`` or pass ``create=True``."""


class RedisUnavailableError(RedisStreamError, ConnectionError):
    """Redis could not be reached within the retry budget (:class:`Reconnect`).

    The last connection error is its ``__cause__``. A source that signals it had delivered
    every entry up to :attr:`last_id`; a new source ``after=last_id`` continues without a gap.
    """

    def __init__(self, message: str, last_id: str | None) -> None:
        super().__init__(message)
        self.last_id = last_id
