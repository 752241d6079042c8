"""Catch what reaches rxspike's undeliverable-error hook, for the length of a block."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..core.hooks import set_undeliverable_hook


class UndeliverableErrors:
    """The errors the undeliverable hook received while :func:`capture_undeliverable` was
    active, in order; safe to read while other threads report."""

    __slots__ = ("_errors", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: list[BaseException] = []

    def _append(self, error: BaseException) -> None:
        with self._lock:
            self._errors.append(error)

    @property
    def errors(self) -> list[BaseException]:
        """A copy of what was reported so far."""
        with self._lock:
            return list(self._errors)

    def of_type(self, kind: type[BaseException]) -> list[BaseException]:
        """The reported errors that are instances of ``kind``."""
        return [error for error in self.errors if isinstance(error, kind)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._errors)

    def __repr__(self) -> str:
        return f"UndeliverableErrors({self.errors!r})"


@contextmanager
def capture_undeliverable() -> Iterator[UndeliverableErrors]:
    """Record every error sent to the undeliverable hook inside the block (instead of logging
    it); the previous hook is restored on exit.

    The hook is process-wide, so errors reported by other threads during the block are
    captured too.

    >>> from rxspike import report_undeliverable
    >>> with capture_undeliverable() as seen:
    ...     report_undeliverable(RuntimeError("late"))
    >>> seen.errors
    [RuntimeError('late')]
    """
    captured = UndeliverableErrors()
    previous = set_undeliverable_hook(captured._append)
    try:
        yield captured
    finally:
        set_undeliverable_hook(previous)
