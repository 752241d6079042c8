"""The harness as a user installs it: scenarios as package data, the extras checked first.

The wheel test builds the real wheel and installs it, with its dependencies but without the
``harness`` extra, in a fresh virtual environment (slow: it installs packages).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from rxspike.cli import main
from rxspike.harness.requirements import INSTALL, MissingExtra, check, needed

ROOT = Path(__file__).resolve().parents[1]


def test_a_missing_extra_stops_the_run_before_any_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "memray", None)  # what an install without the extra has
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main, ["scenarios", "run", "failing-source", "--quick", "--out", str(out)]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: memray not installed: {INSTALL}"]
    assert not out.exists()  # nothing ran, nothing written


def test_the_peers_need_their_libraries_and_timing_alone_needs_no_memray(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert needed(memory=False, plots=False, approaches=["pull"]) == []
    assert needed(memory=True, plots=True, approaches=["sse-starlette"]) == [
        "memray",
        "matplotlib",
        "sse_starlette",
        "starlette",
        "uvicorn",
    ]
    monkeypatch.setitem(sys.modules, "aiohttp_sse", None)
    with pytest.raises(MissingExtra, match=r"^aiohttp_sse not installed: pip install"):
        check(memory=False, plots=False, approaches=["pull", "aiohttp-sse"])
    check(memory=False, plots=False, approaches=["pull", "aiohttp-handler"])


@pytest.mark.slow
def test_an_installed_wheel_lists_its_scenarios(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)],
        check=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("rxspike-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "rxspike/harness/scenarios/llm-tokens.toml" in names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=600)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    listed = subprocess.run(
        [str(venv / "bin" / "rxspike"), "scenarios", "list"],
        capture_output=True,
        check=False,
        text=True,
        cwd=tmp_path,  # no scenarios/ here: they must come from the package
        env=env,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert "llm-tokens" in listed.stdout and "many-slow-streams" in listed.stdout
    # Without the harness extra, a run stops at once with the install command.
    run = subprocess.run(
        [str(venv / "bin" / "rxspike"), "scenarios", "run", "--quick"],
        capture_output=True,
        check=False,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].endswith(INSTALL), run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "reports").exists()
