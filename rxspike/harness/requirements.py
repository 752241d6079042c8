"""What a run needs installed, checked before its first pass.

The harness's own dependencies (memray, matplotlib, the peers' libraries) are the
``harness`` extra, not rxspike's: a run that finds one missing stops at once with one line
naming the install command, instead of failing after the timing passes.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterable

from .peers import REQUIRES

#: The command that installs everything a scenario run needs.
INSTALL = "pip install 'rxspike[harness]'"


class MissingExtra(RuntimeError):
    """A module the run needs is not installed; the message names it and the fix."""


def _missing(modules: Iterable[str]) -> list[str]:
    return [name for name in modules if importlib.util.find_spec(name) is None]


def needed(*, memory: bool, plots: bool, approaches: Iterable[str]) -> list[str]:
    """The modules a run with these settings imports beyond rxspike's own."""
    modules: list[str] = []
    if memory:
        modules.append("memray")
    if plots:
        modules.append("matplotlib")
    for approach in approaches:
        modules += [m for m in REQUIRES.get(approach, ()) if m not in modules]
        if approach == "redis" and "redis" not in modules:
            modules.append("redis")  # redis-py, for the demo's Redis-backed feed
    return modules


def check(*, memory: bool, plots: bool, approaches: Iterable[str]) -> None:
    """Raise :class:`MissingExtra` if the run would fail for want of a module.

    >>> check(memory=False, plots=False, approaches=["pull"])
    """
    approaches = list(approaches)
    missing = _missing(needed(memory=memory, plots=plots, approaches=approaches))
    if missing:
        raise MissingExtra(f"{', '.join(missing)} not installed: {INSTALL}")
    if "redis" in approaches and shutil.which("redis-server") is None:
        raise MissingExtra("redis-server not installed: apt-get install redis-server")
