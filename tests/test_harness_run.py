"""Quick scenarios against the real demo server, asserting what reports/FINDINGS.md claims.

Every run here uses the scenario files' ``[quick]`` versions, a server process on 127.0.0.1
and the load generator in its own process, as ``make scenarios`` does. The assertions are
relationships with wide margins, never absolute timings: this machine is shared and noisy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rxspike.cli import main
from rxspike.harness import load_scenarios
from rxspike.harness.runner import RunConfig, Runner
from rxspike.harness.scenario import BUILTIN

pytest.importorskip("memray")

SCENARIOS = BUILTIN
PNG = b"\x89PNG\r\n\x1a\n"
ALL = ("pull", "push-buffer", "push-throttle", "push-unbounded", "async-iterator")


def _run(
    tmp: Path, names: Sequence[str], approaches: Sequence[str], *, memory: bool
) -> Mapping[str, Any]:
    chosen = [s for s in load_scenarios(SCENARIOS) if s.name in names]
    config = RunConfig(
        chosen, tmp, approaches=approaches, quick=True, memory=memory, flamegraphs=False
    )
    metrics: Mapping[str, Any] = Runner(config).run()["scenarios"]
    return metrics


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, Any]:
    out = tmp_path_factory.mktemp("export")
    variants: Mapping[str, Any] = _run(
        out, ["large-export"], ["pull", "push-unbounded"], memory=True
    )["large-export"]["variants"]
    return variants


@pytest.fixture(scope="module")
def firehose(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, Any]:
    out = tmp_path_factory.mktemp("firehose")
    approaches = ["pull", "push-buffer:drop-oldest", "push-unbounded"]
    variants: Mapping[str, Any] = _run(out, ["firehose-slow-reader"], approaches, memory=True)[
        "firehose-slow-reader"
    ]["variants"]
    return variants


@pytest.fixture(scope="module")
def behaviour(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, Any]:
    out = tmp_path_factory.mktemp("behaviour")
    return _run(out, ["disconnects", "failing-source"], ALL, memory=False)


#: pymalloc takes memory from the system in 1 MiB arenas, and memray sees arenas: a heap
#: below one arena is as good as one arena.
ARENA_MIB = 1.0


def _peaks(entry: Mapping[str, Any]) -> tuple[float, float]:
    """Peak heap at the shortest and the longest stream of the sweep."""
    points = sorted(entry["sweep"], key=lambda point: point["count"])
    assert [p["count"] for p in points] == [32, 320]  # the quick sweep: 10x longer
    return points[0]["peak_heap_mib"], points[-1]["peak_heap_mib"]


def test_pull_heap_stays_flat_as_the_stream_grows_while_unbounded_grows(
    export: Mapping[str, Any],
) -> None:
    short, long = _peaks(export["pull"])
    assert long <= 2 * max(short, ARENA_MIB), (short, long)
    short, long = _peaks(export["push-unbounded"])
    assert long > 3 * max(short, ARENA_MIB), (short, long)
    assert _peaks(export["push-unbounded"])[1] > 3 * _peaks(export["pull"])[1]


def test_the_export_arrives_whole_and_in_order(export: Mapping[str, Any]) -> None:
    for entry in export.values():
        accounting = entry["accounting"]
        assert accounting["delivered"] == accounting["expected"] > 0
        assert accounting["missing"] == accounting["out_of_order"] == accounting["lost"] == 0
        assert entry["timing"]["mb_per_s"] > 0


def test_a_slow_reader_holds_push_memory_but_not_pull_memory(
    firehose: Mapping[str, Any],
) -> None:
    pull = firehose["pull"]["memory"]["heap_growth_mib"]
    unbounded = firehose["push-unbounded"]["memory"]["heap_growth_mib"]
    assert unbounded > 3 * pull, (pull, unbounded)


def test_slow_readers_really_read_slowly(firehose: Mapping[str, Any]) -> None:
    # 2 clients at 0.4 MB/s of 4 KiB items: about 195 items/s together, never much more.
    for entry in firehose.values():
        assert 50 <= entry["timing"]["items_per_s"] <= 260, entry["timing"]


def test_accounting_is_exact_and_drops_are_the_servers(firehose: Mapping[str, Any]) -> None:
    for label, entry in firehose.items():
        accounting = entry["accounting"]
        assert accounting["lost"] == 0 and accounting["out_of_order"] == 0, label
    for label in ("pull", "push-unbounded"):
        accounting = firehose[label]["accounting"]
        # The whole stream takes far longer than 2.5 s at the readers' pace: everyone left.
        assert accounting["left"] == accounting["streams"], label
        assert accounting["dropped"] == accounting["missing"] == 0, label
    # A design that drops may finish before its readers leave (what it dropped it need not
    # send), so only its drops are checked.
    dropping = firehose["push-buffer:drop-oldest"]["accounting"]
    assert dropping["dropped"] > 0
    assert dropping["missing"] <= dropping["dropped"]


def test_finalizers_ran_after_every_disconnect(behaviour: Mapping[str, Any]) -> None:
    variants = behaviour["disconnects"]["variants"]
    named = behaviour["disconnects"]["spec"]["approaches"]["run"]
    assert {v["approach"] for v in variants.values()} == set(ALL) & set(named)
    for label, entry in variants.items():
        accounting = entry["accounting"]
        assert accounting["left"] == 7, label  # 70 % of the 10 quick clients
        assert accounting["cleaned"] == accounting["left"], label
        assert accounting["finalized"] == accounting["streams"] == 10, label
        assert accounting["lost"] == 0 and accounting["missing"] == 0, label


def test_an_idle_disconnect_is_noticed_before_the_next_item_only_with_a_watcher(
    behaviour: Mapping[str, Any],
) -> None:
    variants = behaviour["disconnects"]["variants"]
    naive = variants["push-unbounded"]["accounting"]["cleanup_p50_ms"]
    for label in ("pull", "push-buffer:drop-oldest", "async-iterator"):
        watched = variants[label]["accounting"]["cleanup_max_ms"]
        assert watched < naive, (label, watched, naive)


def test_a_failing_source_delivers_what_it_made_then_an_error(
    behaviour: Mapping[str, Any],
) -> None:
    scenario = behaviour["failing-source"]
    fail_after = scenario["spec"]["stream"]["fail_after"]
    clients = scenario["spec"]["clients"]["count"]
    for label, entry in scenario["variants"].items():
        accounting = entry["accounting"]
        assert accounting["delivered"] == accounting["expected"] == fail_after * clients, label
        assert sum(accounting["errors"].values()) == clients, label  # every client saw it
        assert accounting["finalized"] == clients, label
        frames = accounting["error_frames"]
        assert frames == (0 if label == "push-unbounded" else clients), label


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.remote_scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        src = dict(attrs).get("src") or ""
        if tag == "script" and re.match(r"https?://", src):
            self.remote_scripts.append(src)


def test_the_cli_writes_a_complete_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "scenarios",
            "run",
            "failing-source",
            "--quick",
            "--approach",
            "pull",
            "--approach",
            "push-unbounded",
            "--out",
            str(out),
            "--dir",
            str(SCENARIOS),
            "--flamegraphs",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "[7/7]" in result.output  # one progress line per step (not a terminal here)
    metrics = json.loads((out / "metrics.json").read_text())
    variants = metrics["scenarios"]["failing-source"]["variants"]
    assert set(variants) == {"pull", "push-unbounded"}
    report = (out / "REPORT.md").read_text()
    assert "## Source failing mid-stream (`failing-source`)" in report
    for entry in variants.values():
        for key in ("flamegraph", "flamegraph_temporal"):
            page = _Page()
            page.feed((out / entry["memory"][key]).read_text())
            assert "script" in page.tags and not page.remote_scripts  # self-contained
        assert entry["memory"]["peak_heap_mib"] > 0
    # The writer ends a failed stream with an error frame; the demo's naive bridge logs one
    # warning line and cuts the connection: neither logs a traceback.
    assert variants["pull"]["memory"]["server_tracebacks"] == 0
    assert variants["push-unbounded"]["memory"]["server_tracebacks"] == 0
    assert variants["pull"]["accounting"]["error_frames"] > 0
    assert variants["push-unbounded"]["accounting"]["error_frames"] == 0
    pngs = sorted((out / "plots").glob("*.png"))
    assert pngs and all(p.read_bytes().startswith(PNG) for p in pngs)
    index = _Page()
    index.feed((out / "index.html").read_text())
    assert index.tags.count("iframe") == 2
    assert not list(out.glob("memray/*.html"))


def test_a_quick_run_is_small_and_says_what_it_shows(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["scenarios", "run", "failing-source", "--quick", "--approach", "pull", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    files = [p for p in out.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in (".bin", ".html") and p.name != "index.html"]
    assert sum(p.stat().st_size for p in files) < 20 * 2**20
    report = (out / "REPORT.md").read_text()
    assert "5 clients read an SSE stream" in report  # the quick workload, not the full one
    assert report.rstrip().splitlines()[-1].startswith("- ")
    assert "## What this run says" in report and "ranks nothing" in report


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, Any]:
    out = tmp_path_factory.mktemp("peers")
    chosen = ["pull", "aiohttp-handler", "aiohttp-sse", "sse-starlette"]
    return _run(out, ["disconnects", "failing-source"], chosen, memory=True)


def test_peers_serve_the_same_items_to_the_same_load_generator(
    peers: Mapping[str, Any],
) -> None:
    for scenario in peers.values():
        for label, entry in scenario["variants"].items():
            accounting = entry["accounting"]
            assert accounting["delivered"] == accounting["expected"] > 0, label
            assert accounting["lost"] == 0 and accounting["out_of_order"] == 0, label
            assert accounting["finalized"] == accounting["streams"], label
            assert entry["timing"]["cpu_us_per_item"] > 0, label


def test_who_notices_an_idle_disconnect(peers: Mapping[str, Any]) -> None:
    """aiohttp does not cancel an idle handler: aiohttp-sse finds out at its next write (the
    stream's next item, 1 s later); the hand-written handler's watcher and rxspike's find
    out within their 250 ms poll; sse-starlette listens for http.disconnect."""
    variants = peers["disconnects"]["variants"]
    interval = peers["disconnects"]["spec"]["stream"]["interval_ms"]
    cleanup = {label: e["accounting"]["cleanup_max_ms"] for label, e in variants.items()}
    assert cleanup["aiohttp-sse"] > 0.8 * interval, cleanup
    for label in ("pull", "aiohttp-handler", "sse-starlette"):
        assert cleanup[label] < 0.6 * interval, cleanup


def test_how_a_failure_after_the_headers_reaches_the_client(peers: Mapping[str, Any]) -> None:
    """An error frame (rxspike, the hand-written handler) or only a truncated response and
    a server traceback (aiohttp-sse, sse-starlette)."""
    variants = peers["failing-source"]["variants"]
    clients = peers["failing-source"]["spec"]["clients"]["count"]
    passes = variants["pull"]["accounting"]["passes"]  # one timing and one tracked pass
    for label in ("pull", "aiohttp-handler"):
        assert variants[label]["accounting"]["error_frames"] == clients * passes, label
        assert variants[label]["memory"]["server_tracebacks"] == 0, label
    for label in ("aiohttp-sse", "sse-starlette"):
        accounting = variants[label]["accounting"]
        assert accounting["error_frames"] == 0, label
        assert variants[label]["memory"]["server_tracebacks"] == clients, label
        assert accounting["errors"] == {"ClientPayloadError": clients * passes}, label


def test_a_killed_worker_costs_its_clients_a_reconnect_and_nothing_else(tmp_path: Path) -> None:
    """Two workers on one redis-server, one SIGKILLed mid-pass: its clients reconnect to the
    other with Last-Event-ID and every client gets every entry once."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    variants = _run(tmp_path, ["workers-redis"], ["redis"], memory=False)["workers-redis"]
    entry = variants["variants"]["redis"]
    accounting = entry["accounting"]
    clients = variants["spec"]["clients"]["count"]
    assert accounting["expected"] == clients * variants["spec"]["stream"]["count"]
    assert accounting["delivered"] == accounting["expected"]
    assert accounting["missing"] == accounting["out_of_order"] == 0  # no gap, no duplicate
    assert clients // 2 <= accounting["reconnects"] <= clients  # the killed worker's clients
    assert accounting["ends"] == {"complete": clients}


@pytest.mark.slow
def test_a_quick_run_of_everything_is_complete(tmp_path: Path) -> None:
    """What ``make scenarios`` produces, at ``--quick`` size: every scenario, every approach."""
    out = tmp_path / "all"
    result = CliRunner().invoke(
        main,
        [
            "scenarios",
            "run",
            "--quick",
            "--flamegraphs",
            "--out",
            str(out),
            "--dir",
            str(SCENARIOS),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    scenarios = load_scenarios(SCENARIOS)
    assert list(metrics["scenarios"]) == [s.name for s in scenarios if not s.soak]
    report = (out / "REPORT.md").read_text()
    index = (out / "index.html").read_text()
    for scenario in (s for s in scenarios if not s.soak):
        data = metrics["scenarios"][scenario.name]
        assert list(data["variants"]) == [v.label for v in scenario.variants()]
        assert f"(`{scenario.name}`)" in report
        tracked = scenario.memory and scenario.workers.count == 1
        assert (out / "plots" / f"{scenario.name}-heap.png").is_file() == tracked
        for entry in data["variants"].values():
            accounting = entry["accounting"]
            assert accounting["lost"] == 0 and accounting["out_of_order"] == 0
            if accounting["finalized"] is not None:  # the Redis feed has no probe
                assert accounting["finalized"] == accounting["streams"]
            if not tracked:
                continue
            for key in ("flamegraph", "flamegraph_temporal"):
                assert (out / entry["memory"][key]).is_file()
                assert entry["memory"][key] in index
