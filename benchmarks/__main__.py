"""Run every benchmark module listed in MODULES, in order."""

from __future__ import annotations

import importlib
import sys

#: Bench modules, each with a ``main()``; add yours here.
MODULES = ["benchmarks.pipeline", "benchmarks.operators", "benchmarks.web", "benchmarks.redis"]


def main() -> None:
    for name in MODULES:
        print(f"\n## {name}", flush=True)
        importlib.import_module(name).main()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
