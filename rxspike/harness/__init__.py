"""The scenario harness: rxspike's streaming designs and the peers under load, measured.

Layers: it drives the demo server of :mod:`rxspike.demo` and the peers' servers
(:mod:`rxspike.harness.peers`), each started in its own process by
:mod:`rxspike.harness.server`, with a load generator in another process
(:mod:`rxspike.harness.worker`); it never imports the CLI. It needs the ``harness`` extra
(:mod:`rxspike.harness.requirements` checks it before a run).

- :mod:`~rxspike.harness.scenario`: the TOML scenario files (package data, in
  ``scenarios/``) and their model;
- :mod:`~rxspike.harness.loadgen`: the clients; :mod:`~rxspike.harness.passes`: their numbers;
- :mod:`~rxspike.harness.runner`: the timing, memory, worker and soak passes;
- :mod:`~rxspike.harness.matrix`: the error-handling matrix;
- :mod:`~rxspike.harness.memory`: memray captures and flamegraphs;
- :mod:`~rxspike.harness.report`, :mod:`~rxspike.harness.plots`,
  :mod:`~rxspike.harness.conclusions`: metrics.json → REPORT.md, plots, index.html;
- :mod:`~rxspike.harness.dx`: lines of code of the same endpoints in each library.
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
