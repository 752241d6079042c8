"""The scenario files, their model, the frame parsers, the plan and the report writer.

Nothing here starts a server: see ``test_harness_run.py`` for the real runs.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rxspike.cli import main
from rxspike.harness import ScenarioError, load_scenario, load_scenarios
from rxspike.harness._frames import BytesFrames, NdjsonFrames, SseFrames
from rxspike.harness.loadgen import ClientRecord
from rxspike.harness.report import (
    read_tables,
    refresh_tables,
    render_marked,
    update_latest,
    write_report,
)
from rxspike.harness.runner import RunConfig, plan
from rxspike.harness.scenario import ALL_APPROACHES, BUILTIN, PEERS, Scenario, Variant, select

SCENARIOS = BUILTIN
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def scenarios() -> dict[str, Scenario]:
    return {s.name: s for s in load_scenarios(SCENARIOS)}


def test_the_workloads_are_declared(scenarios: dict[str, Scenario]) -> None:
    assert set(scenarios) == {
        "llm-tokens",
        "many-slow-streams",
        "firehose-slow-reader",
        "large-export",
        "bursty-events",
        "many-clients",
        "disconnects",
        "failing-source",
        "resume",
        "workers-redis",
        "soak",
    }
    workers = scenarios["workers-redis"]
    assert workers.workers.count >= 2 and workers.workers.kill_after_s > 0
    assert workers.clients.resume and workers.approaches == ("redis",)
    slow = scenarios["many-slow-streams"]
    assert slow.clients.count >= 300 and slow.stream.nominal_items_per_s == 50
    resume = scenarios["resume"]
    assert resume.clients.resume and 0 < resume.stream.drop_after < resume.stream.count
    assert resume.stream.query("pull")["drop_after"] == str(resume.stream.drop_after)
    soak = scenarios["soak"]
    assert soak.soak and soak.clients.run_for_s >= 600
    llm = scenarios["llm-tokens"]
    assert llm.stream.size <= 64 and llm.stream.interval_ms >= 10 and llm.clients.count >= 50
    firehose = scenarios["firehose-slow-reader"]
    assert firehose.clients.read_items_per_s(firehose.stream) < 200
    assert firehose.stream.interval_ms == 0  # a producer that does not wait for anyone
    export = scenarios["large-export"]
    assert export.stream.size == 64 * 1024
    assert export.sweep_counts and min(export.sweep_counts) * 10 <= export.stream.count
    assert export.quick().sweep_counts == (32, 320)
    assert export.sweep_pass(64).clients.count == 1
    assert export.sweep_pass(64).clients.read_items_per_s(export.stream) < 1000
    assert scenarios["bursty-events"].clients.waves > 1
    assert scenarios["many-clients"].clients.count >= 500
    assert scenarios["disconnects"].clients.disconnecting > 0
    failing = scenarios["failing-source"]
    assert 0 < failing.stream.fail_after < failing.stream.count


def test_scenarios_run_pull_and_the_peers_where_they_apply_and_have_a_quick_version(
    scenarios: dict[str, Scenario],
) -> None:
    for scenario in scenarios.values():
        approaches = {v.approach for v in scenario.variants()}
        assert approaches <= set(ALL_APPROACHES), scenario.name
        if scenario.workers.count == 1:
            assert {"pull", "async-iterator"} <= approaches, scenario.name
        if scenario.stream.format != "sse":
            assert not approaches & set(PEERS), scenario.name
        quick = scenario.quick()
        assert quick.stream.count * quick.clients.count <= (
            scenario.stream.count * scenario.clients.count
        )
        assert quick.clients.count <= 50, scenario.name


def test_push_buffer_runs_once_per_strategy(scenarios: dict[str, Scenario]) -> None:
    labels = [v.label for v in scenarios["firehose-slow-reader"].variants()]
    assert [label for label in labels if label.startswith("push-buffer")] == [
        "push-buffer:drop-oldest"
    ]
    labels = [v.label for v in scenarios["bursty-events"].variants()]
    assert [label for label in labels if label.startswith("push-buffer")] == [
        "push-buffer:drop-oldest",
        "push-buffer:error",
    ]
    assert Variant.parse("push-buffer:error") == Variant("push-buffer", "error")
    assert Variant("push-buffer", "error").matches("push-buffer")
    assert not Variant("pull").matches("push")


def test_query_carries_the_approach_and_only_the_relevant_knobs(
    scenarios: dict[str, Scenario],
) -> None:
    bursty = scenarios["bursty-events"].stream
    assert bursty.query("push-buffer", "error")["capacity"] == "256"
    assert "capacity" not in bursty.query("pull")
    assert scenarios["failing-source"].stream.query("pull")["fail_after"] == "100"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[stream]\nformat = 'xml'\n", "stream.format must be one of"),
        ("[stream]\ncolor = 1\n", "unknown key stream.color"),
        ("[stream]\ncount = 'many'\n", "stream.count must be int"),
        ("[clients]\ncount = 0\n", "clients.count must be at least 1"),
        ("[approaches]\nrun = ['poll']\n", "approaches.run has 'poll'"),
        (
            "[stream]\nformat = 'ndjson'\n[approaches]\nrun = ['aiohttp-sse']\n",
            "the peer 'aiohttp-sse', which speaks SSE only",
        ),
        ("description = '{clients.colour} clients'\n", "description has a bad placeholder"),
        ("[clients]\nresume = true\n", "clients.resume needs stream.drop_after > 0"),
        ("soak = 'yes'\n", "soak must be true or false"),
        ("[clients]\nread_rate = 0.5\n", "stream.interval_ms must be > 0"),
        ("[stream\n", "not valid TOML"),
    ],
)
def test_a_bad_scenario_file_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message) as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)


def test_descriptions_describe_the_workload_that_runs(scenarios: dict[str, Scenario]) -> None:
    """A --quick report must not say "100 concurrent clients" over a 10-client workload."""
    llm = scenarios["llm-tokens"]
    assert "100 concurrent clients" in llm.prose
    quick = llm.quick()
    assert quick.clients.count == 10
    assert "10 concurrent clients" in quick.prose and "100 concurrent" not in quick.prose
    for scenario in scenarios.values():
        for version in (scenario, scenario.quick()):
            assert "{" not in version.prose and version.prose, scenario.name
            assert f"{version.clients.count} " in version.prose, scenario.name


def test_soaks_run_only_when_asked(scenarios: dict[str, Scenario]) -> None:
    pool = list(scenarios.values())
    assert "soak" not in {s.name for s in select(pool, [])}
    assert [s.name for s in select(pool, [], soak=True)] == ["soak"]
    assert [s.name for s in select(pool, ["soak"])] == ["soak"]


def test_frames_survive_any_split() -> None:
    ndjson = b"".join(b'{"seq":%d,"data":"%d xx"}\n' % (i, i) for i in range(50))
    sse = b"".join(b"id: %d\ndata: %d xx\n\n" % (i, i) for i in range(50))
    raw = b"".join(i.to_bytes(8, "big") + b"y" * 24 for i in range(50))
    for frames, body in ((NdjsonFrames(), ndjson), (SseFrames(), sse), (BytesFrames(32), raw)):
        seqs: list[int] = []
        for start in range(0, len(body), 7):
            seqs += frames.feed(body[start : start + 7])
        assert seqs == list(range(50))
        assert frames.errors == [] and frames.pending == 0


def test_in_band_errors_are_collected_not_counted() -> None:
    ndjson = NdjsonFrames()
    assert ndjson.feed(b'{"seq":0,"data":"0 x"}\n{"error":{"error":"boom","status":500}}\n') == [0]
    assert ndjson.errors and "boom" in ndjson.errors[0]
    sse = SseFrames()
    assert sse.feed(b'id: 0\ndata: 0 x\n\nevent: error\ndata: {"error":"boom"}\n\n') == [0]
    assert len(sse.errors) == 1
    assert sse.feed(b'id: 1\ndata: 1 x\n\nevent: stream-error\ndata: {"error":"boom"}\n\n') == [1]
    assert len(sse.errors) == 2
    redis = SseFrames()  # a Redis entry id: the sequence number is the payload's
    assert redis.feed(b"id: 1700000000000-3\ndata: 7 xxxx\n\n") == [7]
    assert redis.last_id == "1700000000000-3"


def test_client_accounting() -> None:
    record = ClientRecord(index=0, role="full", client_id="c", end="complete")
    record.distinct, record.max_seq = 98, 99
    assert record.accounting(100)["missing"] == 2
    record.end = "left"
    assert record.accounting(100) == {
        "expected": 100,
        "delivered": 98,
        "missing": 2,
        "out_of_order": 0,
    }
    record.max_seq = 49
    assert record.accounting(100)["expected"] == 50


def test_plan_counts_every_step(scenarios: dict[str, Scenario], tmp_path: Path) -> None:
    config = RunConfig([scenarios["large-export"]], tmp_path, approaches=["pull"])
    kinds = [step.kind for step in plan(config)]
    assert kinds == ["timing"] * 5 + ["memory", "sweep", "sweep", "matrix", "flamegraph", "report"]
    assert config.pass_seconds >= 2.0
    behaviour = RunConfig([scenarios["disconnects"]], tmp_path, approaches=["pull"])
    assert [step.kind for step in plan(behaviour)].count("timing") == 2
    quick = RunConfig([scenarios["llm-tokens"]], tmp_path, quick=True, memory=False)
    assert [step.kind for step in plan(quick)] == ["timing"] * 5 + ["report"]
    # --quick renders no flamegraph unless asked for one.
    small = RunConfig([scenarios["large-export"]], tmp_path, approaches=["pull"], quick=True)
    assert "flamegraph" not in [step.kind for step in plan(small)]
    asked = RunConfig(
        [scenarios["large-export"]], tmp_path, approaches=["pull"], quick=True, flamegraphs=True
    )
    assert "flamegraph" in [step.kind for step in plan(asked)]
    soak = RunConfig([scenarios["soak"]], tmp_path, soak_s=30.0)
    assert [step.kind for step in plan(soak)] == ["soak"] * 3 + ["report"]
    assert soak.prepared()[0].clients.run_for_s == 30.0


def _fake_metrics() -> dict[str, Any]:
    timing = {
        "repeats": 1,
        "items_per_s": 1000.0,
        "mb_per_s": 1.5,
        "ttfb_p50_ms": 1.0,
        "ttfb_p99_ms": 2.0,
        "gap_p50_ms": 1.0,
        "gap_p99_ms": 3.0,
        "lag_p50_ms": 0.1,
        "lag_p99_ms": 0.9,
        "duration_s": 1.0,
        "cpu_us_per_item": 2.5,
        "rss_peak_mib": 40.0,
        "rss_growth_mib": 0.5,
        "rss_per_stream_kib": 12.0,
        "ranges": {"items_per_s": [900.0, 1100.0], "cpu_us_per_item": [2.0, 3.0]},
    }
    accounting = {
        "passes": 2,
        "expected": 10,
        "delivered": 10,
        "missing": 0,
        "out_of_order": 0,
        "dropped": 0,
        "lost": 0,
        "streams": 2,
        "left": 1,
        "cleaned": 1,
        "handlers_ended": 2,
        "finalized": 2,
        "cleanup_p50_ms": 3.0,
        "cleanup_max_ms": 4.0,
        "ends": {"complete": 1, "left": 1},
        "errors": {},
    }
    memory = {
        "peak_heap_mib": 1.0,
        "baseline_heap_mib": 0.5,
        "window_peak_heap_mib": 1.0,
        "heap_growth_mib": 0.5,
        "heap_after_mib": 0.5,
        "per_connection_kib": 256.0,
        "peak_rss_mib": 40.0,
        "heap_series": {"t_s": [0.0, 0.5, 1.0], "heap_mib": [0.5, 1.0, 0.6]},
        "flamegraph": None,
        "server_tracebacks": 0,
    }
    variants: dict[str, dict[str, Any]] = {
        label: {"timing": timing, "accounting": accounting, "memory": memory}
        for label in ("pull", "push-unbounded")
    }
    variants["pull"]["sweep"] = [
        {"count": 1, "peak_heap_mib": 0.4},
        {"count": 10, "peak_heap_mib": 0.4},
    ]
    variants["push-unbounded"]["sweep"] = [
        {"count": 1, "peak_heap_mib": 0.5},
        {"count": 10, "peak_heap_mib": 5.0},
    ]
    scenario = Scenario.from_dict({"stream": {"count": 10}}, name="demo")
    return {
        "schema": 1,
        "run_id": "test",
        "quick": True,
        "wall_time_s": 1.0,
        "settings": {"timing_repeats": 1},
        "machine": {"python": "3", "platform": "x", "cpus": 2, "packages": {}},
        "scenarios": {
            "demo": {
                "name": "demo",
                "title": "Demo",
                "description": "A demo.",
                "order": 1,
                "spec": scenario.to_dict(),
                "variants": variants,
            }
        },
    }


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def test_report_from_metrics_alone(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(json.dumps(_fake_metrics()))
    written = write_report(tmp_path)
    report = (tmp_path / "REPORT.md").read_text()
    assert "| `pull` | 1000 (900-1100) | 1.50 | 1.0 | 2.0 | 3.0 | 0.9 |" in report
    assert "| `pull` | 2.5 (2.0-3.0) | n/a | 40.0 | 0.50 | 12.0 |" in report
    assert "| `push-unbounded` | 10 / 10 | 0 | 0 | 1/1 in 3/4 ms | 2/2 | - | 0 | 0 |" in report
    assert report.rstrip().endswith("released every source and logged no traceback.")
    assert "| `pull` | 1.00 | 0.50 | 256.0 | 0.50 |" in report
    pngs = [path for key, path in written.items() if key.startswith("plot:")]
    assert {p.name for p in pngs} >= {
        "demo-heap.png",
        "demo-throughput.png",
        "demo-cost.png",
        "demo-sweep.png",
        "overview-peak-rss.png",
    }
    for png in pngs:
        assert png.read_bytes().startswith(PNG)
        assert f"]({png.relative_to(tmp_path).as_posix()})" in report
    parser = _Html()
    parser.feed((tmp_path / "index.html").read_text())
    assert parser.tags.count("iframe") == 2 and "select" in parser.tags


def test_marked_tables_round_trip() -> None:
    metrics = _fake_metrics()
    table = render_marked(metrics, "demo", "timing")
    text = f"intro\n\n<!-- table: demo timing -->\n\n{table}\n\nafter"
    assert read_tables(text) == {("demo", "timing"): table}
    sweep = render_marked(metrics, "demo", "sweep")
    assert "| `push-unbounded` | 0.50 | 5.00 | 10.0x |" in sweep


def test_refresh_replaces_stale_tables_and_fills_empty_markers() -> None:
    metrics = _fake_metrics()
    fresh = render_marked(metrics, "demo", "timing")
    text = (
        "# F\n\n<!-- table: demo timing -->\n\n| stale |\n|---|\n\nprose\n\n"
        "<!-- table: demo sweep -->\nmore prose\n"
    )
    refreshed = refresh_tables(text, metrics)
    assert read_tables(refreshed) == {
        ("demo", "timing"): fresh,
        ("demo", "sweep"): render_marked(metrics, "demo", "sweep"),
    }
    assert "prose\n" in refreshed and "more prose" in refreshed and "stale" not in refreshed
    assert refresh_tables(refreshed, metrics) == refreshed


def test_latest_points_at_the_newest_run(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / "runs" / name).mkdir(parents=True)
        latest = update_latest(tmp_path, tmp_path / "runs" / name)
    assert latest.resolve() == (tmp_path / "runs" / "b").resolve()


def test_cli_lists_and_reports(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["scenarios", "list", "--dir", str(SCENARIOS)])
    assert listed.exit_code == 0, listed.output
    assert "bursty-events" in listed.output and "push-buffer:error" in listed.output
    missing = runner.invoke(main, ["scenarios", "run", "nope", "--dir", str(SCENARIOS)])
    assert missing.exit_code != 0 and "unknown scenario 'nope'" in missing.output
    (tmp_path / "metrics.json").write_text(json.dumps(_fake_metrics()))
    redrawn = runner.invoke(main, ["scenarios", "report", str(tmp_path)])
    assert redrawn.exit_code == 0, redrawn.output
    assert (tmp_path / "REPORT.md").is_file()
