"""reports/FINDINGS.md quotes the committed reference run, and only it.

Each results table in FINDINGS.md follows a ``<!-- table: SCENARIO KIND -->`` marker and must
be exactly what the report writer renders from ``reports/reference/metrics.json``. Measured
numbers in the prose (MiB, MB/s, ms, items/s, and ratios like ``12x``) must appear in those
tables or in the scenarios' own settings, so a rerun of the reference cannot leave stale
numbers behind. (Code blocks are exempt: they show settings, not results.)

A difference between approaches may be claimed only where the ranges of the repeated timing
passes do not overlap: every paragraph that compares (faster, cheaper, less CPU, ...) carries
a ``<!-- claim: SCENARIO METRIC A < B -->`` marker (or ``>``), and every marker must hold in
the reference run with the ranges apart.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rxspike.demo.names import APPROACHES
from rxspike.harness.conclusions import separated, span
from rxspike.harness.report import kinds, read_tables, render_marked, render_sweep_table
from rxspike.harness.scenario import PEERS, REDIS, load_scenarios

ROOT = Path(__file__).resolve().parents[1]
FINDINGS = ROOT / "reports" / "FINDINGS.md"
REFERENCE = ROOT / "reports" / "reference"
MEASURED = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s?(MiB|KiB|MB/s|ms|us|items/s|x)(?![\w/])")


@pytest.fixture(scope="module")
def metrics() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REFERENCE / "metrics.json").read_text())
    return data


@pytest.fixture(scope="module")
def findings() -> str:
    return FINDINGS.read_text()


def test_the_reference_run_is_committed_complete(metrics: dict[str, Any]) -> None:
    assert not metrics["quick"]
    assert metrics["schema"] >= 2 and metrics["settings"]["min_pass_s"] >= 2.0
    shipped = {s.name: s for s in load_scenarios() if not s.soak}
    assert set(metrics["scenarios"]) == set(shipped)
    report = (REFERENCE / "REPORT.md").read_text()
    assert "## What this run says" in report
    peers_seen: set[str] = set()
    for name, scenario in metrics["scenarios"].items():
        assert f"(`{name}`)" in report
        approaches = {v["approach"] for v in scenario["variants"].values()}
        assert approaches == set(shipped[name].approaches), name
        assert approaches <= {*APPROACHES, *PEERS, REDIS}
        peers_seen |= approaches & set(PEERS)
        behaviour = scenario["spec"].get("repeats", 0)
        for entry in scenario["variants"].values():
            assert entry["timing"]["repeats"] >= (behaviour or 5)
            assert ("memory" in entry) == scenario["spec"].get("memory", True), name
            if not behaviour:  # a ranking needs passes long enough to time
                assert entry["timing"]["duration_s"] >= 2.0, name
    assert peers_seen == set(PEERS)
    for png in (REFERENCE / "plots").glob("*.png"):
        assert png.read_bytes().startswith(b"\x89PNG")


def test_only_the_small_files_of_the_reference_are_committed() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "reports/reference"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "reports/reference/metrics.json" in listed
    assert "reports/reference/REPORT.md" in listed
    assert all(not name.endswith((".bin", ".html")) for name in listed), listed


def test_every_table_matches_the_reference_metrics(findings: str, metrics: dict[str, Any]) -> None:
    tables = read_tables(findings)
    assert len(tables) >= 7
    for (scenario, kind), table in tables.items():
        assert kind in kinds(), kind
        assert kind in ("matrix", "loc") or scenario in metrics["scenarios"], scenario
        assert table == render_marked(metrics, scenario, kind), (scenario, kind)


def _allowed(metrics: dict[str, Any]) -> set[float]:
    """Every number a FINDINGS table shows, and every number of the scenarios' settings."""
    allowed: set[float] = set()
    texts = []
    for name, scenario in metrics["scenarios"].items():
        texts += [
            render_marked(metrics, name, kind)
            for kind in ("timing", "cost", "memory", "accounting")
        ]
        texts.append(render_sweep_table(scenario) or "")
        spec = scenario["spec"]
        settings = (
            spec["stream"],
            spec["clients"],
            spec["sweep"]["clients"],
            spec.get("workers", {}),
        )
        for values in settings:
            allowed.update(float(v) for v in values.values() if isinstance(v, int | float))
        allowed.update(float(c) for c in spec["sweep"]["count"])
    if "matrix" in metrics:
        texts.append(render_marked(metrics, "errors", "matrix"))
    texts.append(render_marked(metrics, "dx", "loc"))
    for text in texts:
        allowed.update(float(n) for n in re.findall(r"\d+(?:\.\d+)?", text))
    return allowed


def test_measured_numbers_in_the_prose_come_from_the_reference(
    findings: str, metrics: dict[str, Any]
) -> None:
    prose = re.sub(r"```.*?```", "", findings, flags=re.S)
    for table in read_tables(findings).values():  # checked above, cell by cell
        prose = prose.replace(table, "")
    allowed = _allowed(metrics)
    stray = [
        f"{number}{unit}"
        for number, unit in MEASURED.findall(prose)
        if float(number.replace(",", "")) not in allowed
    ]
    assert not stray, f"numbers not in the reference tables or settings: {stray}"


CLAIM = re.compile(r"<!-- claim: (\S+) (\S+) (\S+) ([<>]) (\S+) -->")
COMPARES = re.compile(
    r"\b(faster|slower|cheaper|costlier|fewer|less (?:CPU|memory)|more (?:CPU|memory)|"
    r"outperform\w*|beats?|ahead of|behind|[0-9.]+x (?:less|more|faster|slower))\b",
    re.I,
)


def test_every_claimed_difference_has_ranges_apart(findings: str, metrics: dict[str, Any]) -> None:
    claims = CLAIM.findall(findings)
    assert claims, "FINDINGS.md claims no measured difference at all"
    for scenario, metric, first, sign, second in claims:
        variants = metrics["scenarios"][scenario]["variants"]
        a, b = span(variants[first], metric), span(variants[second], metric)
        low, high = (a, b) if sign == "<" else (b, a)
        assert separated(low, high), (scenario, metric, first, sign, second, a, b)


def test_every_comparing_paragraph_names_its_claim(findings: str) -> None:
    prose = re.sub(r"```.*?```", "", findings, flags=re.S)
    bare = [
        paragraph.strip()[:120]
        for paragraph in re.split(r"\n\s*\n|\n(?=- )", prose)
        if not paragraph.lstrip().startswith("|")
        and COMPARES.search(paragraph)
        and not CLAIM.search(paragraph)
        and "overlap" not in paragraph
    ]
    assert not bare, f"comparisons without a claim marker (or an 'overlap' caveat): {bare}"
