"""The one place errors go when nobody can receive them.

An error that arrives after a stream was cancelled or terminated, a subscriber callback that
raised, a protocol violation seen after the fact: none of these may be lost silently, and none
may be raised into the producer that happened to be running. They go to the undeliverable hook,
which by default logs them on the ``rxspike`` logger at WARNING level with their traceback.

>>> seen = []
>>> previous = set_undeliverable_hook(seen.append)
>>> report_undeliverable(RuntimeError("late"))
>>> seen
[RuntimeError('late')]
>>> _ = set_undeliverable_hook(previous)
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger("rxspike")

UndeliverableHook = Callable[[BaseException], None]


def _log_undeliverable(error: BaseException) -> None:
    logger.warning("undeliverable error: %r", error, exc_info=error)


_hook: UndeliverableHook = _log_undeliverable


def set_undeliverable_hook(hook: UndeliverableHook | None) -> UndeliverableHook:
    """Install ``hook`` (``None`` restores the logging default); return the previous hook."""
    global _hook
    previous = _hook
    _hook = hook if hook is not None else _log_undeliverable
    return previous


def report_undeliverable(error: BaseException) -> None:
    """Hand ``error`` to the hook; a hook that raises is logged, never propagated."""
    try:
        _hook(error)
    except Exception:  # the hook itself failed: the log is the last resort
        logger.exception("undeliverable-error hook raised while handling %r", error)
