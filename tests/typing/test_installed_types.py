"""A user's mypy, outside this repository, sees the installed rxspike and its item types.

``pip install -e .`` in setuptools' default mode installs an import-hook finder that mypy
cannot follow ("Cannot find implementation or library stub for module named 'rxspike'");
the Makefile installs with ``--config-settings editable_mode=compat``, a static path entry,
and README tells users to do the same. This runs the environment's mypy from an empty
directory (no setup.cfg, no source tree on the path) on a two-line program, one line of
which is wrong.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

USER_CODE = """\
import reactivex.operators as ops
import rxspike
from rxspike.operators import take


def label(n: int) -> str:
    return str(n)


good: rxspike.Flowable[str] = rxspike.range_(3).pipe(take(2), ops.map(label))
bad: rxspike.Flowable[int] = rxspike.range_(3).pipe(take(2), ops.map(label))
"""


def test_mypy_outside_the_repository_sees_rxspike_and_its_types(tmp_path: Path) -> None:
    mypy = Path(sys.executable).with_name("mypy")
    if not mypy.exists():
        pytest.fail(f"mypy is not installed next to {sys.executable} (make install)")
    (tmp_path / "user.py").write_text(USER_CODE)
    result = subprocess.run(
        [str(mypy), "--strict", "--no-incremental", "user.py"],
        check=False,  # a type error is the expected outcome, read below
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = result.stdout + result.stderr
    assert "Cannot find implementation or library stub" not in report, report
    assert "user.py:11: error" in report, report  # the wrong line, and only it
    assert "user.py:10" not in report, report
    assert "Found 1 error in 1 file" in report, report
