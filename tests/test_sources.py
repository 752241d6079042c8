"""Sources: what each emits, when it ends, and that its clean-up runs exactly once."""

from __future__ import annotations

from typing import Any

import pytest

import rxspike
from rxspike import GenerateSink, ProtocolViolationError, RequestSubscriber

from ._support import Spy, counting


def _record(flow: rxspike.Flowable[Any], request: int | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"items": [], "errors": [], "completed": 0}
    subscriber = RequestSubscriber(
        result["items"].append,
        result["errors"].append,
        lambda: result.__setitem__("completed", result["completed"] + 1),
    )
    flow.subscribe(subscriber)
    if request is not None:
        subscriber.request(request)
    result["subscriber"] = subscriber
    return result


def test_from_iterable_iterates_afresh_for_each_subscriber() -> None:
    flow = rxspike.from_iterable([1, 2, 3])
    assert flow.collect() == [1, 2, 3]
    assert flow.collect() == [1, 2, 3]


def test_empty_sized_iterables_and_empty_complete_without_being_asked() -> None:
    for flow in (rxspike.from_iterable([]), rxspike.empty(), rxspike.just()):
        result = _record(flow)
        assert result["completed"] == 1
        assert result["items"] == []


def test_an_unsized_empty_iterator_completes_on_the_first_request() -> None:
    result = _record(rxspike.from_iterable(iter([])))
    assert result["completed"] == 0
    result["subscriber"].request(1)
    assert result["completed"] == 1


def test_a_failing_iterator_signals_on_error_after_its_items() -> None:
    def failing() -> Any:
        yield 1
        raise KeyError("broken")

    result = _record(rxspike.from_iterable(failing()), request=10)
    assert result["items"] == [1]
    assert isinstance(result["errors"][0], KeyError)


def test_error_signals_without_being_asked() -> None:
    result = _record(rxspike.error(OSError("down")))
    assert [type(e) for e in result["errors"]] == [OSError]


def test_range_follows_python_range() -> None:
    assert rxspike.range_(5).collect() == [0, 1, 2, 3, 4]
    assert rxspike.range_(2, 8, 3).collect() == [2, 5]
    assert rxspike.range_(0).collect() == []


def test_defer_calls_the_factory_per_subscriber_and_fails_the_stream_if_it_raises() -> None:
    calls: list[int] = []

    def factory() -> rxspike.Flowable[int]:
        calls.append(1)
        return rxspike.just(len(calls))

    flow = rxspike.defer(factory)
    assert flow.collect() == [1]
    assert flow.collect() == [2]

    def broken() -> rxspike.Flowable[int]:
        raise LookupError("no source")

    result = _record(rxspike.defer(broken))
    assert isinstance(result["errors"][0], LookupError)

    result = _record(rxspike.defer(lambda: [1, 2]))  # type: ignore[arg-type, return-value]
    assert isinstance(result["errors"][0], TypeError)
    assert "must return a Flowable" in str(result["errors"][0])


class _Resource:
    def __init__(self) -> None:
        self.closed = 0
        self.reads = 0


def _reader(limit: int) -> Any:
    def step(resource: _Resource, sink: GenerateSink[int]) -> _Resource:
        if resource.reads == limit:
            sink.complete()
        else:
            sink.next(resource.reads)
            resource.reads += 1
        return resource

    return step


def _close(resource: _Resource) -> None:
    resource.closed += 1


@pytest.mark.parametrize("ending", ["complete", "cancel", "error"])
def test_generate_cleans_up_its_state_exactly_once(ending: str) -> None:
    resources: list[_Resource] = []

    def initial() -> _Resource:
        resources.append(_Resource())
        return resources[-1]

    step = _reader(3)
    if ending == "error":

        def step(resource: _Resource, sink: GenerateSink[int]) -> _Resource:
            raise ConnectionError("read failed")

    result = _record(rxspike.generate(initial, step, _close))
    assert resources == [], "state created before anything was requested"
    result["subscriber"].request(2)
    if ending == "cancel":
        result["subscriber"].cancel()
        result["subscriber"].cancel()
    else:
        result["subscriber"].request(10)
    assert len(resources) == 1
    assert resources[0].closed == 1
    if ending == "complete":
        assert result["items"] == [0, 1, 2]
        assert result["completed"] == 1
    if ending == "error":
        assert isinstance(result["errors"][0], ConnectionError)


def test_generate_step_emitting_twice_fails_the_stream() -> None:
    def twice(state: int, sink: GenerateSink[int]) -> int:
        sink.next(1)
        sink.next(2)
        return state

    result = _record(rxspike.generate(lambda: 0, twice), request=5)
    assert isinstance(result["errors"][0], ProtocolViolationError)
    assert "twice" in str(result["errors"][0])


def test_generator_finally_runs_when_the_stream_completes_or_is_cancelled() -> None:
    seen = Spy()
    assert rxspike.from_iterable(counting(seen, 3)).collect() == [0, 1, 2]
    assert seen.finalized == 1
    result = _record(rxspike.from_iterable(counting(seen)), request=5)
    result["subscriber"].cancel()
    assert seen.finalized == 2


def test_a_subscribe_function_that_raises_fails_the_subscriber() -> None:
    def broken(subscriber: rxspike.Subscriber[int]) -> None:
        raise MemoryError("no room")

    result = _record(rxspike.Flowable(broken))
    assert [type(e) for e in result["errors"]] == [MemoryError]
