"""``TestSubscriber``: a subscriber that records everything and checks the publisher's side."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..core.types import UNBOUNDED, Subscription
from ._errors import RuleViolation

T = TypeVar("T")

#: Seconds any wait of the kit gives up after (an ``AssertionError``), unless told otherwise.
DEFAULT_TIMEOUT = 5.0


class SignalKind(enum.Enum):
    """Which subscriber method a publisher called."""

    SUBSCRIBE = "on_subscribe"
    NEXT = "on_next"
    ERROR = "on_error"
    COMPLETED = "on_completed"


@dataclass(frozen=True, slots=True)
class Signal:
    """One call a publisher made on a :class:`TestSubscriber`."""

    #: Which method was called.
    kind: SignalKind
    #: The item (``on_next``), the error (``on_error``), the subscription (``on_subscribe``),
    #: or ``None`` (``on_completed``).
    value: Any
    #: ``time.monotonic()`` at the call.
    time: float
    #: ``threading.get_ident()`` of the calling thread.
    thread: int
    #: Frames on the call stack at the call; 0 unless ``track_stack_depth`` was set.
    stack_depth: int


@dataclass(frozen=True, slots=True)
class Violation:
    """A rule the publisher broke, as seen by a :class:`TestSubscriber`."""

    #: The Reactive Streams rule number, e.g. ``"1.1"``.
    rule: str
    #: What happened.
    message: str

    def __str__(self) -> str:
        return f"rule {self.rule}: {self.message}"


def _stack_depth() -> int:
    frame = sys._getframe(2)
    depth = 0
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    return depth


class TestSubscriber(Generic[T]):
    """A Reactive Streams subscriber for tests: records every signal, checks the publisher.

    Like RxJava's ``TestSubscriber``. Nothing is requested unless you say so:
    ``initial_request`` is requested from ``on_subscribe``, ``request_per_item`` more from
    each ``on_next``, and :meth:`request` asks from your code (before the subscription
    arrives it is kept and forwarded). ``cancel_after=k`` cancels from inside the ``k``-th
    ``on_next``; ``on_item`` is called with each item (it may raise, to test rule 2.13).

    While it records, it checks the publisher's side of the protocol and keeps what went
    wrong in :attr:`violations` (:meth:`assert_no_violations` raises them):

    - 1.1: more ``on_next`` than requested in total (requests made after ``cancel()`` do
      not count; items already requested may still arrive after it, rule 2.8);
    - 1.3: a signal that overlaps one still running on another thread;
    - 1.7: any signal after ``on_completed`` / ``on_error``;
    - 1.9: a signal before ``on_subscribe``, or a second ``on_subscribe`` (that
      subscription is cancelled, rule 2.5);
    - 3.15 / 3.16: ``cancel()`` / ``request()`` raised.

    :meth:`request` and :meth:`cancel` forward every call, also repeated ones and ones after
    the end, so a test can check that the publisher treats them as no-ops.

    Waits come in two forms, each bounded by a timeout that fails the test with an
    ``AssertionError`` saying what was received: blocking ``wait_for_*`` for publishers that
    emit on the calling thread or on other threads, and ``await_*`` for a coroutine whose
    publisher emits on the same event loop (a blocking wait there would stall the loop).

    >>> from rxspike import range_
    >>> subscriber = TestSubscriber(initial_request=2)
    >>> _ = range_(5).subscribe(subscriber)
    >>> subscriber.assert_values([0, 1]).assert_not_terminated()
    TestSubscriber(values=[0, 1], errors=[], completions=0, requested=2)
    >>> subscriber.request(10)
    >>> subscriber.assert_result([0, 1, 2, 3, 4]).assert_no_violations()
    TestSubscriber(values=[0, 1, 2, 3, 4], errors=[], completions=1, requested=12)
    """

    __test__ = False  # not a pytest test class, whatever its name

    __slots__ = (
        "__weakref__",
        "_active_thread",
        "_cancel_after",
        "_cancelled",
        "_completions",
        "_cond",
        "_errors",
        "_nesting",
        "_on_item",
        "_pending",
        "_request_per_item",
        "_requested",
        "_signals",
        "_subscription",
        "_timeout",
        "_track_stack_depth",
        "_values",
        "_violations",
        "_waiters",
    )

    def __init__(
        self,
        initial_request: int = 0,
        *,
        request_per_item: int = 0,
        cancel_after: int | None = None,
        on_item: Callable[[T], None] | None = None,
        track_stack_depth: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._cond = threading.Condition(threading.RLock())
        self._pending: list[int] = [initial_request] if initial_request else []
        self._request_per_item = request_per_item
        self._cancel_after = cancel_after
        self._on_item = on_item
        self._track_stack_depth = track_stack_depth
        self._timeout = timeout
        self._signals: list[Signal] = []
        self._values: list[T] = []
        self._errors: list[Exception] = []
        self._completions = 0
        self._subscription: Subscription | None = None
        self._requested = 0
        self._cancelled = False
        self._violations: list[Violation] = []
        self._active_thread = 0
        self._nesting = 0
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    # -- what was seen -----------------------------------------------------------------------

    @property
    def values(self) -> list[T]:
        """The items received so far, in order (a copy)."""
        with self._cond:
            return list(self._values)

    @property
    def errors(self) -> list[Exception]:
        """The errors received through ``on_error`` (a compliant publisher sends at most one)."""
        with self._cond:
            return list(self._errors)

    @property
    def completions(self) -> int:
        """How many times ``on_completed`` was called (a compliant publisher: 0 or 1)."""
        with self._cond:
            return self._completions

    @property
    def signals(self) -> list[Signal]:
        """Every call the publisher made, in order, with time, thread and stack depth."""
        with self._cond:
            return list(self._signals)

    @property
    def violations(self) -> list[Violation]:
        """The rules the publisher broke so far (see the class docstring for what is checked)."""
        with self._cond:
            return list(self._violations)

    @property
    def subscription(self) -> Subscription | None:
        """The (first) subscription received, or ``None`` before ``on_subscribe``."""
        return self._subscription

    @property
    def requested(self) -> int:
        """Total demand signalled before ``cancel()``; saturates at :data:`UNBOUNDED`."""
        with self._cond:
            return self._requested

    @property
    def is_cancelled(self) -> bool:
        """``cancel()`` was called."""
        return self._cancelled

    @property
    def is_terminated(self) -> bool:
        """``on_completed`` or ``on_error`` was received."""
        with self._cond:
            return self._terminated()

    @property
    def stack_depths(self) -> list[int]:
        """Stack depth at each ``on_next`` (needs ``track_stack_depth=True``)."""
        with self._cond:
            return [s.stack_depth for s in self._signals if s.kind is SignalKind.NEXT]

    def _terminated(self) -> bool:
        return bool(self._errors) or self._completions > 0

    # -- Subscriber ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _signal(self, kind: SignalKind, value: Any) -> Iterator[None]:
        """Record one signal and watch it for overlap with a signal on another thread."""
        me = threading.get_ident()
        depth = _stack_depth() if self._track_stack_depth else 0
        entered = False
        with self._cond:
            active = self._active_thread
            if active and active != me:
                self._violate(
                    "1.3",
                    f"{kind.value} on thread {me} overlapped a signal still running on "
                    f"thread {active}: signals must be serial",
                )
            else:
                self._active_thread = me
                self._nesting += 1
                entered = True
            self._signals.append(Signal(kind, value, time.monotonic(), me, depth))
            if kind is not SignalKind.SUBSCRIBE:
                if self._subscription is None:
                    self._violate("1.9", f"{kind.value} was called before on_subscribe")
                if self._terminated():
                    first = "on_error" if self._errors else "on_completed"
                    self._violate("1.7", f"{kind.value} was called after {first}")
        try:
            yield
        finally:
            with self._cond:
                if entered:
                    self._nesting -= 1
                    if not self._nesting:
                        self._active_thread = 0
                self._cond.notify_all()
                self._wake_async()

    def _violate(self, rule: str, message: str) -> None:
        self._violations.append(Violation(rule, message))

    def on_subscribe(self, subscription: Subscription) -> None:
        with self._signal(SignalKind.SUBSCRIBE, subscription):
            with self._cond:
                second = self._subscription is not None
                if second:
                    self._violate(
                        "1.9",
                        "on_subscribe was called twice on one subscriber; the second "
                        "subscription was cancelled (rule 2.5)",
                    )
                else:
                    if self._terminated() or len(self._signals) > 1:
                        self._violate("1.9", "on_subscribe was not the first signal")
                    self._subscription = subscription
                pending, self._pending = self._pending, []
            if second:
                self._call_cancel(subscription)
                return
            if self._cancelled:
                self._call_cancel(subscription)
                return
            for n in pending:
                self._call_request(subscription, n, raise_=False)

    def on_next(self, value: T) -> None:
        with self._signal(SignalKind.NEXT, value):
            with self._cond:
                self._values.append(value)
                received = len(self._values)
                requested = self._requested
                if requested != UNBOUNDED and received > requested:
                    self._violate(
                        "1.1",
                        f"on_next #{received} ({value!r}) arrived but only {requested} "
                        "were requested",
                    )
            if self._cancel_after is not None and received == self._cancel_after:
                self.cancel()
            if self._on_item is not None:
                self._on_item(value)
            if self._request_per_item and not self._cancelled:
                subscription = self._subscription
                if subscription is not None:
                    self._call_request(subscription, self._request_per_item, raise_=False)

    def on_error(self, error: Exception) -> None:
        with self._signal(SignalKind.ERROR, error), self._cond:
            self._errors.append(error)

    def on_completed(self) -> None:
        with self._signal(SignalKind.COMPLETED, None), self._cond:
            self._completions += 1

    # -- Subscription calls ------------------------------------------------------------------

    def request(self, n: int) -> None:
        """Ask for ``n`` more items; kept until the subscription arrives.

        Every call is forwarded, also ``n <= 0`` and calls after :meth:`cancel` (which do not
        count towards :attr:`requested`).

        Raises:
            RuleViolation: the subscription's ``request`` raised (rule 3.16).
        """
        with self._cond:
            subscription = self._subscription
            if subscription is None:
                self._pending.append(n)
                return
        self._call_request(subscription, n, raise_=True)

    def cancel(self) -> None:
        """Cancel the subscription (every call is forwarded, to test idempotence).

        Safe before ``on_subscribe``: the subscription is then cancelled on arrival.

        Raises:
            RuleViolation: the subscription's ``cancel`` raised (rule 3.15).
        """
        self._cancelled = True
        subscription = self._subscription
        if subscription is not None:
            self._call_cancel(subscription, raise_=True)

    def _call_request(self, subscription: Subscription, n: int, *, raise_: bool) -> None:
        with self._cond:
            if n > 0 and not self._cancelled:
                total = self._requested + n
                self._requested = total if total < UNBOUNDED else UNBOUNDED
        try:
            subscription.request(n)
        except Exception as error:
            message = f"request({n!r}) raised {error!r}; it must return normally"
            with self._cond:
                self._violate("3.16", message)
            if raise_:
                raise RuleViolation("3.16", message) from error

    def _call_cancel(self, subscription: Subscription, *, raise_: bool = False) -> None:
        try:
            subscription.cancel()
        except Exception as error:
            message = f"cancel() raised {error!r}; it must return normally"
            with self._cond:
                self._violate("3.15", message)
            if raise_:
                raise RuleViolation("3.15", message) from error

    # -- waiting -------------------------------------------------------------------------------

    def _wake_async(self) -> None:
        waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, future)

    def _timeout_error(self, what: str, timeout: float) -> AssertionError:
        return AssertionError(f"timed out after {timeout} s waiting for {what}; {self!r}")

    def _check_values(self, n: int) -> bool:
        if len(self._values) >= n:
            return True
        if self._terminated():
            raise AssertionError(f"expected {n} values but the stream ended first; {self!r}")
        return False

    def wait_until(
        self, condition: Callable[[], bool], what: str, timeout: float | None = None
    ) -> None:
        """Block until ``condition()`` (evaluated after each signal) holds.

        Raises:
            AssertionError: ``timeout`` seconds passed first (default: the subscriber's).
            RuntimeError: called on the thread of a running event loop while the condition
                does not hold yet (the loop could never deliver it): use :meth:`await_until`.
        """
        timeout = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition():
                if _loop_running_here():
                    raise RuntimeError(
                        f"a blocking wait for {what} on the event loop's thread would stall "
                        "the loop; use the await_* form of this wait"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timeout_error(what, timeout)
                self._cond.wait(remaining)

    def wait_for_subscription(self, timeout: float | None = None) -> Subscription:
        """Block until ``on_subscribe`` arrived; return the subscription."""
        self.wait_until(lambda: self._subscription is not None, "on_subscribe", timeout)
        assert self._subscription is not None
        return self._subscription

    def wait_for_values(self, n: int, timeout: float | None = None) -> list[T]:
        """Block until at least ``n`` items arrived; return the items.

        Raises:
            AssertionError: the stream ended with fewer, or the timeout passed.
        """
        self.wait_until(lambda: self._check_values(n), f"{n} values", timeout)
        return self.values

    def wait_for_done(self, timeout: float | None = None) -> TestSubscriber[T]:
        """Block until ``on_completed`` or ``on_error`` arrived."""
        self.wait_until(self._terminated, "on_completed or on_error", timeout)
        return self

    # The waits take a timeout, unlike trio-style async APIs, because the point of the kit is
    # that no wait is unbounded; each mirrors its blocking twin.
    async def await_until(
        self,
        condition: Callable[[], bool],
        what: str,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        """Wait in a coroutine until ``condition()`` (evaluated after each signal) holds.

        Raises:
            AssertionError: ``timeout`` seconds passed first (default: the subscriber's).
        """
        timeout = self._timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with self._cond:
                if condition():
                    return
                future: asyncio.Future[None] = loop.create_future()
                self._waiters.append((loop, future))
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                await asyncio.wait_for(future, remaining)
            except TimeoutError:
                with self._cond:
                    if condition():
                        return
                raise self._timeout_error(what, timeout) from None

    async def await_subscription(
        self,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Subscription:
        """Wait until ``on_subscribe`` arrived; return the subscription."""
        await self.await_until(lambda: self._subscription is not None, "on_subscribe", timeout)
        assert self._subscription is not None
        return self._subscription

    async def await_values(
        self,
        n: int,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> list[T]:
        """Wait until at least ``n`` items arrived; return the items.

        Raises:
            AssertionError: the stream ended with fewer, or the timeout passed.
        """
        await self.await_until(lambda: self._check_values(n), f"{n} values", timeout)
        return self.values

    async def await_done(
        self,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> TestSubscriber[T]:
        """Wait until ``on_completed`` or ``on_error`` arrived."""
        await self.await_until(self._terminated, "on_completed or on_error", timeout)
        return self

    # -- assertions (each returns self, so they chain) -----------------------------------------

    def _fail(self, message: str) -> AssertionError:
        return AssertionError(f"{message}; {self!r}")

    def assert_subscribed(self) -> TestSubscriber[T]:
        """``on_subscribe`` was received."""
        if self._subscription is None:
            raise self._fail("on_subscribe was not received")
        return self

    def assert_values(self, expected: Sequence[T]) -> TestSubscriber[T]:
        """Exactly these items were received, in this order."""
        values = self.values
        if values != list(expected):
            raise self._fail(f"expected values {list(expected)!r}, got {values!r}")
        return self

    def assert_value_count(self, n: int) -> TestSubscriber[T]:
        """Exactly ``n`` items were received."""
        count = len(self.values)
        if count != n:
            raise self._fail(f"expected {n} values, got {count}")
        return self

    def assert_no_values(self) -> TestSubscriber[T]:
        """No item was received."""
        return self.assert_value_count(0)

    def assert_completed(self) -> TestSubscriber[T]:
        """``on_completed`` was received exactly once and ``on_error`` never."""
        self.assert_no_errors()
        completions = self.completions
        if completions != 1:
            raise self._fail(f"expected on_completed once, got it {completions} times")
        return self

    def assert_not_completed(self) -> TestSubscriber[T]:
        """``on_completed`` was not received."""
        if self.completions:
            raise self._fail("expected no on_completed")
        return self

    def assert_no_errors(self) -> TestSubscriber[T]:
        """``on_error`` was not received."""
        errors = self.errors
        if errors:
            raise self._fail(f"expected no error, got {errors[0]!r}") from errors[0]
        return self

    def assert_error(
        self, expected: type[BaseException] | BaseException, match: str | None = None
    ) -> TestSubscriber[T]:
        """``on_error`` was received exactly once, with an error of this type (or this very
        error), whose message contains a match of the regular expression ``match``."""
        errors = self.errors
        if len(errors) != 1:
            raise self._fail(f"expected exactly one error, got {len(errors)}")
        error = errors[0]
        if isinstance(expected, BaseException):
            if error is not expected:
                raise self._fail(f"expected the error {expected!r}, got {error!r}") from error
        elif not isinstance(error, expected):
            raise self._fail(
                f"expected an error of type {expected.__name__}, got {error!r}"
            ) from error
        if match is not None and not re.search(match, str(error)):
            raise self._fail(
                f"expected the error message to match {match!r}, got {str(error)!r}"
            ) from error
        if self.completions:
            raise self._fail("got on_completed as well as on_error")
        return self

    def assert_not_terminated(self) -> TestSubscriber[T]:
        """Neither ``on_completed`` nor ``on_error`` was received."""
        if self.is_terminated:
            raise self._fail("expected the stream to be still running")
        return self

    def assert_result(self, expected: Sequence[T]) -> TestSubscriber[T]:
        """Exactly these items, then ``on_completed``, no error."""
        return self.assert_values(expected).assert_completed()

    def assert_no_violations(self) -> TestSubscriber[T]:
        """The publisher kept every rule this subscriber checks.

        Raises:
            RuleViolation: naming the first broken rule and listing every violation.
        """
        violations = self.violations
        if violations:
            listed = "; ".join(str(v) for v in violations)
            raise RuleViolation(violations[0].rule, f"{listed} ({self!r})")
        return self

    def __repr__(self) -> str:
        with self._cond:
            values = self._values if len(self._values) <= 20 else [*self._values[:20], "..."]
            requested = "UNBOUNDED" if self._requested == UNBOUNDED else self._requested
            return (
                f"TestSubscriber(values={values!r}, errors={self._errors!r}, "
                f"completions={self._completions}, requested={requested})"
            )


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
