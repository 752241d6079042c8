"""Helpers for the operator and bridge tests: a subscriber that records every signal."""

from __future__ import annotations

from typing import Any

from rxspike import RequestSubscriber


class Recorder(RequestSubscriber[Any]):
    """A :class:`RequestSubscriber` that records items, ``("error", e)`` and ``"done"``."""

    def __init__(self, initial_request: int = 0) -> None:
        self.events: list[Any] = []
        super().__init__(
            self.events.append,
            lambda e: self.events.append(("error", e)),
            lambda: self.events.append("done"),
            initial_request=initial_request,
        )

    @property
    def items(self) -> list[Any]:
        return [e for e in self.events if e != "done" and not _is_error(e)]

    @property
    def error(self) -> Exception | None:
        errors = [e[1] for e in self.events if _is_error(e)]
        return errors[0] if errors else None


def _is_error(event: Any) -> bool:
    return isinstance(event, tuple) and len(event) == 2 and event[0] == "error"


def at_time(scheduler: Any, at: float, action: Any, *args: Any) -> None:
    """Run ``action(*args)`` at virtual time ``at`` (its result is ignored)."""

    def run(*_: Any) -> None:
        action(*args)

    scheduler.schedule_absolute(at, run)
