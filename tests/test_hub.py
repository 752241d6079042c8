"""The broadcast hub: one hot source, many subscribers that come and go, each with its own
bounded buffer; lossy and paced modes, replay, clean detach, the source's lifecycle, and
1000 subscribers of one source with exact accounting and bounded memory."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import pytest
import reactivex
from reactivex.subject import Subject

import rxspike
from rxspike import HubMode, RequestSubscriber
from rxspike.bridges import HubState
from rxspike.operators import BufferOverflowError, Overflow
from rxspike.testing import PublisherVerification

from ._flow_support import Recorder
from ._support import spy

SUBSCRIBERS = 1000
PUBLISHED = 300
CAPACITY = 16


def _item(n: int) -> bytes:
    """About 1 KiB, a fresh object per item, shared by every subscriber that holds it."""
    return n.to_bytes(8, "little") * 128


def test_lossy_1000_subscribers_one_slow_accounting_is_exact_per_subscriber() -> None:
    em = rxspike.emitter(CAPACITY, Overflow.ERROR)
    hub = rxspike.broadcast(em, capacity=CAPACITY, overflow=Overflow.DROP_OLDEST)
    fast = [Recorder(initial_request=rxspike.UNBOUNDED) for _ in range(SUBSCRIBERS - 1)]
    slow = Recorder()  # asks for nothing until the end
    flows = [hub.flowable for _ in range(SUBSCRIBERS)]
    for flow, subscriber in zip(flows, [*fast, slow], strict=True):
        flow.subscribe(subscriber)
    assert hub.statistics().subscribers == SUBSCRIBERS

    for n in range(PUBLISHED):
        assert em.try_emit(n) is rxspike.operators.EmitResult.OK
        # The slow subscriber never holds the others back: each fast one has every item
        # published so far, at once, while the slow one has taken nothing.
        if n % 50 == 0:
            assert all(len(s.events) == n + 1 for s in fast)
    assert all(s.events == list(range(PUBLISHED)) for s in fast)
    assert slow.events == []

    for flow in flows:  # delivered + dropped + buffered == published, for each subscriber
        stats = flow.statistics()
        assert stats.delivered + stats.dropped + stats.buffered == PUBLISHED
    slow_stats = flows[-1].statistics()
    assert (slow_stats.buffered, slow_stats.dropped) == (CAPACITY, PUBLISHED - CAPACITY)
    assert all(flow.statistics().dropped == 0 for flow in flows[:-1])

    slow.request(1000)  # the slow one gets the newest CAPACITY items (DROP_OLDEST)
    assert slow.events == list(range(PUBLISHED - CAPACITY, PUBLISHED))
    em.complete()
    assert all(s.events[-1] == "done" for s in [*fast, slow])
    for flow in flows:  # after the end: delivered + dropped == published, exactly
        stats = flow.statistics()
        assert stats.delivered + stats.dropped == PUBLISHED
        assert stats.buffered == 0
    assert hub.statistics().published == PUBLISHED


#: Items published to 1000 subscribers that never read; 1 KiB each.
FLOOD = 700
#: Peak allocation allowed for the run, setup included (1000 subscribers and their buffers).
#: Without the bound (capacity >= FLOOD) the same run peaked at 8.8 MiB under memray: 1000 x 700
#: references in the buffers (5.6 MB) and every item (0.7 MB) on top of the setup.
FLOOD_LIMIT = "5 MB"


@pytest.mark.limit_memory(FLOOD_LIMIT)
def test_lossy_1000_slow_subscribers_memory_is_bounded_by_their_buffers() -> None:
    em = rxspike.emitter(CAPACITY, Overflow.ERROR)
    hub = rxspike.broadcast(em, capacity=CAPACITY, overflow=Overflow.DROP_OLDEST)
    subscribers = [Recorder() for _ in range(SUBSCRIBERS)]  # none of them ever asks
    flows = [hub.flowable for _ in range(SUBSCRIBERS)]
    for flow, subscriber in zip(flows, subscribers, strict=True):
        flow.subscribe(subscriber)
    for n in range(FLOOD):
        em.try_emit(_item(n))
    for flow in flows:
        stats = flow.statistics()
        assert (stats.buffered, stats.dropped, stats.high_water) == (
            CAPACITY,
            FLOOD - CAPACITY,
            CAPACITY,
        )
    subscribers[0].request(CAPACITY)
    assert subscribers[0].items == [_item(n) for n in range(FLOOD - CAPACITY, FLOOD)]


def test_paced_the_slowest_subscriber_paces_the_source_and_nothing_is_dropped() -> None:
    source, seen = spy(rxspike.range_(10_000))
    hub = rxspike.broadcast(source, mode=HubMode.PACED, capacity=CAPACITY)
    slow = Recorder()  # subscribes first (which starts the cold source), asks for nothing
    fast = Recorder(initial_request=rxspike.UNBOUNDED)
    hub.flowable.subscribe(slow)
    hub.flowable.subscribe(fast)
    # The source was asked only for what the slow subscriber's buffer holds.
    assert seen.requests == [CAPACITY]
    assert fast.events == []  # it joined after those CAPACITY items, and nothing came since
    for _ in range(200):
        slow.request(7)
        assert sum(seen.requests) - len(slow.items) <= CAPACITY  # never further ahead
    assert slow.items == list(range(1400))
    assert fast.items == list(range(CAPACITY, CAPACITY + len(fast.items)))
    assert len(fast.items) >= 1400 - CAPACITY
    slow.request(rxspike.UNBOUNDED)
    assert slow.events[-1] == "done" and fast.events[-1] == "done"
    assert slow.items == list(range(10_000))
    assert fast.items == list(range(CAPACITY, 10_000))
    assert hub.statistics().outstanding == 0


async def test_paced_emitter_producer_waits_for_the_slowest_subscriber() -> None:
    em = rxspike.emitter(4, Overflow.ERROR)
    hub = rxspike.broadcast(em, mode=HubMode.PACED, capacity=4)
    slow = Recorder()
    hub.flowable.subscribe(slow)
    for n in range(8):  # the hub's buffer (4) and the emitter's (4)
        await em.emit(n)
    with pytest.raises(rxspike.bridges.WouldBlock):
        em.emit_nowait(8)  # the producer would now have to wait for the slow subscriber
    slow.request(3)
    em.emit_nowait(8)
    slow.request(100)
    em.complete()
    assert slow.events == [*range(9), "done"]


def test_replay_gives_a_late_subscriber_the_latest_items_first() -> None:
    subject: Subject[int] = Subject()
    hub = rxspike.broadcast(subject, capacity=4, replay=3)
    early = Recorder(initial_request=100)
    hub.flowable.subscribe(early)
    for n in range(10):
        subject.on_next(n)
    late = Recorder(initial_request=100)
    hub.flowable.subscribe(late)
    subject.on_next(10)
    subject.on_completed()
    assert early.events == [*range(11), "done"]
    assert late.events == [7, 8, 9, 10, "done"]
    after_end = Recorder(initial_request=100)
    hub.flowable.subscribe(after_end)
    assert after_end.events == [8, 9, 10, "done"]
    assert hub.state is HubState.COMPLETED


def test_an_error_reaches_every_subscriber_and_later_ones() -> None:
    subject: Subject[int] = Subject()
    hub = rxspike.broadcast(subject, capacity=4)
    first = Recorder(initial_request=10)
    hub.flowable.subscribe(first)
    subject.on_next(1)
    subject.on_error(ConnectionError("feed lost"))
    later = Recorder(initial_request=10)
    hub.flowable.subscribe(later)
    assert first.items == [1] and isinstance(first.error, ConnectionError)
    assert isinstance(later.error, ConnectionError)
    assert hub.state is HubState.FAILED


def test_a_cancelled_subscriber_detaches_and_is_released() -> None:
    em = rxspike.emitter(4, Overflow.ERROR)
    hub = rxspike.broadcast(em, capacity=4)
    stays = Recorder(initial_request=100)
    leaves = Recorder(initial_request=100)
    hub.flowable.subscribe(stays)
    hub.flowable.subscribe(leaves)
    em.try_emit(1)
    leaves.cancel()
    em.try_emit(2)
    assert stays.items == [1, 2] and leaves.items == [1]
    stats = hub.statistics()
    assert (stats.subscribers, stats.joined, stats.left) == (1, 2, 1)
    gone = weakref.ref(leaves)
    del leaves
    gc.collect()
    assert gone() is None


def test_an_overflowing_subscriber_under_error_fails_alone() -> None:
    subject: Subject[int] = Subject()
    hub = rxspike.broadcast(subject, capacity=2, overflow=Overflow.ERROR)
    fine = Recorder(initial_request=100)
    stuck = Recorder()
    hub.flowable.subscribe(fine)
    hub.flowable.subscribe(stuck)
    for n in range(5):
        subject.on_next(n)
    assert isinstance(stuck.error, BufferOverflowError)
    assert fine.items == [0, 1, 2, 3, 4] and fine.error is None
    assert hub.statistics().subscribers == 1


def test_flowable_with_gives_one_subscriber_its_own_buffer() -> None:
    subject: Subject[int] = Subject()
    hub = rxspike.broadcast(subject, capacity=2, overflow=Overflow.DROP_OLDEST)
    roomy = hub.flowable_with(10, Overflow.DROP_INCOMING)
    keeps_first = Recorder()
    roomy.subscribe(keeps_first)
    for n in range(12):
        subject.on_next(n)
    keeps_first.request(100)
    assert keeps_first.items == list(range(10))  # DROP_INCOMING: the first ten stay
    assert roomy.statistics().dropped == 2


def test_the_source_is_subscribed_lazily_and_kept_when_the_last_leaves() -> None:
    source, seen = spy(rxspike.from_observable(Subject(), 4, Overflow.ERROR))
    hub = rxspike.broadcast(source)
    assert hub.statistics().state is HubState.IDLE and seen.requests == []
    one = Recorder(initial_request=1)
    hub.flowable.subscribe(one)
    assert hub.statistics().state is HubState.LIVE and seen.requests == [rxspike.UNBOUNDED]
    one.cancel()
    assert hub.state is HubState.LIVE and seen.cancels == 0  # kept: the default


def test_release_when_idle_cancels_the_source_and_starts_it_again() -> None:
    source, seen = spy(rxspike.range_(1_000_000))
    hub = rxspike.broadcast(source, mode=HubMode.PACED, capacity=8, release_when_idle=True)
    first = Recorder(initial_request=3)
    hub.flowable.subscribe(first)
    first.cancel()
    assert seen.cancels == 1 and hub.state is HubState.IDLE
    again = Recorder(initial_request=3)
    hub.flowable.subscribe(again)
    assert again.items == [0, 1, 2]  # a cold source starts over


def test_bad_arguments_are_refused_with_the_rule() -> None:
    with pytest.raises(TypeError, match=r"PACED.*Observable cannot be slowed down"):
        rxspike.broadcast(reactivex.of(1), mode=HubMode.PACED)
    with pytest.raises(TypeError, match=r"broadcast\(source\) needs"):
        rxspike.broadcast([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"broadcast\(capacity\)"):
        rxspike.broadcast(reactivex.of(1), capacity=0)
    with pytest.raises(ValueError, match=r"broadcast\(replay\)"):
        rxspike.broadcast(reactivex.of(1), replay=-1)
    with pytest.raises(TypeError, match=r"broadcast\(mode\)"):
        rxspike.broadcast(reactivex.of(1), mode="lossy")  # type: ignore[arg-type]
    paced = rxspike.broadcast(rxspike.range_(3), mode=HubMode.PACED)
    with pytest.raises(ValueError, match=r"flowable_with.*lossy"):
        paced.flowable_with(4, Overflow.DROP_OLDEST)


# -- the Reactive Streams rules over a hub's subscriber side -----------------------------------


def _lossy_hub(n: int, *, fail: bool = False) -> rxspike.Flowable[int]:
    """A subscriber of a lossy hub whose emitter pushes n items once it subscribed."""

    def subscribe(subscriber: Any) -> None:
        em = rxspike.emitter(max(n, 1), Overflow.ERROR)
        rxspike.broadcast(em, capacity=max(n, 1)).flowable.subscribe_flow(subscriber)
        for i in range(n):
            em.try_emit(i)
        if fail:
            em.error(RuntimeError("hub source failed"))
        else:
            em.complete()

    return rxspike.Flowable(subscribe)


def _paced_hub(n: int) -> rxspike.Flowable[int]:
    return rxspike.broadcast(rxspike.range_(n), mode=HubMode.PACED, capacity=8).flowable


@pytest.mark.parametrize("rule", PublisherVerification.rule_ids())
@pytest.mark.parametrize("kind", ["lossy", "paced"])
def test_hub_subscriber_conformance(kind: str, rule: str) -> None:
    if kind == "lossy":
        verification = PublisherVerification(
            _lossy_hub, failing_factory=lambda: _lossy_hub(2, fail=True)
        )
    else:
        verification = PublisherVerification(
            _paced_hub, failing_factory=lambda: _lossy_hub(2, fail=True)
        )
    verification.check(rule)


def test_requests_from_the_subscriber_are_checked() -> None:
    subject: Subject[int] = Subject()
    hub = rxspike.broadcast(subject)
    errors: list[Exception] = []
    subscriber: RequestSubscriber[Any] = RequestSubscriber(lambda _: None, errors.append)
    hub.flowable.subscribe(subscriber)
    subscriber.request(0)
    assert isinstance(errors[0], rxspike.InvalidDemandError)
    assert hub.statistics().subscribers == 0


def test_a_subscriber_whose_on_subscribe_raises_gets_one_cancelled_subscription() -> None:
    seen: list[BaseException] = []
    previous = rxspike.set_undeliverable_hook(seen.append)
    try:
        subject: Subject[int] = Subject()
        hub = rxspike.broadcast(subject)
        calls: list[Any] = []

        class Broken(Recorder):
            def on_subscribe(self, subscription: Any) -> None:
                calls.append(subscription)
                raise RuntimeError("broken on_subscribe")

        broken = Broken()
        hub.flowable.subscribe(broken)
        fine = Recorder(initial_request=10)
        hub.flowable.subscribe(fine)
        subject.on_next(1)
    finally:
        rxspike.set_undeliverable_hook(previous)
    assert len(calls) == 1 and broken.events == []
    assert [str(e) for e in seen] == ["broken on_subscribe"]
    assert fine.items == [1] and hub.statistics().subscribers == 1


def test_subscribers_come_and_go_while_another_thread_publishes() -> None:
    """Joins and cancels race with a publishing thread: each subscriber still sees an
    increasing run of items, and its buffer's counters agree with each other."""
    subject: Subject[int] = Subject()
    hub = rxspike.broadcast(subject, capacity=8, overflow=Overflow.DROP_OLDEST, replay=4)
    hub.flowable.subscribe(Recorder(initial_request=rxspike.UNBOUNDED))  # starts the hub
    done = threading.Event()

    def publish() -> None:
        for n in range(3000):
            subject.on_next(n)
        done.set()

    publisher = threading.Thread(target=publish)
    publisher.start()
    joined: list[tuple[Recorder, rxspike.bridges.HubFlowable[int]]] = []
    while not done.is_set() and len(joined) < 300:
        flow = hub.flowable
        subscriber = Recorder(initial_request=rxspike.UNBOUNDED if len(joined) % 2 else 5)
        flow.subscribe(subscriber)
        joined.append((subscriber, flow))
        if len(joined) % 3 == 0:
            joined[len(joined) // 2][0].cancel()
    publisher.join(timeout=30)
    assert not publisher.is_alive()
    subject.on_completed()
    for subscriber, flow in joined:
        items = subscriber.items
        assert items == sorted(set(items)), "out of order or repeated"
        stats = flow.statistics()
        assert stats.received == stats.delivered + stats.dropped + stats.buffered
        assert stats.delivered == len(items)
    assert hub.statistics().subscribers == 0  # completed: everyone has left
