"""How items reach the writer's :class:`~rxspike.web._receiver.FrameReceiver`: one class per
kind of source, chosen once, when the stream starts.

- :class:`FlowFeed`: a Flowable (or an Observable, behind its bounded buffer) pushes items
  into the receiver through its subscription, from any thread; the writer waits on a future
  the receiver completes.
- :class:`IteratorFeed`: an async iterable is pulled by the writer's own task, one item per
  wait while there is demand. No task of its own and no hand-over per item: an LLM-like
  stream of slow tokens costs what a hand-written ``async for ...: await write(...)``
  handler costs. A stop (the client left, shutdown, timeout) interrupts a pull that is
  waiting by cancelling the writer's task, and takes that cancellation back once the
  iterator has seen it, so the async generator's ``finally`` runs at once.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterable, AsyncIterator
from typing import Generic, Protocol, TypeVar

from reactivex import Observable

from ..core import Flowable, InvalidDemandError
from ..core.hooks import report_undeliverable
from ._receiver import FrameReceiver
from ._source import Source, as_flowable

T = TypeVar("T")

#: A pull that took at least this long gave the event loop its turns while it waited.
SUSPENDED = 0.001


class End(enum.Enum):
    """The end of a pulled iterator (its signal is in the receiver)."""

    END = "end"


END = End.END


class Feed(Protocol[T]):
    """What the writer needs of a feed."""

    def start(self, receiver: FrameReceiver[T]) -> None:
        """Subscribe ``receiver``; any failure reaches it as ``on_error``."""

    async def wait(self) -> bool:
        """Until the receiver has a signal (or was cancelled, or woken); True when the wait
        let other tasks run."""

    def wake(self) -> bool:
        """End a wait early (a heartbeat is due); False when a wait cannot be woken
        without ending the source."""

    async def aclose(self) -> None:
        """Release what the feed holds once the stream is over."""


class FlowFeed(Generic[T]):
    """A Flowable's subscription pushes into the receiver; the writer awaits a future."""

    __slots__ = ("_flow", "_loop", "_receiver")

    def __init__(self, flow: Flowable[T]) -> None:
        self._flow = flow
        self._receiver: FrameReceiver[T] | None = None
        self._loop = asyncio.get_running_loop()

    def start(self, receiver: FrameReceiver[T]) -> None:
        self._receiver = receiver
        try:
            self._flow.subscribe_flow(receiver)
        except Exception as error:  # a source that breaks rule 1.9: it fails the stream
            receiver.on_error(error)

    async def wait(self) -> bool:
        receiver = self._receiver
        assert receiver is not None  # started before the writer waits
        waiter = receiver.waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            receiver.waiter = None
        return True

    def wake(self) -> bool:
        if self._receiver is not None:
            self._receiver.wake()
        return True

    async def aclose(self) -> None:
        return None


class IteratorFeed(Generic[T]):
    """The writer's task pulls an async iterator while the receiver has demand.

    Acts as the receiver's subscription: ``request`` adds demand, ``cancel`` ends the
    iterator (interrupting a pull in progress). Both run on the loop's thread, as the
    writer calls them.
    """

    __slots__ = (
        "_cancelled",
        "_demand",
        "_iterable",
        "_iterator",
        "_loop",
        "_pulling",
        "_receiver",
        "_task",
    )

    def __init__(self, iterable: AsyncIterable[T]) -> None:
        self._iterable = iterable
        self._iterator: AsyncIterator[T] | None = None
        self._receiver: FrameReceiver[T] | None = None
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._demand = 0
        self._cancelled = False
        #: True while the writer's task waits inside ``anext``; only then may cancel()
        #: interrupt it.
        self._pulling = False

    def start(self, receiver: FrameReceiver[T]) -> None:
        self._receiver = receiver
        try:
            self._iterator = aiter(self._iterable)
        except Exception as error:
            receiver.on_subscribe(self)
            receiver.on_error(error)
            return
        receiver.on_subscribe(self)

    # -- Subscription ------------------------------------------------------------------------

    def request(self, n: int) -> None:
        if n <= 0:
            receiver = self._receiver
            self.cancel()
            if receiver is not None:
                receiver.on_error(InvalidDemandError(n))
            return
        self._demand += n

    def cancel(self) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        if self._pulling and self._task is not None:
            self._task.cancel()

    # -- the writer's side -------------------------------------------------------------------

    async def wait(self) -> bool:
        receiver, iterator = self._receiver, self._iterator
        assert receiver is not None  # started before the writer waits
        if self._cancelled or iterator is None or receiver.finished or not self._demand:
            await asyncio.sleep(0)  # nothing to pull: the writer is woken by a stop only
            return True
        started = self._loop.time()
        self._pulling = True
        try:
            item = await anext(iterator)
        except StopAsyncIteration:
            receiver.on_completed()
        except asyncio.CancelledError:
            task = self._task
            if not self._cancelled or task is None or task.uncancel() > 0:
                raise  # not (only) ours: aiohttp's handler cancellation, or a shutdown
        except Exception as error:
            receiver.on_error(error)
        else:
            self._demand -= 1
            receiver.on_next(item)
        finally:
            self._pulling = False
        return self._loop.time() - started >= SUSPENDED

    @property
    def iterator(self) -> AsyncIterator[T] | None:
        """The iterator to pull, while pulling may go on; ``None`` once it ended."""
        receiver = self._receiver
        if self._cancelled or receiver is None or receiver.finished:
            return None
        return self._iterator

    def pulling(self, pulling: bool) -> None:
        """The writer's task enters (``True``) or leaves a pull: only inside one may
        :meth:`cancel` interrupt it."""
        self._pulling = pulling

    def ended(self, error: BaseException) -> End:
        """What a pull raised, told to the receiver; :data:`END`. A cancellation that
        :meth:`cancel` caused is taken back; any other is raised again."""
        receiver = self._receiver
        assert receiver is not None  # started before the writer pulls
        if isinstance(error, StopAsyncIteration):
            receiver.on_completed()
        elif isinstance(error, asyncio.CancelledError):
            task = self._task
            if not self._cancelled or task is None or task.uncancel() > 0:
                raise error  # not (only) ours: aiohttp's handler cancellation, or a shutdown
        elif isinstance(error, Exception):
            receiver.on_error(error)
        else:
            raise error
        return END

    def wake(self) -> bool:
        return not self._pulling

    async def aclose(self) -> None:
        aclose = getattr(self._iterator, "aclose", None)
        self._iterator = None
        if aclose is not None:
            try:
                await aclose()
            except Exception as error:
                report_undeliverable(error)


def feed_for(source: Source[T], push_capacity: int) -> tuple[Feed[T], Flowable[T] | None]:
    """The feed of ``source``, and the Flowable behind it (``None`` for an async iterable).

    Raises:
        TypeError: ``source`` is none of the kinds ``as_flowable`` takes.
    """
    if isinstance(source, AsyncIterable) and not isinstance(source, (Flowable, Observable)):
        return IteratorFeed(source), None
    flow = as_flowable(source, push_capacity)
    return FlowFeed(flow), flow
