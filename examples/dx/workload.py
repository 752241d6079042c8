"""What the four programs serve: tokens, a hot feed, a replayable log that can fail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

TOKENS = 20
LOG_LENGTH = 100


async def tokens() -> AsyncIterator[str]:
    """An LLM-like answer: 20 tokens, 20 ms apart."""
    for i in range(TOKENS):
        await asyncio.sleep(0.02)
        yield f"token{i}"


class Feed:
    """A hot producer with a callback API (a message bus, a sensor): one event per ms."""

    def subscribe(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback`` with each event; returns the function that unsubscribes."""
        seq = 0
        handle: asyncio.Handle | None = None
        loop = asyncio.get_running_loop()

        def tick() -> None:
            nonlocal seq, handle
            callback(f"event{seq}")
            seq += 1
            handle = loop.call_later(0.001, tick)

        handle = loop.call_soon(tick)

        def unsubscribe() -> None:
            if handle is not None:
                handle.cancel()

        return unsubscribe


class LogFailed(Exception):
    """The log's source failed (``?fail=N``)."""


async def log_after(last: int, fail_at: int | None = None) -> AsyncIterator[tuple[int, str]]:
    """Entries ``last + 1`` .. 99 of a replayable log as (id, data); fails at ``fail_at``."""
    for seq in range(last + 1, LOG_LENGTH):
        if seq == fail_at:
            raise LogFailed(f"the log failed at {seq}")
        await asyncio.sleep(0)
        yield seq, f"entry{seq}"
