"""The runner: every scenario through every approach, timed untracked and measured tracked.

For each scenario:

1. *timing passes*: one untracked server per program (the demo, each peer), all running
   side by side; each approach runs ``repeats`` times, the approaches interleaved so that
   drift hits them all alike, each pass at least :data:`MIN_PASS_S` long (short workloads
   repeat their crowd of clients); the result is the median and the range of the passes;
2. *memory passes*: per approach, a fresh server under a memray Tracker and one pass; the
   capture gives the peak heap, the heap over time and the flamegraphs;
3. *sweep passes* (if the scenario has ``[sweep]``): more tracked passes at other stream
   lengths, for the peak-heap-versus-length comparison.

A *soak* scenario (``soak = true``, run only by ``--soak``) is one long untracked pass per
approach instead, with the server's RSS, allocated blocks, file descriptors and tasks
sampled over time.

The load generator is a third process (:mod:`rxspike.harness.worker`). Then the runner
renders the flamegraphs (if asked), writes ``metrics.json`` and hands over to the report
writer.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .memory import read_profile, render_flamegraph
from .passes import combine_accounting, combine_timing
from .peers import APPS as PEER_APPS
from .processes import ServerProcess, WorkerProcess
from .report import approach_sources
from .scenario import DEFAULT_OVERFLOW, Scenario, Variant
from .server import DEFAULT_APP

#: Version of the metrics.json layout (2: peers, CPU and RSS per pass, passes of 2 s).
SCHEMA = 2
#: Timing passes per scenario and approach in a full run (``--quick``: 1).
DEFAULT_REPEATS = 5
#: A timing pass lasts at least this long (``--quick``: one crowd, however short): long
#: enough that start-up and scheduling noise do not decide a ranking.
MIN_PASS_S = 2.0
#: How often a soak samples the server's usage.
SOAK_SAMPLE_S = 5.0
#: The approaches of the error-handling matrix: rxspike's distinct designs and the peers
#: (push-throttle fails and leaves as push-buffer does).
MATRIX = (
    "pull",
    "push-buffer",
    "push-unbounded",
    "async-iterator",
    "aiohttp-handler",
    "aiohttp-sse",
    "sse-starlette",
)

#: Flamegraphs rendered at once (each is its own ``python -m memray`` process).
FLAMEGRAPH_WORKERS = 2
#: Seconds a tracked server keeps running after its pass, so its heap after the load shows.
SETTLE_S = 0.3

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Step:
    """One unit of progress: a pass, a flamegraph, or the report."""

    #: ``timing``, ``memory``, ``sweep``, ``flamegraph`` or ``report``.
    kind: str
    scenario: str = ""
    variant: str = ""
    repeat: int = 0
    count: int = 0

    @property
    def label(self) -> str:
        parts = [self.kind, self.scenario, self.variant]
        if self.kind == "timing":
            parts.append(f"#{self.repeat + 1}")
        if self.kind == "sweep":
            parts.append(f"count={self.count}")
        return " ".join(p for p in parts if p)


@dataclass(slots=True)
class RunConfig:
    """What to run and where the results go."""

    scenarios: Sequence[Scenario]
    out_dir: Path
    #: ``--approach`` selectors (empty: every approach each scenario names).
    approaches: Sequence[str] = ()
    quick: bool = False
    repeats: int = DEFAULT_REPEATS
    memory: bool = True
    #: True: plain and temporal flamegraphs; False: none; None: the plain one in a full run
    #: (the temporal one doubles the rendering time), none in a ``--quick`` one.
    flamegraphs: bool | None = None
    #: The demo application (``module:factory``); peers have their own.
    app: str = DEFAULT_APP
    run_id: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S"))
    #: Shortest timing pass in seconds (None: :data:`MIN_PASS_S`, 0 under ``--quick``).
    min_pass_s: float | None = None
    #: A soak's length in seconds, overriding its file's ``clients.run_for_s`` (0: keep).
    soak_s: float = 0.0
    #: Run the error-handling matrix (:mod:`rxspike.harness.matrix`); None: in a full run.
    matrix: bool | None = None

    @property
    def run_matrix(self) -> bool:
        if self.matrix is not None:
            return self.matrix
        return not self.quick and not any(s.soak for s in self.scenarios)

    def matrix_variants(self) -> list[Variant]:
        """The approaches the error-handling matrix runs (``--approach`` applies)."""
        chosen = [Variant(a, DEFAULT_OVERFLOW if a == "push-buffer" else None) for a in MATRIX]
        if self.approaches:
            chosen = [v for v in chosen if any(v.matches(a) for a in self.approaches)]
        return chosen

    @property
    def render_flamegraphs(self) -> bool:
        if not self.memory:
            return False
        return (not self.quick) if self.flamegraphs is None else self.flamegraphs

    @property
    def pass_seconds(self) -> float:
        if self.min_pass_s is not None:
            return self.min_pass_s
        return 0.0 if self.quick else MIN_PASS_S

    def app_for(self, variant: Variant) -> str:
        """The application that serves this variant: a peer's own, or the demo."""
        return PEER_APPS.get(variant.approach, self.app)

    def prepared(self) -> list[Scenario]:
        """The scenarios as they will run (``--quick`` overrides applied, a soak's length)."""
        out = [s.quick() if self.quick else s for s in self.scenarios]
        if self.soak_s > 0:
            out = [
                s.with_overrides({"clients": {"run_for_s": self.soak_s}}) if s.soak else s
                for s in out
            ]
        return out

    def variants(self, scenario: Scenario) -> list[Variant]:
        chosen = scenario.variants()
        if self.approaches:
            chosen = [v for v in chosen if any(v.matches(a) for a in self.approaches)]
        return chosen

    @property
    def timing_repeats(self) -> int:
        return 1 if self.quick else self.repeats

    def repeats_for(self, scenario: Scenario) -> int:
        """Timing passes of one scenario: its own ``repeats`` if it sets one."""
        if self.quick:
            return 1
        return scenario.repeats or self.repeats


def plan(config: RunConfig) -> list[Step]:
    """Every step of the run, in order (the progress bar's length)."""
    steps: list[Step] = []
    for scenario in config.prepared():
        variants = config.variants(scenario)
        if scenario.soak:
            steps.extend(Step("soak", scenario.name, v.label) for v in variants)
            continue
        for repeat in range(config.repeats_for(scenario)):
            steps.extend(Step("timing", scenario.name, v.label, repeat) for v in variants)
        if config.memory and scenario.memory and scenario.workers.count == 1:
            steps.extend(Step("memory", scenario.name, v.label) for v in variants)
            for count in scenario.sweep_counts:
                steps.extend(Step("sweep", scenario.name, v.label, count=count) for v in variants)
    if config.run_matrix:
        steps.extend(Step("matrix", variant=v.label) for v in config.matrix_variants())
    if config.render_flamegraphs:
        steps.extend(
            Step("flamegraph", scenario.name, v.label)
            for scenario in config.prepared()
            if not scenario.soak and scenario.memory and scenario.workers.count == 1
            for v in config.variants(scenario)
        )
    steps.append(Step("report"))
    return steps


def pass_timeout(scenario: Scenario) -> float:
    """A generous bound on one pass: the stream's nominal length, reading speed and ramp."""
    stream, clients = scenario.stream, scenario.clients
    nominal = stream.count * stream.interval_ms / 1000.0
    if clients.slow:
        nominal = stream.count / clients.read_items_per_s(stream)
        if clients.read_for_s > 0:
            nominal = min(nominal, clients.read_for_s + 1)
    return 30.0 + 4.0 * nominal + clients.ramp_ms / 1000.0 + 1.5 * clients.run_for_s


def _command(
    base_url: str,
    scenario: Scenario,
    variant: Variant,
    pass_id: str,
    *,
    min_duration_s: float = 0.0,
    usage_every_s: float = 0.0,
) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "scenario": scenario.to_dict(),
        "name": scenario.name,
        "variant": variant.label,
        "pass_id": pass_id,
        "timeout_s": pass_timeout(scenario) + 2 * min_duration_s,
        "min_duration_s": min_duration_s,
        "usage_every_s": usage_every_s,
    }


class Runner:
    """Runs a :class:`RunConfig`; ``progress`` is called once per finished :class:`Step`."""

    def __init__(self, config: RunConfig, progress: Progress | None = None) -> None:
        self.config = config
        self.progress = progress or (lambda label: None)
        self.out = config.out_dir
        self._pass_ids = 0

    def _pass_id(self, kind: str) -> str:
        self._pass_ids += 1
        return f"{kind[0]}{self._pass_ids}"

    def run(self) -> dict[str, Any]:
        """Run everything, write ``metrics.json``, return it."""
        started = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        results: dict[str, Any] = {}
        captures: list[tuple[str, str, Path]] = []
        with WorkerProcess(log=self.out / "logs" / "loadgen.log") as worker:
            for scenario in self.config.prepared():
                results[scenario.name] = self._scenario(worker, scenario, captures)
        matrix = None
        if self.config.run_matrix:
            from .matrix import run_matrix

            matrix = run_matrix(
                self.config.matrix_variants(),
                self.config.app_for,
                self.out / "logs",
                self.progress,
            )
        if self.config.render_flamegraphs:
            self._flamegraphs(results, captures)
        else:
            for _, _, capture in captures:  # read already; only flamegraphs need them
                capture.unlink(missing_ok=True)
        metrics = {
            "schema": SCHEMA,
            "run_id": self.config.run_id,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "quick": self.config.quick,
            "settings": {
                "timing_repeats": self.config.timing_repeats,
                "min_pass_s": self.config.pass_seconds,
                "memory": self.config.memory,
                "approaches": list(self.config.approaches),
                "app": self.config.app,
            },
            "machine": machine(),
            "approach_sources": {
                **approach_sources(self.config.app),
                **peer_sources(self.config.prepared()),
            },
            "wall_time_s": round(time.perf_counter() - started, 1),
            "scenarios": results,
        }
        if matrix is not None:
            metrics["matrix"] = matrix
        (self.out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        return metrics

    def _scenario(
        self, worker: WorkerProcess, scenario: Scenario, captures: list[tuple[str, str, Path]]
    ) -> dict[str, Any]:
        variants = self.config.variants(scenario)
        if scenario.soak:
            return self._soak(worker, scenario, variants)
        if scenario.workers.count > 1:
            return self._workers(worker, scenario, variants)
        timing: dict[str, list[dict[str, Any]]] = {v.label: [] for v in variants}
        memory_passes: dict[str, dict[str, Any]] = {}
        profiles: dict[str, dict[str, Any]] = {}
        sweeps: dict[str, list[dict[str, Any]]] = {v.label: [] for v in variants}
        seconds = self.config.pass_seconds
        timeout = pass_timeout(scenario) + 30 + 2 * seconds
        logs = self.out / "logs"
        with contextlib.ExitStack() as stack:
            servers: dict[str, ServerProcess] = {}
            for app in dict.fromkeys(self.config.app_for(v) for v in variants):
                slug = app.partition(":")[0].rsplit(".", 1)[-1]
                servers[app] = stack.enter_context(
                    ServerProcess(
                        stats=logs / f"{scenario.name}--timing-{slug}.json",
                        log=logs / f"{scenario.name}--timing-{slug}.log",
                        app=app,
                    )
                )
            for repeat in range(self.config.repeats_for(scenario)):
                for variant in variants:
                    server = servers[self.config.app_for(variant)]
                    command = _command(
                        server.base_url,
                        scenario,
                        variant,
                        self._pass_id("t"),
                        min_duration_s=seconds,
                    )
                    timing[variant.label].append(worker.run(command, timeout))
                    self.progress(Step("timing", scenario.name, variant.label, repeat).label)
        if self.config.memory and scenario.memory:
            for variant in variants:
                capture = self.out / "memray" / f"{scenario.name}--{variant.slug}.bin"
                summary, profile = self._tracked(worker, scenario, variant, capture, timeout)
                memory_passes[variant.label] = summary
                profiles[variant.label] = profile
                captures.append((scenario.name, variant.label, capture))
                self.progress(Step("memory", scenario.name, variant.label).label)
            for count in scenario.sweep_counts:
                longer = scenario.sweep_pass(count)
                for variant in variants:
                    capture = self.out / "memray" / f"{scenario.name}--{variant.slug}--{count}.bin"
                    summary, profile = self._tracked(
                        worker, longer, variant, capture, pass_timeout(longer) + 30
                    )
                    profile.pop("heap_series", None)
                    sweeps[variant.label].append(
                        {
                            "count": count,
                            "clients": longer.clients.count,
                            **profile,
                            "accounting": summary["accounting"],
                        }
                    )
                    capture.unlink(missing_ok=True)
                    self.progress(Step("sweep", scenario.name, variant.label, count=count).label)
        out_variants: dict[str, Any] = {}
        for variant in variants:
            label = variant.label
            passes = timing[label] + ([memory_passes[label]] if label in memory_passes else [])
            entry: dict[str, Any] = {
                "approach": variant.approach,
                "overflow": variant.overflow,
                "timing": combine_timing(timing[label]),
                "accounting": combine_accounting(passes),
                "timing_passes": [_slim(p) for p in timing[label]],
            }
            if label in profiles:
                entry["memory"] = profiles[label]
            if sweeps[label]:
                entry["sweep"] = sweeps[label]
            out_variants[label] = entry
        return _scenario_record(scenario, out_variants)

    def _tracked(
        self,
        worker: WorkerProcess,
        scenario: Scenario,
        variant: Variant,
        capture: Path,
        timeout: float,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        capture.parent.mkdir(parents=True, exist_ok=True)
        log = self.out / "logs" / f"{capture.stem}.log"
        app = self.config.app_for(variant)
        with ServerProcess(memray=capture, log=log, app=app) as server:
            time.sleep(0.1)  # a few heap snapshots of the server at rest: the baseline
            summary = worker.run(
                _command(server.base_url, scenario, variant, self._pass_id("m")), timeout
            )
            time.sleep(SETTLE_S)  # snapshots of the server after the load: what it kept
        profile = read_profile(capture, summary["started_at"], summary["ended_at"] + SETTLE_S)
        figures = profile.as_json(scenario.clients.count)
        figures["server_tracebacks"] = count_tracebacks(log)
        return summary, figures

    def _soak(
        self, worker: WorkerProcess, scenario: Scenario, variants: Sequence[Variant]
    ) -> dict[str, Any]:
        """One long untracked pass per approach, the server's usage sampled over time."""
        out_variants: dict[str, Any] = {}
        logs = self.out / "logs"
        every = min(SOAK_SAMPLE_S, max(scenario.clients.run_for_s / 20, 0.5))
        for variant in variants:
            with ServerProcess(
                log=logs / f"{scenario.name}--{variant.slug}.log", app=self.config.app_for(variant)
            ) as server:
                command = _command(
                    server.base_url, scenario, variant, self._pass_id("s"), usage_every_s=every
                )
                summary = worker.run(command, pass_timeout(scenario) + 60)
            self.progress(Step("soak", scenario.name, variant.label).label)
            out_variants[variant.label] = {
                "approach": variant.approach,
                "overflow": variant.overflow,
                "timing": combine_timing([summary]),
                "accounting": combine_accounting([summary]),
                "soak": summary.get("usage"),
            }
        return _scenario_record(scenario, out_variants)

    def _workers(
        self, worker: WorkerProcess, scenario: Scenario, variants: Sequence[Variant]
    ) -> dict[str, Any]:
        """Several workers on one fresh redis-server per pass, one of them killed mid-pass.

        The last worker publishes the feed and survives; the others serve clients until
        SIGKILL (``workers.kill_after_s``); clients spread over all of them and a client whose
        worker died reconnects to the next one with ``Last-Event-ID``. Figures from the
        server side (CPU, RSS, clean-up) are the survivor's.
        """
        import threading

        from .processes import RedisServer

        spec = scenario.workers
        logs = self.out / "logs"
        seconds = self.config.pass_seconds
        timing: dict[str, list[dict[str, Any]]] = {v.label: [] for v in variants}
        for repeat in range(self.config.repeats_for(scenario)):
            for variant in variants:
                tag = f"{scenario.name}--{variant.slug}-{repeat}"
                with contextlib.ExitStack() as stack:
                    redis = stack.enter_context(RedisServer(log=logs / f"{tag}-redis.log"))
                    servers = []
                    for index in range(spec.count):
                        extra = ["--redis-url", redis.url]
                        if index == spec.count - 1 and spec.publish_rate > 0:
                            extra += ["--publish-rate", f"{spec.publish_rate:g}"]
                        servers.append(
                            stack.enter_context(
                                ServerProcess(
                                    log=logs / f"{tag}-worker{index}.log",
                                    app=self.config.app_for(variant),
                                    extra_args=extra,
                                )
                            )
                        )
                    survivor, doomed = servers[-1], servers[:-1]
                    command = _command(
                        survivor.base_url,
                        scenario,
                        variant,
                        self._pass_id("w"),
                        min_duration_s=seconds,
                    )
                    command["more_urls"] = [s.base_url for s in doomed]
                    killers = [
                        threading.Timer(spec.kill_after_s, s.kill)
                        for s in (doomed if spec.kill_after_s > 0 else [])
                    ]
                    for killer in killers:
                        killer.start()
                    try:
                        summary = worker.run(command, pass_timeout(scenario) + 30 + 2 * seconds)
                    finally:
                        for killer in killers:
                            killer.cancel()
                    timing[variant.label].append(summary)
                self.progress(Step("timing", scenario.name, variant.label, repeat).label)
        out_variants = {
            v.label: {
                "approach": v.approach,
                "overflow": v.overflow,
                "timing": combine_timing(timing[v.label]),
                "accounting": combine_accounting(timing[v.label]),
                "timing_passes": [_slim(p) for p in timing[v.label]],
            }
            for v in variants
        }
        return _scenario_record(scenario, out_variants)

    def _flamegraphs(self, results: dict[str, Any], captures: list[tuple[str, str, Path]]) -> None:
        """Render a plain (and, if asked, a temporal) flamegraph per capture, two at a time."""
        folder = self.out / "flamegraphs"

        kinds = ((False, ""), (True, "-temporal")) if self.config.flamegraphs else ((False, ""),)

        def render(capture: Path) -> dict[str, Any]:
            links: dict[str, Any] = {}
            for temporal, suffix in kinds:
                html = folder / f"{capture.stem}{suffix}.html"
                error = render_flamegraph(capture, html, temporal=temporal)
                key = "flamegraph_temporal" if temporal else "flamegraph"
                links[key] = None if error else html.relative_to(self.out).as_posix()
                if error:
                    links[f"{key}_error"] = error
            return links

        with ThreadPoolExecutor(max_workers=FLAMEGRAPH_WORKERS) as pool:
            futures = {pool.submit(render, capture): (s, v) for s, v, capture in captures}
            for future in as_completed(futures):
                scenario, label = futures[future]
                entry = results[scenario]["variants"][label]
                entry.setdefault("memory", {}).update(future.result())
                self.progress(Step("flamegraph", scenario, label).label)


def count_tracebacks(log: Path) -> int:
    """Error tracebacks the server logged: aiohttp logs ``Error handling request`` and a
    traceback for each handler that raised (a chained traceback counts once)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return 0
    # aiohttp: "Error handling request"; uvicorn: "Exception in ASGI application".
    return text.count("Error handling request") + text.count("Exception in ASGI application")


def peer_sources(scenarios: Sequence[Scenario]) -> dict[str, str]:
    """The code of each peer that runs, for the report to quote (as the demo's approaches)."""
    import importlib
    import inspect

    from .scenario import PEERS

    named = {a for s in scenarios for a in s.approaches if a in PEERS}
    out: dict[str, str] = {}
    for peer in PEERS:
        if peer in named:
            module = importlib.import_module(PEER_APPS[peer].partition(":")[0])
            out[peer] = inspect.getsource(module)
    return out


def _slim(summary: dict[str, Any]) -> dict[str, Any]:
    """A timing pass without its bulky per-client clean-up list."""
    cleanup = dict(summary["cleanup"])
    cleanup.pop("cleanup_ms", None)
    return {**summary, "cleanup": cleanup}


def _git_commit() -> str | None:
    """The commit of the code that ran (``+dirty`` with local changes), if in a checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import aiohttp
    import reactivex

    versions: dict[str, str] = {"aiohttp": aiohttp.__version__}
    try:
        import memray

        versions["memray"] = str(getattr(memray, "__version__", "?"))
    except ImportError:  # pragma: no cover - memray is in the harness extra
        versions["memray"] = "missing"
    versions["reactivex"] = str(getattr(reactivex, "__version__", "?"))
    return {
        "commit": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
        "packages": versions,
    }


def _scenario_record(scenario: Scenario, variants: dict[str, Any]) -> dict[str, Any]:
    """One scenario's entry in ``metrics.json``: what ran, and each variant's figures."""
    return {
        "name": scenario.name,
        "title": scenario.title,
        "description": scenario.prose,
        "order": scenario.order,
        "spec": scenario.to_dict(),
        "variants": variants,
    }
