"""Demand bridged to asyncio reads: one task per subscription reads what was requested.

The shape every Redis source shares. ``request(n)`` and ``cancel()`` may come from any
thread; they record the demand (:class:`~rxspike.core.kit.DemandLoop`) and wake the
subscription's task on the event loop it was subscribed on. The task reads at most
``min(outstanding demand, batch)`` items per round trip, blocks in Redis while nothing
arrives, and emits every signal itself, so signals are serial. ``cancel()`` cancels the
task at once: redis-py closes the connection of a command cancelled mid-read (the reply
would otherwise be read by the next command), so a pending ``BLOCK`` ends with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Generic, TypeVar

from redis import exceptions as redis_errors

from ..core.flowable import Flowable
from ..core.kit import ACTIVE, NO_DEMAND, DemandLoop, Lifecycle
from ..core.types import Subscriber
from .errors import GroupNotFoundError, RedisUnavailableError, WrongKeyTypeError
from .types import Reconnect

T = TypeVar("T")
R = TypeVar("R")

#: What a failed round trip that a retry may cure looks like.
TRANSIENT = (redis_errors.ConnectionError, redis_errors.TimeoutError, TimeoutError, OSError)


def translate(error: redis_errors.ResponseError, key: str) -> Exception:
    """A Redis error reply as the error this package documents for it."""
    text = str(error)
    if text.startswith("WRONGTYPE"):
        return WrongKeyTypeError(f"key {key!r} does not hold a stream ({text})")
    if text.startswith("NOGROUP"):
        return GroupNotFoundError(f"{text} (pass create=True to create the group)")
    return error


class AsyncPull(DemandLoop, Generic[T]):
    """A subscription whose items come from ``await self._read(count)``.

    Subclasses implement :meth:`_open` (once, before the first read: validate the key,
    resolve where to start) and :meth:`_read` (up to ``count`` items; an empty result means
    the ``BLOCK`` timed out), and record in :meth:`_delivered` where a retry continues.
    """

    __slots__ = ("_downstream", "_emitted", "_event_loop", "_policy", "_task", "_thread", "_wakeup")

    def __init__(
        self, subscriber: Subscriber[T], loop: asyncio.AbstractEventLoop, policy: Reconnect
    ) -> None:
        super().__init__()
        self._downstream: Subscriber[T] | None = subscriber
        self._event_loop = loop
        self._thread = threading.get_ident()
        self._policy = policy
        self._emitted = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task; called right after ``on_subscribe``."""
        if self._state is ACTIVE and self._task is None:
            self._task = self._event_loop.create_task(self._pump())

    # -- what a source implements -----------------------------------------------------------

    async def _open(self) -> None:
        """Validate and prepare before the first read. Default: nothing."""

    async def _read(self, count: int) -> Sequence[T]:
        raise NotImplementedError

    def _delivered(self, item: T) -> None:
        """``item`` is about to be emitted: remember it, so a retry continues after it."""

    def _failed(self) -> None:
        """A round trip failed and will be retried: a reply may have been lost."""

    @property
    def last_id(self) -> str | None:
        """The id a new source would continue after (for the unavailable error)."""
        return None

    # -- the drain: demand and cancel from any thread reach the task on its loop -------------

    def _drain(self) -> None:
        if threading.get_ident() == self._thread:
            self._poke()
        else:
            with contextlib.suppress(RuntimeError):  # loop closed: the task went with it
                self._event_loop.call_soon_threadsafe(self._poke)

    def _poke(self) -> None:
        if self._state is Lifecycle.CANCELLED and self._downstream is not None:
            self._release()
        else:
            self._wakeup.set()

    def _release(self) -> None:
        self._downstream = None
        task = self._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()  # a pending read ends at once; the task ending itself just returns

    # -- the task ----------------------------------------------------------------------------

    async def _pump(self) -> None:
        try:
            await self._retrying(self._open)
            while True:
                if self._state is not ACTIVE:
                    return
                if self._bad_request is not None:  # rule 3.9
                    self._end(self._bad_request)
                    return
                outstanding = self._requested - self._emitted
                if outstanding <= 0:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                for item in await self._retrying(partial(self._read, outstanding)):
                    downstream = self._downstream
                    if downstream is None:
                        return
                    self._emitted += 1
                    self._delivered(item)
                    try:
                        downstream.on_next(item)
                    except Exception as error:  # the subscriber broke rule 2.13
                        self._abandon(error)
                        return
        except asyncio.CancelledError:
            # cancel() stopped us, or the loop is shutting down: nothing left to signal.
            pass
        except Exception as error:
            self._end(error)

    async def _retrying(self, call: Callable[[], Awaitable[R]]) -> R:
        """``await call()``, retried per the policy while Redis is unreachable."""
        policy = self._policy
        failures = 0
        while True:
            try:
                async with asyncio.timeout(policy.read_timeout + self._block_seconds):
                    return await call()
            except redis_errors.ResponseError as error:
                raise translate(error, self._key) from error
            except TRANSIENT as error:
                failures += 1
                if failures > policy.attempts:
                    raise RedisUnavailableError(
                        f"Redis stream {self._key!r} unreachable: {failures} attempts in a "
                        f"row failed, the last with {type(error).__name__}: {error} "
                        f"(Reconnect.attempts="
                        f"{policy.attempts}); entries were delivered up to {self.last_id}",
                        self.last_id,
                    ) from error
                self._failed()
                await asyncio.sleep(policy.delay(failures))

    #: Set by subclasses: the key (for messages) and the BLOCK of a read, in seconds.
    _key: str
    _block_seconds: float


def check_read_options(batch: int, block: float) -> None:
    """Raises ValueError for a ``batch`` below 1 or a ``block`` that is not positive."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    if not block > 0:
        raise ValueError(f"block must be > 0 seconds, got {block!r}")


def pulled(
    name: str, make: Callable[[Subscriber[T], asyncio.AbstractEventLoop], AsyncPull[T]]
) -> Flowable[T]:
    """A Flowable whose every subscription is ``make(subscriber, running_loop)``.

    Subscribing without a running event loop signals a ``RuntimeError`` naming ``name``.
    """

    def subscribe(subscriber: Subscriber[T]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            subscriber.on_subscribe(NO_DEMAND)
            subscriber.on_error(
                RuntimeError(
                    f"{name}() must be subscribed while an asyncio event loop is running "
                    "(subscribe from a coroutine)"
                )
            )
            return
        subscription = make(subscriber, loop)
        subscriber.on_subscribe(subscription)
        subscription.start()

    return Flowable(subscribe)
