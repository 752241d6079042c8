"""Where a publisher under test is subscribed: on the checking thread, or on an event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any, Protocol, TypeVar

from ..core.types import Subscriber

R = TypeVar("R")

#: How many event-loop turns a settle lets pass, before and after its quiet period.
_SETTLE_TURNS = 20


class Publisher(Protocol):
    """Anything with a Reactive Streams ``subscribe(subscriber)``: a Flowable, or your own."""

    def subscribe(self, subscriber: Any, /) -> object: ...


def subscribe_to(publisher: Publisher, subscriber: Subscriber[Any]) -> None:
    """Subscribe with Reactive Streams semantics (``subscribe_flow`` where there is one)."""
    subscribe_flow = getattr(publisher, "subscribe_flow", None)
    if subscribe_flow is not None:
        subscribe_flow(subscriber)
    else:
        publisher.subscribe(subscriber)


class Runner(Protocol):
    """How a check subscribes and lets in-flight signals land."""

    def subscribe(self, publisher: Publisher, subscriber: Subscriber[Any]) -> None: ...

    def settle(self) -> None:
        """Give signals already under way the chance to arrive (for "nothing more" checks)."""


class SyncRunner:
    """Subscribes on the checking thread; the publisher emits from ``subscribe``/``request``
    or from threads of its own (``quiet`` seconds are granted to those)."""

    def __init__(self, quiet: float) -> None:
        self.quiet = quiet

    def subscribe(self, publisher: Publisher, subscriber: Subscriber[Any]) -> None:
        subscribe_to(publisher, subscriber)

    def settle(self) -> None:
        if self.quiet:
            time.sleep(self.quiet)


class LoopRunner:
    """Subscribes from a coroutine on ``loop``, which runs on another thread than the check.

    ``request`` and ``cancel`` are still called from the checking thread, so the publisher is
    held to rule 1.3's "from any thread".
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, quiet: float, timeout: float) -> None:
        self.loop = loop
        self.quiet = quiet
        self.timeout = timeout

    def run(self, coroutine: Coroutine[Any, Any, R]) -> R:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(self.timeout)
        except TimeoutError:
            future.cancel()
            raise AssertionError(
                f"the event loop did not run a step of the check within {self.timeout} s "
                "(is something blocking it?)"
            ) from None

    def subscribe(self, publisher: Publisher, subscriber: Subscriber[Any]) -> None:
        async def subscribe() -> None:
            subscribe_to(publisher, subscriber)

        self.run(subscribe())

    def settle(self) -> None:
        async def settle() -> None:
            for _ in range(_SETTLE_TURNS):
                await asyncio.sleep(0)
            if self.quiet:
                await asyncio.sleep(self.quiet)
            for _ in range(_SETTLE_TURNS):
                await asyncio.sleep(0)

        self.run(settle())


@contextlib.contextmanager
def loop_in_thread(timeout: float) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh event loop running on a daemon thread for the length of the block.

    On exit, tasks still pending are cancelled and awaited (at most ``timeout`` seconds),
    async generators are closed, and the loop is stopped and closed.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="rxspike-testing-loop", daemon=True)
    thread.start()
    try:
        yield loop
    finally:

        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout)
            await loop.shutdown_asyncgens()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            if not thread.is_alive():
                loop.close()
