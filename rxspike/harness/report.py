"""The report writer: ``metrics.json`` → ``REPORT.md``, PNG plots and ``index.html``.

Everything here reads only ``metrics.json`` (and the flamegraph files next to it), so
``rxspike scenarios report DIR`` can redraw a report without rerunning anything. The tables
are rendered by :func:`render_table`, and ``reports/FINDINGS.md`` embeds exactly that output
after a ``<!-- table: SCENARIO KIND -->`` marker; ``tests/test_findings.py`` re-renders
each marked table from ``reports/reference/metrics.json`` and compares.
"""

from __future__ import annotations

import html
import importlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import conclusions, plots

Cell = Callable[[Mapping[str, Any]], str]


def _num(value: Any, digits: int) -> str:
    if value is None:
        return "n/a"
    if digits == 0:
        return f"{round(float(value)):d}"
    return f"{float(value):.{digits}f}"


def _get(entry: Mapping[str, Any], path: str) -> Any:
    node: Any = entry
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _col(path: str, digits: int) -> Cell:
    return lambda entry: _num(_get(entry, path), digits)


def _pair(first: str, second: str, digits: int) -> Cell:
    return lambda e: f"{_num(_get(e, first), digits)} / {_num(_get(e, second), digits)}"


def _range(path: str, digits: int) -> Cell:
    def cell(entry: Mapping[str, Any]) -> str:
        span = _get(entry, path)
        if not span:
            return "n/a"
        return f"{_num(span[0], digits)}-{_num(span[1], digits)}"

    return cell


def _spread(key: str, digits: int) -> Cell:
    """``median (min-max)`` of a timing figure over the repeated passes."""

    def cell(entry: Mapping[str, Any]) -> str:
        value = _get(entry, f"timing.{key}")
        span = _get(entry, f"timing.ranges.{key}")
        if value is None:
            return "n/a"
        if not span:
            return _num(value, digits)
        return f"{_num(value, digits)} ({_num(span[0], digits)}-{_num(span[1], digits)})"

    return cell


def _reconnects(entry: Mapping[str, Any]) -> str:
    return _num(entry["accounting"].get("reconnects", 0), 0)


def _delivered(entry: Mapping[str, Any]) -> str:
    a = entry["accounting"]
    return f"{a['delivered']} / {a['expected']}"


def _cleanup(entry: Mapping[str, Any]) -> str:
    a = entry["accounting"]
    if not a["left"]:
        return "-"
    p50, worst = _num(a["cleanup_p50_ms"], 0), _num(a["cleanup_max_ms"], 0)
    return f"{a['cleaned']}/{a['left']} in {p50}/{worst} ms"


def _finalized(entry: Mapping[str, Any]) -> str:
    a = entry["accounting"]
    if a["finalized"] is None:
        return "n/a"
    return f"{a['finalized']}/{a['streams']}"


def _errors(entry: Mapping[str, Any]) -> str:
    accounting = entry["accounting"]
    errors = dict(accounting["errors"])
    errors.pop("in-band error event", None)  # counted as error frames below
    parts = [f"{name} x{count}" for name, count in sorted(errors.items())]
    frames = accounting.get("error_frames", 0)
    if frames:
        parts.append(f"error frame x{frames}")
    return ", ".join(parts) or "-"


#: Table kind -> [(column header, cell renderer)].
#: Every timing and cost cell is ``median (min-max)`` over the untracked passes.
TABLES: dict[str, list[tuple[str, Cell]]] = {
    "timing": [
        ("items/s", _spread("items_per_s", 0)),
        ("MB/s", _spread("mb_per_s", 2)),
        ("first item p50 ms", _spread("ttfb_p50_ms", 1)),
        ("first item p99 ms", _spread("ttfb_p99_ms", 1)),
        ("gap p99 ms", _spread("gap_p99_ms", 1)),
        ("loop lag p99 ms", _spread("lag_p99_ms", 1)),
    ],
    "cost": [
        ("CPU us/item", _spread("cpu_us_per_item", 1)),
        ("CPU ms/MB", _spread("cpu_ms_per_mb", 1)),
        ("peak RSS MiB", _spread("rss_peak_mib", 1)),
        ("RSS growth MiB", _spread("rss_growth_mib", 2)),
        ("RSS per stream KiB", _spread("rss_per_stream_kib", 1)),
    ],
    "memory": [
        ("peak heap MiB", _col("memory.peak_heap_mib", 2)),
        ("heap growth MiB", _col("memory.heap_growth_mib", 2)),
        ("per client KiB", _col("memory.per_connection_kib", 1)),
        ("heap after MiB", _col("memory.heap_after_mib", 2)),
    ],
    "accounting": [
        ("delivered / expected", _delivered),
        ("dropped", _col("accounting.dropped", 0)),
        ("lost", _col("accounting.lost", 0)),
        ("left: cleaned in p50/max", _cleanup),
        ("finalizers ran", _finalized),
        ("client errors", _errors),
        ("reconnects", _reconnects),
        ("tracebacks logged", _col("memory.server_tracebacks", 0)),
    ],
}


def render_table(scenario: Mapping[str, Any], kind: str) -> str:
    """One scenario's table of one kind, as Markdown (rows: approaches)."""
    columns = TABLES[kind]
    lines = [
        "| approach | " + " | ".join(header for header, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for label, entry in scenario["variants"].items():
        if kind == "memory" and "memory" not in entry:
            continue
        cells = [cell(entry) for _, cell in columns]
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_sweep_table(scenario: Mapping[str, Any]) -> str | None:
    """Peak heap at each ``[sweep]`` stream length, and longest over shortest; or None."""
    rows: list[tuple[str, list[tuple[int, float]]]] = []
    for label, entry in scenario["variants"].items():
        if entry.get("sweep"):
            points = sorted((p["count"], p["peak_heap_mib"]) for p in entry["sweep"])
            rows.append((label, points))
    if not rows:
        return None
    counts = [count for count, _ in rows[0][1]]
    lines = [
        "| approach | " + " | ".join(f"peak MiB at {c} items" for c in counts) + " | ratio |",
        "|---|" + "---:|" * (len(counts) + 1),
    ]
    for label, points in rows:
        values = [round(peak, 2) for _, peak in points]
        ratio = values[-1] / values[0] if values[0] > 0 else None
        cells = [_num(v, 2) for v in values] + [_num(ratio, 1) + "x" if ratio else "n/a"]
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _spec_line(spec: Mapping[str, Any]) -> str:
    s, c = spec["stream"], spec["clients"]
    parts = [
        f"{c['count']} clients",
        f"{s['count']} items of {s['size']} B as {s['format']}",
        f"every {s['interval_ms']:g} ms" if s["interval_ms"] else "as fast as possible",
    ]
    if c["read_rate"]:
        parts.append(f"clients read at {c['read_rate']:g}x the producer's rate")
    if c["read_for_s"]:
        parts.append(f"and leave after {c['read_for_s']:g} s")
    if c["disconnect_after"] and c["disconnect_fraction"]:
        parts.append(
            f"{round(c['disconnect_fraction'] * 100)} % leave after {c['disconnect_after']} items"
        )
    if s["fail_after"]:
        parts.append(f"the source fails after {s['fail_after']} items")
    return "; ".join(parts)


def _flamegraph_links(scenario: Mapping[str, Any]) -> list[str]:
    out = []
    for label, entry in scenario["variants"].items():
        memory = entry.get("memory", {})
        plain, temporal = memory.get("flamegraph"), memory.get("flamegraph_temporal")
        if plain or temporal:
            links = []
            if plain:
                links.append(f"[plain]({plain})")
            if temporal:
                links.append(f"[temporal]({temporal})")
            out.append(f"`{label}`: " + ", ".join(links))
    return out


def approach_sources(app: str = "rxspike.demo:make_app") -> dict[str, str]:
    """The code of each approach in the app's module (its ``approach_sources()``), for
    quoting; empty if it has none. The runner stores it in ``metrics.json``, so a report
    quotes the code that ran, not the code that is installed when it is redrawn."""
    try:
        demo = importlib.import_module(app.partition(":")[0])
    except ImportError:
        return {}
    sources = getattr(demo, "approach_sources", None)
    if callable(sources):
        found = sources()
        if isinstance(found, Mapping):
            return {str(k): str(v) for k, v in found.items()}
    return {}


def write_markdown(metrics: Mapping[str, Any], run_dir: Path, figures: Mapping[str, Any]) -> Path:
    """``REPORT.md``: the run's settings, approaches, per-scenario tables, plots and links."""
    settings = metrics["settings"]
    machine = metrics["machine"]
    lines = [
        f"# Scenario report `{metrics['run_id']}`",
        "",
        f"Python {machine['python']} on {machine['platform']}, {machine['cpus']} CPUs; "
        + ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
        + f". Wall time {metrics['wall_time_s']} s"
        + (" (`--quick`)." if metrics["quick"] else "."),
        "",
        f"Timing and cost cells are the median (min-max) of {settings['timing_repeats']} "
        "untracked pass(es) per approach (behaviour scenarios: 2), the approaches "
        "interleaved, each pass at least "
        f"{settings.get('min_pass_s', 0):g} s long (a short workload repeats its crowd of "
        "clients); memory columns come from one pass with the server under a memray Tracker "
        "(which slows it 2.6-4.8x, so its timings are not reported); accounting adds up "
        "every pass; tracebacks are those the server logged during the tracked pass. "
        "MB = 10^6 bytes; MiB = 2^20 bytes. Flamegraphs and the side-by-side viewer: "
        "[index.html](index.html) (not committed for the reference run: `make scenarios` "
        "regenerates them).",
        "",
    ]
    lines += [
        "Columns: *items/s* and *MB/s* count what all clients received over the pass "
        "(*min-max*: the slowest and fastest of the timing passes); "
        "*first item* is from sending the request to the first whole item; *gap* is the "
        "time between consecutive items at one client; *loop lag* is how late the server's "
        "5 ms sampler woke up. *CPU* is the server process's user+system time over the pass "
        "divided by the items (or MB) all clients received; *peak RSS* is the server's "
        "highest resident set (sampled every 50 ms), *RSS growth* that minus the RSS just "
        "before the pass, *per stream* the growth over one crowd of clients. Peers "
        "(`aiohttp-handler`, `aiohttp-sse`, `sse-starlette`) each run in their own server "
        "process with the same items, measured by the same load generator. "
        "*Peak heap* is memray's exact high-water mark of the server's "
        "heap; *growth* is the highest heap snapshot during the load minus the heap just "
        "before it, and *per client* divides that by the clients (pymalloc takes small-object "
        "memory in 1 MiB arenas, so differences below 1 MiB are allocator granularity); "
        "*heap after* is the heap 0.3 s after the last client finished. "
        "*Expected* items are the whole stream for a client that read to the end, else every "
        "sequence number up to the last one it got; *dropped* is the server's count of items "
        "its overflow strategy discarded; *lost* is what went missing beyond that (must be 0). "
        "*Cleaned* counts clients that left on purpose whose source was released and handler "
        "ended, with the time from the disconnect; *finalizers ran* counts every stream whose "
        "source was released (cancelled, disposed, closed or completed).",
        "",
    ]
    overview = figures.get("overview", {}).get("rss")
    if overview:
        lines += [f"![peak RSS overview]({overview})", ""]
    sources = metrics.get("approach_sources") or {}
    if sources:
        lines += ["## Approaches", ""]
        for name, code in sources.items():
            lines += [f"### `{name}`", "", "```python", code.rstrip(), "```", ""]
    for scenario in metrics["scenarios"].values():
        name = scenario["name"]
        lines += [
            f"## {scenario['title']} (`{name}`)",
            "",
            scenario["description"],
            "",
            f"Workload: {_spec_line(scenario['spec'])}.",
            "",
            "Timing (untracked):",
            "",
            render_table(scenario, "timing"),
            "",
            "Server cost (untracked):",
            "",
            render_table(scenario, "cost"),
            "",
        ]
        if any("memory" in e for e in scenario["variants"].values()):
            lines += ["Memory (tracked):", "", render_table(scenario, "memory"), ""]
        lines += [
            "Accounting, clean-up and errors (all passes):",
            "",
            render_table(scenario, "accounting"),
            "",
        ]
        sweep_table = render_sweep_table(scenario)
        if sweep_table:
            changed = ", ".join(
                f"{k} = {v:g}" for k, v in scenario["spec"]["sweep"]["clients"].items()
            )
            lines += [
                f"Peak heap versus stream length (tracked; clients: {changed or 'as above'}):",
                "",
                sweep_table,
                "",
            ]
        soak = _soak_table(scenario)
        if soak:
            lines += ["Server usage over the soak (first, middle and last sample):", "", soak, ""]
        for kind in ("heap", "throughput", "latency", "cost", "sweep", "soak"):
            path = figures.get(name, {}).get(kind)
            if path:
                lines += [f"![{name} {kind}]({path})", ""]
        links = _flamegraph_links(scenario)
        if links:
            lines += ["Flamegraphs: " + "; ".join(links) + ".", ""]
    if metrics.get("matrix"):
        from .matrix import render_matrix

        lines += [
            "## Error handling, measured",
            "",
            "One real client per case against each approach's server (see "
            "`rxspike/harness/matrix.py`): what the client saw, how long until the source "
            "was released, tracebacks the server logged in that case.",
            "",
            render_matrix(metrics["matrix"]),
            "",
        ]
    lines += conclusions.render(metrics)
    path = run_dir / "REPORT.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


def _trio(picks: Sequence[Mapping[str, Any]], key: str, scale: float = 1.0, digits: int = 0) -> str:
    return " / ".join(_num(None if p.get(key) is None else p[key] / scale, digits) for p in picks)


def _soak_table(scenario: Mapping[str, Any]) -> str | None:
    """RSS, allocated blocks, fds and tasks at the soak's start, middle and end."""
    rows = []
    for label, entry in scenario["variants"].items():
        series = (entry.get("soak") or {}).get("series") or []
        if len(series) < 2:
            continue
        picks = [series[0], series[len(series) // 2], series[-1]]

        span_s = series[-1]["time"] - series[0]["time"]
        rows.append(
            f"| `{label}` | {span_s:.0f} | {_trio(picks, 'rss', 2**20, 1)} | "
            f"{_trio(picks, 'blocks', 1000, 0)} | {_trio(picks, 'fds')} | {_trio(picks, 'tasks')} |"
        )
    if not rows:
        return None
    return "\n".join(
        [
            "| approach | seconds sampled | RSS MiB | allocated blocks (k) | fds | tasks |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )


_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>rxspike scenarios {run_id}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; }}
header {{ padding: 8px 16px; background: #f3f3f3; }}
.panes {{ display: flex; gap: 6px; height: 78vh; padding: 6px; }}
.pane {{ flex: 1; display: flex; flex-direction: column; }}
.pane select {{ margin-bottom: 4px; }}
.pane iframe {{ flex: 1; border: 1px solid #ccc; }}
section {{ padding: 0 16px; }}
table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border: 1px solid #ddd; padding: 2px 6px; }}
img {{ max-width: 48%; }}
</style></head><body>
<header><b>rxspike scenarios</b> run <code>{run_id}</code>: pick a flamegraph in each pane
to compare them side by side. Tables: <a href="REPORT.md">REPORT.md</a>,
raw numbers: <a href="metrics.json">metrics.json</a>.</header>
<div class="panes">
<div class="pane"><select id="left">{options}</select><iframe id="left-frame"></iframe></div>
<div class="pane"><select id="right">{options}</select><iframe id="right-frame"></iframe></div>
</div>
<section>{sections}</section>
<script>
for (const [id, pick] of [["left", 0], ["right", 1]]) {{
  const select = document.getElementById(id), frame = document.getElementById(id + "-frame");
  if (select.options.length > pick) select.selectedIndex = pick;
  const show = () => {{ frame.src = select.value; }};
  select.addEventListener("change", show);
  if (select.value) show();
}}
</script>
</body></html>
"""


def write_index(metrics: Mapping[str, Any], run_dir: Path, figures: Mapping[str, Any]) -> Path:
    """``index.html``: two flamegraph panes side by side, plus plots and links per scenario."""
    options: list[str] = []
    sections: list[str] = []
    for scenario in metrics["scenarios"].values():
        name = scenario["name"]
        rows = []
        for label, entry in scenario["variants"].items():
            memory = entry.get("memory", {})
            cells = []
            for key, text in (("flamegraph", "plain"), ("flamegraph_temporal", "temporal")):
                target = memory.get(key)
                if target and (run_dir / target).exists():
                    options.append(
                        f'<option value="{html.escape(target)}">{html.escape(name)} / '
                        f"{html.escape(label)} / {text}</option>"
                    )
                    cells.append(f'<a href="{html.escape(target)}">{text}</a>')
            rows.append(
                f"<tr><td>{html.escape(label)}</td><td>{' '.join(cells) or '-'}</td>"
                f"<td>{_num(memory.get('peak_heap_mib'), 2)}</td>"
                f"<td>{_num(entry['timing'].get('items_per_s'), 0)}</td></tr>"
            )
        images = "".join(
            f'<img src="{html.escape(path)}" alt="{html.escape(kind)}">'
            for kind, path in figures.get(name, {}).items()
        )
        sections.append(
            f"<h2>{html.escape(scenario['title'])} (<code>{html.escape(name)}</code>)</h2>"
            f"<p>{html.escape(scenario['description'])}</p>"
            "<table><tr><th>approach</th><th>flamegraphs</th><th>peak heap MiB</th>"
            f"<th>items/s</th></tr>{''.join(rows)}</table><p>{images}</p>"
        )
    page = _INDEX.format(
        run_id=html.escape(str(metrics["run_id"])),
        options="".join(options) or "<option value=''>(no flamegraphs)</option>",
        sections="".join(sections),
    )
    path = run_dir / "index.html"
    path.write_text(page)
    return path


def write_report(run_dir: Path) -> dict[str, Path]:
    """Redraw everything from ``run_dir/metrics.json``; returns the files written."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for stale in (run_dir / "plots").glob("*.png"):
        stale.unlink()
    figures = plots.draw_all(metrics, run_dir)
    written = {
        "report": write_markdown(metrics, run_dir, figures),
        "index": write_index(metrics, run_dir, figures),
        "metrics": run_dir / "metrics.json",
    }
    for group in figures.values():
        for kind, path in group.items():
            written[f"plot:{path}"] = run_dir / path
            del kind
    return written


def update_latest(reports_root: Path, run_dir: Path) -> Path:
    """Point ``reports_root/latest`` at ``run_dir``.

    A relative symlink where the file system allows one; elsewhere (Windows without the
    privilege) a small text file holding the run directory's relative path.
    """
    latest = reports_root / "latest"
    target = os.path.relpath(run_dir.resolve(), reports_root.resolve())
    if latest.is_symlink() or latest.is_file():
        latest.unlink()
    try:
        latest.symlink_to(target, target_is_directory=True)
    except (OSError, NotImplementedError):
        latest.write_text(target + "\n")
    return latest


def read_tables(markdown: str) -> dict[tuple[str, str], str]:
    """The tables marked ``<!-- table: SCENARIO KIND -->`` in a Markdown text.

    >>> text = "<!-- table: a timing -->\\n| x |\\n|---|\\n\\nprose"
    >>> read_tables(text)
    {('a', 'timing'): '| x |\\n|---|'}
    """
    found: dict[tuple[str, str], str] = {}
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not (stripped.startswith("<!-- table:") and stripped.endswith("-->")):
            continue
        scenario, kind = stripped[len("<!-- table:") : -3].split()
        body: list[str] = []
        for following in lines[i + 1 :]:
            if not following.startswith("|"):
                if body:
                    break
                continue
            body.append(following)
        found[(scenario, kind)] = "\n".join(body)
    return found


def refresh_tables(markdown: str, metrics: Mapping[str, Any]) -> str:
    """``markdown`` with the table after every ``<!-- table: SCENARIO KIND -->`` marker
    re-rendered from ``metrics`` (a table is inserted where a marker has none).
    """
    lines = markdown.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        stripped = line.strip()
        if not (stripped.startswith("<!-- table:") and stripped.endswith("-->")):
            continue
        scenario, kind = stripped[len("<!-- table:") : -3].split()
        blank = i
        while blank < len(lines) and not lines[blank].strip():
            blank += 1
        end = blank
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        if end > blank:  # an old table: drop it, keep what stood between
            i = end
        out += ["", render_marked(metrics, scenario, kind)]
        if i < len(lines) and lines[i].strip():
            out.append("")
    return "\n".join(out) + ("\n" if markdown.endswith("\n") else "")


def render_marked(metrics: Mapping[str, Any], scenario: str, kind: str) -> str:
    """What a ``<!-- table: SCENARIO KIND -->`` marker must be followed by
    (``<!-- table: errors matrix -->``: the error-handling matrix; ``<!-- table: dx loc -->``:
    the lines of code of ``examples/dx``)."""
    if kind == "matrix":
        from .matrix import render_matrix

        return render_matrix(metrics["matrix"])
    if kind == "loc":  # counted from the checkout's programs, not from a run
        from .dx import render_loc

        return render_loc(Path(__file__).resolve().parents[2] / "examples" / "dx")
    data = metrics["scenarios"][scenario]
    if kind == "sweep":
        return render_sweep_table(data) or ""
    return render_table(data, kind)


def kinds() -> Sequence[str]:
    """Table kinds a marker may name."""
    return (*TABLES, "sweep", "matrix", "loc")
