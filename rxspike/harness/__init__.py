"""The scenario harness: push-vs-pull streaming designs under load, measured with memray.

Layers: it drives the demo server of :mod:`rxspike.demo` (started in its own process by
:mod:`rxspike.harness.server`) with a load generator in a third process
(:mod:`rxspike.harness.worker`); it never imports the CLI.

- :mod:`~rxspike.harness.scenario`: the TOML scenario files and their model;
- :mod:`~rxspike.harness.loadgen`: the clients; :mod:`~rxspike.harness.passes`: their numbers;
- :mod:`~rxspike.harness.runner`: the matrix of timing and memory passes;
- :mod:`~rxspike.harness.memory`: memray captures and flamegraphs;
- :mod:`~rxspike.harness.report`: metrics.json → REPORT.md, plots, index.html.
"""

from rxspike.demo import APPROACHES

from .scenario import (
    Scenario,
    ScenarioError,
    Variant,
    load_scenario,
    load_scenarios,
)

__all__ = [
    "APPROACHES",
    "Scenario",
    "ScenarioError",
    "Variant",
    "load_scenario",
    "load_scenarios",
]
