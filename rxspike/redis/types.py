"""The names :mod:`rxspike.redis` is written against: entries and the reconnect policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One entry of a Redis stream, as a source emits it.

    ``fields`` are as the client returns them: ``str`` keys and values with
    ``decode_responses=True``, ``bytes`` otherwise. ``id`` is always text, e.g.
    ``"1700000000000-0"``: ordered, unique within the key, and a natural SSE id
    (``sse(request, flow, id=lambda entry: entry.id)``).
    """

    #: The entry id, ``"<milliseconds>-<sequence>"``.
    id: str
    #: The field/value pairs given to ``XADD``.
    fields: Mapping[Any, Any]


@dataclass(frozen=True, slots=True)
class GroupEntry(StreamEntry):
    """An entry read through a consumer group: pending until :meth:`ack` is awaited.

    Until it is acknowledged the entry stays in the consumer's pending list; if the
    consumer dies, another consumer of the group claims it after ``claim_idle`` seconds
    (``XAUTOCLAIM``) and handles it again: work is done at least once, and exactly once
    for every entry whose handler finished and acknowledged.
    """

    #: True when this entry was claimed from another consumer that left it pending.
    claimed: bool = False
    _ack: Callable[[str], Awaitable[None]] | None = field(default=None, repr=False, compare=False)

    async def ack(self) -> None:
        """``XACK`` this entry: it is done and never handed to any consumer again.

        Raises:
            redis.exceptions.RedisError: the acknowledgement did not reach Redis; the entry
                stays pending and is claimed again later.
        """
        if self._ack is None:
            raise RuntimeError(f"entry {self.id} was not read through a group: no ack()")
        await self._ack(self.id)


@dataclass(frozen=True, slots=True)
class Reconnect:
    """How a source rides out Redis going away: retries with exponential backoff.

    A read that fails with a connection error or times out (``read_timeout`` past the
    ``BLOCK``) is retried after ``first_delay``, then twice as long each time up to
    ``max_delay``; a read that succeeds resets the count. After ``attempts`` failures in a
    row the subscriber gets :class:`~rxspike.redis.errors.RedisUnavailableError`. Redis-py's
    own retries (its ``retry=`` option) happen inside each attempt.

    >>> [Reconnect(attempts=4, first_delay=0.1, max_delay=0.3).delay(n) for n in (1, 2, 3, 4)]
    [0.1, 0.2, 0.3, 0.3]
    """

    #: Failed attempts in a row before giving up (0: fail at the first error).
    attempts: int = 8
    #: Seconds before the first retry.
    first_delay: float = 0.05
    #: The longest pause between two retries, in seconds.
    max_delay: float = 2.0
    #: Seconds a read may take beyond its ``BLOCK`` before it counts as failed (a frozen
    #: server, a dead network path that no error reports).
    read_timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 0:
            raise ValueError(f"Reconnect.attempts must be >= 0, got {self.attempts}")
        if not 0 <= self.first_delay <= self.max_delay:
            raise ValueError(
                "Reconnect needs 0 <= first_delay <= max_delay, got "
                f"{self.first_delay} and {self.max_delay}"
            )
        if self.read_timeout <= 0:
            raise ValueError(f"Reconnect.read_timeout must be > 0, got {self.read_timeout}")

    def delay(self, failures: int) -> float:
        """The pause before retry number ``failures`` (1 for the first)."""
        return float(min(self.max_delay, self.first_delay * 2 ** (failures - 1)))


#: The policy sources use unless told otherwise.
DEFAULT_RECONNECT = Reconnect()
