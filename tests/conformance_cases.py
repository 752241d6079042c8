"""The publishers the conformance suite checks: every rxspike source and operator.

tests/test_conformance.py runs every Reactive Streams rule of ``rxspike.testing`` against
every case below (rule x case, parametrized), so a new source or operator is checked by
adding one entry to ``CASES``.

HOW TO ADD A CASE
-----------------
An operator applied to a counting source (``range_(n)``) and to a failing source::

    operator_case("on_backpressure_buffer(16)", on_backpressure_buffer(16))

That is shorthand for the general form, a :class:`Case`::

    Case(
        "my_source",                                   # the pytest id: unique, readable
        lambda n: my_source(n),                         # n -> a fresh publisher of exactly
                                                        #      n items that then completes
        failing=lambda: my_source(fail_after=2),       # optional: a publisher that fails
        on_loop=False,                                  # True: must be subscribed from a
                                                        #   running asyncio loop
        max_elements=None,                              # most items the factory can make
        skip={"3.3": "why this rule cannot apply"},   # rule id -> reason (rarely needed)
    )

Rules that do not apply are skipped by the kit itself (no failing publisher, too few
elements, a source that can only fail). Skipping a rule by hand needs a reason that says why
the rule does not apply, not that the operator fails it: a broken rule is a bug to fix.
Operators that drop or merge items still need ``factory(n)`` to emit exactly ``n``: feed them
a source that makes that come out (see the ``filter`` and ``take`` cases).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import reactivex
import reactivex.operators as ops
from reactivex.scheduler import EventLoopScheduler, ThreadPoolScheduler, TimeoutScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.testing import TestScheduler

from rxspike import (
    UNBOUNDED,
    Flowable,
    GenerateSink,
    LambdaSubscriber,
    RequestSubscriber,
    Subscriber,
    defer,
    emitter,
    empty,
    error,
    from_async_iterable,
    from_iterable,
    from_observable,
    generate,
    just,
    range_,
)
from rxspike.operators import (
    Overflow,
    ThrottleMode,
    batch,
    concat_map,
    delay,
    flat_map,
    fuse,
    limit_rate,
    merge,
    observe_on,
    on_backpressure_buffer,
    on_backpressure_latest,
    on_backpressure_reduce,
    take,
    throttle,
)
from rxspike.testing import (
    ManualPublisher,
    PublisherVerification,
    SubscriberVerification,
    TestSubscriber,
)


@dataclass(frozen=True)
class Case:
    """One publisher under test; see the module docstring."""

    name: str
    factory: Callable[[int], Flowable[Any]] | None
    failing: Callable[[], Flowable[Any]] | None = None
    on_loop: bool = False
    max_elements: int | None = None
    skip: Mapping[str, str] = field(default_factory=dict)

    def verification(self) -> PublisherVerification:
        return PublisherVerification(
            self.factory,
            failing_factory=self.failing,
            on_loop=self.on_loop,
            max_elements=self.max_elements,
            skip=self.skip,
        )

    def __str__(self) -> str:
        return self.name


class Boom(Exception):
    """The error the failing publishers fail with."""


def failing_iterator(good: int = 2) -> Iterator[int]:
    """``good`` items, then :class:`Boom`."""
    yield from range(good)
    raise Boom(f"failed after {good} items")


def failing_source(good: int = 2) -> Flowable[int]:
    """A source that emits ``good`` items, then fails with :class:`Boom`."""
    return from_iterable(_Reiterable(lambda: failing_iterator(good)))


class _Reiterable:
    """An iterable that starts afresh for each subscriber."""

    def __init__(self, make: Callable[[], Iterator[int]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[int]:
        return self._make()


_TIMERS = TimeoutScheduler()
_WORKER = EventLoopScheduler()
_POOL = ThreadPoolScheduler(2)


def _on_running_loop() -> Any:
    """observe_on the loop that subscribes (use inside ``defer``)."""
    return observe_on(AsyncIOScheduler(asyncio.get_running_loop()))


def _endless(x: int) -> Iterator[int]:
    return itertools.count(x * 1000)


def operator_case(name: str, *operators: Any, **options: Any) -> Case:
    """An operator (or a pipe of them) over ``range_(n)``, failing over a failing source."""
    return Case(
        name,
        lambda n: range_(n).pipe(*operators),
        failing=lambda: failing_source().pipe(*operators),
        **options,
    )


# -- sources -------------------------------------------------------------------------------------


def _count_to(n: int) -> Callable[[int, GenerateSink[int]], int]:
    def step(state: int, sink: GenerateSink[int]) -> int:
        if state >= n:
            sink.complete()
        else:
            sink.next(state)
        return state + 1

    return step


def _fail_at(n: int) -> Callable[[int, GenerateSink[int]], int]:
    def step(state: int, sink: GenerateSink[int]) -> int:
        if state >= n:
            raise Boom(f"generate step failed at {state}")
        sink.next(state)
        return state + 1

    return step


async def _agen(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


async def _failing_agen(good: int = 2) -> AsyncIterator[int]:
    for i in range(good):
        yield i
    raise Boom(f"async iterator failed after {good} items")


def _defer_failure() -> Flowable[int]:
    raise Boom("defer factory failed")


def _never_maps(x: int) -> int:
    raise Boom(f"map failed on {x}")


SOURCES: list[Case] = [
    Case(
        "from_iterable(list)",
        lambda n: from_iterable(list(range(n))),
        failing=failing_source,
    ),
    Case(
        "from_iterable(generator)",
        lambda n: from_iterable(_Reiterable(lambda: iter(range(n)))),
        failing=lambda: from_iterable(failing_iterator()),
    ),
    Case("range_", range_),
    Case("just", lambda n: just(*range(n))),
    Case("empty", lambda n: empty(), max_elements=0),
    Case("error", None, failing=lambda: error(Boom("error() source"))),
    Case(
        "defer",
        lambda n: defer(lambda: range_(n)),
        failing=lambda: defer(_defer_failure),
    ),
    Case(
        "generate",
        lambda n: generate(lambda: 0, _count_to(n)),
        failing=lambda: generate(lambda: 0, _fail_at(2)),
    ),
    Case(
        "from_async_iterable",
        lambda n: from_async_iterable(_agen(n)),
        failing=lambda: from_async_iterable(_failing_agen()),
        on_loop=True,
    ),
]

# -- operators -----------------------------------------------------------------------------------


def _even(x: int) -> bool:
    return x % 2 == 0


def _half(x: int) -> int:
    return x // 2


def _negate(x: int) -> int:
    return -x


OPERATORS: list[Case] = [
    operator_case("fuse(map)", ops.map(lambda x: x * 10)),
    Case(
        "fuse(filter, map)",
        lambda n: range_(2 * n).pipe(ops.filter(_even), ops.map(_half)),
        failing=lambda: failing_source().pipe(ops.filter(_even), ops.map(_half)),
    ),
    operator_case("fuse(map, prefetch=4)", fuse(ops.map(str), prefetch=4)),
    operator_case("fuse(scan, prefetch=1)", fuse(ops.scan(lambda a, x: a + x, 0), prefetch=1)),
    operator_case("fuse(flat_map(of))", ops.flat_map(reactivex.of)),
    Case(
        "fuse(reactivex take)",
        lambda n: range_(n + 3).pipe(ops.take(n)),
        failing=lambda: failing_source().pipe(ops.take(5)),
    ),
    Case(
        "fuse(map raises)",
        None,
        failing=lambda: range_(5).pipe(ops.map(_never_maps)),
    ),
    Case(
        "take(n) of more",
        lambda n: range_(n + 5).pipe(take(n)),
        failing=lambda: failing_source().pipe(take(5)),
    ),
    Case(
        "take(n + 5) of n",
        lambda n: range_(n).pipe(take(n + 5)),
        failing=lambda: failing_source().pipe(take(10)),
    ),
    operator_case("limit_rate(4)", limit_rate(4)),
    operator_case("limit_rate(4, 1)", limit_rate(4, 1)),
    operator_case("limit_rate(1)", limit_rate(1)),
    # Segments whose reactivex operators emit later (paced) or on another thread.
    operator_case("fuse(reactivex delay)", ops.delay(0.001, scheduler=_TIMERS)),
    operator_case("fuse(reactivex observe_on)", ops.observe_on(_WORKER)),
    operator_case("fuse(map, timeout)", fuse(ops.map(str), ops.timeout(5.0), prefetch=4)),
]

# -- the demand-aware flow operators -------------------------------------------------------------

FLOW_OPERATORS: list[Case] = [
    operator_case("observe_on(EventLoopScheduler)", observe_on(_WORKER)),
    operator_case("observe_on(prefetch=1)", observe_on(_WORKER, prefetch=1)),
    operator_case("observe_on(ThreadPoolScheduler, 4)", observe_on(_POOL, prefetch=4)),
    Case(
        "observe_on(AsyncIOScheduler)",
        lambda n: defer(lambda: range_(n).pipe(_on_running_loop())),
        failing=lambda: defer(lambda: failing_source().pipe(_on_running_loop())),
        on_loop=True,
    ),
    operator_case("delay(1 ms)", delay(0.001, _TIMERS)),
    operator_case("flat_map(just)", flat_map(just)),
    Case(
        "flat_map(endless inners) | take",
        lambda n: range_(3).pipe(flat_map(_endless, max_concurrency=2, prefetch=2), take(n)),
        failing=lambda: failing_source().pipe(flat_map(lambda x: [x], prefetch=1)),
    ),
    operator_case("flat_map(reactivex of)", flat_map(reactivex.of, prefetch=4)),
    Case(
        "flat_map(failing inner)",
        None,
        failing=lambda: range_(3).pipe(flat_map(lambda x: failing_source())),
    ),
    operator_case("concat_map(list)", concat_map(lambda x: [x], prefetch=1)),
    Case(
        "merge(iterable, flowable)",
        lambda n: range_(n // 3).pipe(merge(range(n // 3), range_(n - 2 * (n // 3)))),
        failing=lambda: failing_source().pipe(merge([1, 2])),
    ),
]

# -- pipes mixing fused runs, demand operators and sources -----------------------------------------

PIPES: list[Case] = [
    Case(
        "filter|limit_rate|map|take",
        lambda n: range_(2 * n + 2).pipe(ops.filter(_even), limit_rate(8), ops.map(_half), take(n)),
        failing=lambda: failing_source().pipe(ops.filter(_even), limit_rate(8), take(5)),
    ),
    Case(
        "generate|limit_rate(3)|fuse(map, prefetch=2)",
        lambda n: generate(lambda: 0, _count_to(n)).pipe(
            limit_rate(3), fuse(ops.map(str), prefetch=2)
        ),
        failing=lambda: generate(lambda: 0, _fail_at(2)).pipe(limit_rate(3), ops.map(str)),
    ),
    Case(
        "take|map|take",
        lambda n: range_(n + 10).pipe(take(n + 5), ops.map(str), take(n)),
        failing=lambda: failing_source().pipe(take(5), ops.map(str), take(4)),
    ),
    Case(
        "from_async_iterable|map|take",
        lambda n: from_async_iterable(_agen(n + 2)).pipe(ops.map(_negate), take(n)),
        failing=lambda: from_async_iterable(_failing_agen()).pipe(ops.map(str), take(5)),
        on_loop=True,
    ),
    Case(
        "from_async_iterable|limit_rate(2)",
        lambda n: from_async_iterable(_agen(n)).pipe(limit_rate(2)),
        failing=lambda: from_async_iterable(_failing_agen()).pipe(limit_rate(2)),
        on_loop=True,
    ),
    Case(
        "defer|fuse(map)|limit_rate",
        lambda n: defer(lambda: just(*range(n))).pipe(ops.map(str), limit_rate(5)),
        failing=lambda: defer(_defer_failure).pipe(ops.map(str), limit_rate(5)),
    ),
]

# -- overflow operators, throttle, batch and the push bridges (issue 3) ----------------------


def _failing_through(operator: Any) -> Callable[[], Flowable[Any]]:
    return lambda: failing_source().pipe(operator)


def _roomy_buffer(overflow: Overflow) -> Callable[[int], Flowable[Any]]:
    # The buffer asks upstream for everything: a capacity of n keeps all n items.
    return lambda n: range_(n).pipe(on_backpressure_buffer(max(n, 1), overflow))


def _failing_observable() -> reactivex.Observable[int]:
    return reactivex.concat(reactivex.of(0, 1), reactivex.throw(Boom("observable failed")))


def _emitting(n: int, *, fail: bool = False) -> Flowable[int]:
    """A hot emitter that pushes n items (then fails or completes) once subscribed."""

    def subscribe(subscriber: Any) -> None:
        em = emitter(max(n, 1), Overflow.ERROR)
        em.flowable.subscribe_flow(subscriber)
        for i in range(n):
            em.try_emit(i)
        if fail:
            em.error(Boom("emitter failed"))
        else:
            em.complete()

    return Flowable(subscribe)


def _throttled(mode: ThrottleMode) -> Callable[[int], Flowable[Any]]:
    # A full bucket of n tokens: every item conforms, in virtual time that never moves.
    return lambda n: range_(n).pipe(throttle(1, max(n, 1), mode, scheduler=TestScheduler()))


FLOW_CONTROL: list[Case] = [
    *(
        Case(
            f"on_backpressure_buffer(n, {o.name})",
            _roomy_buffer(o),
            failing=_failing_through(on_backpressure_buffer(8, o)),
        )
        for o in Overflow
    ),
    # latest and reduce keep one item: with a source that pushes everything at once, exactly
    # n items come out only for n <= 1.
    operator_case("on_backpressure_latest()", on_backpressure_latest(), max_elements=1),
    operator_case(
        "on_backpressure_reduce(add)", on_backpressure_reduce(lambda a, b: a + b), max_elements=1
    ),
    *(
        Case(
            f"throttle({m.name})",
            _throttled(m),
            failing=_failing_through(throttle(1, 8, m, scheduler=TestScheduler())),
        )
        for m in ThrottleMode
    ),
    Case(
        "batch(3)",
        lambda n: range_(3 * n).pipe(batch(3)),
        failing=lambda: failing_source().pipe(batch(3)),
    ),
    Case(
        "batch(max_bytes=4)",
        lambda n: range_(n).pipe(ops.map(lambda x: b"abcd"), batch(max_bytes=4)),
        failing=lambda: failing_source().pipe(ops.map(lambda x: b"ab"), batch(max_bytes=4)),
    ),
    Case(
        "from_observable(cold, ERROR)",
        lambda n: from_observable(reactivex.range(n), max(n, 1), Overflow.ERROR),
        failing=lambda: from_observable(_failing_observable(), 8, Overflow.ERROR),
    ),
    Case(
        "from_observable(cold, DROP_OLDEST)",
        lambda n: from_observable(reactivex.range(n), max(n, 1), Overflow.DROP_OLDEST),
        failing=lambda: from_observable(_failing_observable(), 8, Overflow.DROP_OLDEST),
    ),
    Case("emitter", _emitting, failing=lambda: _emitting(2, fail=True)),
]

#: Everything tests/test_conformance.py checks. Append new cases to the list they belong to.
CASES: list[Case] = [*SOURCES, *OPERATORS, *FLOW_OPERATORS, *PIPES, *FLOW_CONTROL]


# -- subscribers ---------------------------------------------------------------------------------
#
# The subscriber rules run against rxspike's own subscribers: the end-user ones, and the
# subscriber each operator puts upstream (got hold of through a ManualPublisher). A factory
# returns a fresh subscriber that nothing has called yet; it runs inside the test's event loop.


@dataclass(frozen=True)
class SubscriberCase:
    """One subscriber under test: ``factory()`` makes a fresh one."""

    name: str
    factory: Callable[[], Subscriber[Any]]
    #: How to make it ask for items, if it does not on its own in on_subscribe.
    trigger_request: Callable[[Any], None] | None = None
    skip: Mapping[str, str] = field(default_factory=dict)

    def verification(self) -> SubscriberVerification:
        return SubscriberVerification(
            self.factory, trigger_request=self.trigger_request, skip=self.skip
        )

    def __str__(self) -> str:
        return self.name


def upstream_subscriber(operator: Callable[[Flowable[Any]], Flowable[Any]], demand: int) -> Any:
    """The subscriber ``operator`` puts upstream, with ``demand`` requested downstream."""
    upstream: ManualPublisher[Any] = ManualPublisher()
    operator(upstream).subscribe(TestSubscriber(initial_request=demand))
    return upstream.subscriber


#: Keeps the first ``__anext__`` of each iterator alive while its receiver is checked.
_ITERATION_STEPS: list[Any] = []


def async_iterator_receiver() -> Any:
    """The subscriber behind ``async for``: subscribed by running the first ``__anext__``
    up to its first wait (needs the running event loop)."""
    upstream: ManualPublisher[Any] = ManualPublisher()
    iterator = upstream.iterate(prefetch=4)
    step = iterator.__anext__()
    step.send(None)  # subscribes, then waits for an item
    _ITERATION_STEPS.append((iterator, step))
    return upstream.subscriber


def _ignore(_: Any) -> None:
    pass


def _request_one(subscriber: Any) -> None:
    subscriber.request(1)


SUBSCRIBERS: list[SubscriberCase] = [
    SubscriberCase("LambdaSubscriber(on_next)", lambda: LambdaSubscriber(_ignore)),
    SubscriberCase(
        "LambdaSubscriber(all callbacks)",
        lambda: LambdaSubscriber(_ignore, _ignore, lambda: None),
    ),
    SubscriberCase("RequestSubscriber", lambda: RequestSubscriber(_ignore), _request_one),
    SubscriberCase(
        "TestSubscriber",
        TestSubscriber,
        _request_one,
        skip={"2.4": "forwards request/cancel after the end on purpose, to test publishers"},
    ),
    SubscriberCase("async iterator receiver", async_iterator_receiver),
    SubscriberCase(
        "fuse(map) link, unbounded",
        lambda: upstream_subscriber(lambda f: f.pipe(ops.map(str)), UNBOUNDED),
    ),
    SubscriberCase(
        "fuse(map, prefetch=4) link, bounded",
        lambda: upstream_subscriber(lambda f: f.pipe(fuse(ops.map(str), prefetch=4)), 2),
    ),
    SubscriberCase(
        "limit_rate(4) link", lambda: upstream_subscriber(lambda f: f.pipe(limit_rate(4)), 2)
    ),
    SubscriberCase("take(5)", lambda: upstream_subscriber(lambda f: f.pipe(take(5)), 2)),
]
