"""16-byte SSE events from two or more source trees of rxspike, side by side in one run.

    python -m benchmarks.web_ab [--rounds 9] [--events 1000000] old=/tmp/old new=.

Each tree (a checkout, e.g. ``git worktree add /tmp/old 00bed35``) serves
``benchmarks.web --serve`` from its own process with ``PYTHONPATH`` set to it; curl reads
each stream to ``/dev/null``. The variants take turns in every round (the order reversed
every other round) and each row is the median of the rounds, so drift and a loaded machine
hit them alike. With ``taskset`` and at least two cores, the servers run on core 0 and curl
on core 1, so client and server do not take each other's turns. Besides events/s, each row
gives the server's CPU time per event (from ``/proc``), the steadier figure on a busy machine.
The plain aiohttp handlers (``hand-coalesced``, ``per-event``) run from the first tree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ._table import print_table
from .web import FRAME

#: (tree name, route) of one measured variant.
Variant = tuple[str, str]


def _pinned(core: int) -> list[str]:
    taskset = shutil.which("taskset")
    if taskset is None or (os.cpu_count() or 1) < 2:
        return []
    return [taskset, "-c", str(core)]


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _fetch(curl: str, url: str, count: int) -> float:
    """Read ``url`` with curl; events per second."""
    out = subprocess.run(
        [*_pinned(1), curl, "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    seconds, size = out.split()
    if int(size) != count * len(FRAME):
        raise RuntimeError(f"{url}: got {size} bytes, expected {count * len(FRAME)}")
    return count / float(seconds)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", metavar="NAME=PATH", help="source trees to compare")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--events", type=int, default=1_000_000, help="events per request")
    arguments = parser.parse_args(argv)
    trees: list[tuple[str, str]] = []
    for spec in arguments.trees:
        name, sep, path = spec.partition("=")
        if not (sep and name and path):
            parser.error(f"a tree is NAME=PATH (a name, then its directory), got {spec!r}")
        trees.append((name, path))
    curl = shutil.which("curl")
    if curl is None:
        parser.error("curl is needed (the client of every request)")
    servers: dict[str, subprocess.Popen[str]] = {}
    ports: dict[str, int] = {}
    try:
        for name, path in trees:
            server = servers[name] = subprocess.Popen(
                [*_pinned(0), sys.executable, "-m", "benchmarks.web", "--serve"],
                cwd=path, env=dict(os.environ, PYTHONPATH=str(Path(path).resolve())),
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert server.stdout is not None
            ports[name] = json.loads(server.stdout.readline())["port"]
        first = trees[0][0]
        variants: list[Variant] = [(name, "rxspike-sse") for name, _ in trees]
        variants += [(first, "hand-coalesced"), (first, "per-event")]
        # One write per event is about 15 times slower: fewer events keep its turn short.
        counts = {route: arguments.events for _, route in variants}
        counts["per-event"] = max(arguments.events // 15, 1)
        rates: dict[Variant, list[float]] = {variant: [] for variant in variants}
        cpu: dict[Variant, list[float]] = {variant: [] for variant in variants}
        for name, route in variants:  # warm-up, unmeasured
            warm = max(counts[route] // 10, 1)
            _fetch(curl, f"http://127.0.0.1:{ports[name]}/{route}?n={warm}", warm)
        for turn in range(arguments.rounds):
            for name, route in variants if turn % 2 == 0 else variants[::-1]:
                count, pid = counts[route], servers[name].pid
                before = _cpu_seconds(pid)
                url = f"http://127.0.0.1:{ports[name]}/{route}?n={count}"
                rates[name, route].append(_fetch(curl, url, count))
                cpu[name, route].append((_cpu_seconds(pid) - before) / count * 1e6)
    finally:
        for server in servers.values():
            server.terminate()
            server.wait()
    median = {variant: statistics.median(values) for variant, values in rates.items()}
    ceiling = median[first, "hand-coalesced"]
    print(f"\ncurl; median of {arguments.rounds} interleaved rounds; pinned: {bool(_pinned(0))}")
    print_table(
        "16-byte SSE events per second, by source tree",
        ["tree", "server", "events/s", "min..max", "vs hand-coalesced", "server CPU µs/event"],
        [
            (
                name,
                route,
                f"{median[name, route]:,.0f}",
                f"{min(rates[name, route]):,.0f}..{max(rates[name, route]):,.0f}",
                f"{median[name, route] / ceiling:.2f}x",
                f"{statistics.median(cpu[name, route]):.2f}",
            )
            for name, route in variants
        ],
    )


if __name__ == "__main__":
    main()
