"""The examples in docs/operators.md run, and print what the page says they print."""

from __future__ import annotations

import doctest
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import reactivex
import reactivex.operators as ops
from reactivex.scheduler import ImmediateScheduler

from rxspike.core._families import Family, classify

PAGE = Path(__file__).resolve().parent.parent / "docs" / "operators.md"


def test_operators_page_examples_run() -> None:
    result = doctest.testfile(
        str(PAGE),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.attempted > 20
    assert result.failed == 0


def _table_rows() -> dict[str, str]:
    rows = {}
    for line in PAGE.read_text().splitlines():
        match = re.match(r"\| `(\w+)` \| ([^|]+) \|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
    return rows


def test_the_operator_table_covers_every_reactivex_operator() -> None:
    public = {
        name
        for name, value in vars(ops).items()
        if inspect.isfunction(value)
        and value.__module__ == "reactivex.operators"
        and not name.startswith("_")
        and name[0].islower()
    }
    rows = _table_rows()
    assert public <= set(rows), f"missing from docs/operators.md: {sorted(public - set(rows))}"


_LABELS = {
    Family.FUSED: "fused as it is",
    Family.MULTIPLIES: "fused, bounded (multiplies)",
    Family.EMITS_LATER: "fused, paced (emits later)",
    Family.EMITS_SETTLED: "fused, paced (emits later)",
    Family.REFUSED: "refused",
}


@pytest.mark.parametrize(
    ("name", "operator"),
    [
        ("map", ops.map(str)),
        ("take_until", ops.take_until(reactivex.never())),
        ("flat_map", ops.flat_map(reactivex.of)),
        ("concat_map", ops.concat_map(reactivex.of)),
        ("switch_map", ops.switch_map(reactivex.of)),
        ("observe_on", ops.observe_on(ImmediateScheduler())),
        ("throttle_with_timeout", ops.throttle_with_timeout(1.0)),
        ("buffer_with_time", ops.buffer_with_time(1.0)),
        ("merge", ops.merge(reactivex.never())),
        ("share", ops.share()),
        ("finally_action", ops.finally_action(lambda: None)),
    ],
)
def test_the_table_says_what_pipe_does(name: str, operator: Any) -> None:
    families = {kind.family for kind in classify(operator)}
    worst = max(families, key=list(Family).index)
    assert _table_rows()[name] == _LABELS[worst]
