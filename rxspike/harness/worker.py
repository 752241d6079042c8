"""The load generator's process: ``python -m rxspike.harness.worker``.

The runner starts one worker and keeps it for the whole run. It writes one JSON command per
line on the worker's stdin and reads one JSON answer per line from its stdout::

    -> {"base_url": "http://127.0.0.1:PORT", "scenario": {...}, "name": "llm-tokens",
        "variant": "pull", "pass_id": "t3", "timeout_s": 60}
    <- {"ok": true, "pass": {...summarize_pass...}}      or {"ok": false, "error": "..."}

The runner starts it with glibc's ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``
raised: aiohttp's client reading 64 KiB chunks otherwise measures glibc's page faults more
than the server (measured here: 0.65-2.9 GB/s, bimodal, against a stable 2.2 GB/s tuned).
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from typing import Any

import aiohttp

from .loadgen import fetch_json, run_load
from .passes import summarize_pass
from .scenario import Scenario, Variant
from .serverview import open_streams

#: Environment the runner gives the worker process.
WORKER_ENV = {"MALLOC_MMAP_THRESHOLD_": "4194304", "MALLOC_TRIM_THRESHOLD_": "268435456"}


async def run_command(command: dict[str, Any]) -> dict[str, Any]:
    """Run one pass as the command says and summarise it."""
    scenario = Scenario.from_dict(command["scenario"], name=command["name"])
    variant = Variant.parse(command["variant"])
    base_url = command["base_url"]
    result = await run_load(
        base_url,
        scenario,
        variant,
        pass_id=command["pass_id"],
        timeout_s=float(command.get("timeout_s", 60.0)),
        open_streams=open_streams,
        min_duration_s=float(command.get("min_duration_s", 0.0)),
        usage_every_s=float(command.get("usage_every_s", 0.0)),
        more_urls=tuple(command.get("more_urls", ())),
    )
    lag: list[float] = []
    rss: list[float] = []
    async with aiohttp.ClientSession() as session:
        # From a little before the pass: the RSS the server had at rest is the baseline.
        since = result.started_at - 0.3
        data = await fetch_json(
            session, f"{base_url}/_harness/lag?since={since}&until={result.ended_at}"
        )
    if data is not None:
        lag = [float(v) for t, v in data.get("lag", []) if t >= result.started_at]
        rss = [float(v) for _, v in data.get("rss", [])]
    return summarize_pass(result, scenario, lag, rss)


def main() -> int:
    loop = asyncio.new_event_loop()
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                summary = loop.run_until_complete(run_command(json.loads(line)))
                answer: dict[str, Any] = {"ok": True, "pass": summary}
            except Exception as error:
                answer = {"ok": False, "error": f"{error!r}\n{traceback.format_exc()}"}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
