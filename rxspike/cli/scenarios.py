"""``rxspike scenarios``: list, run and report the push-vs-pull scenarios."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ..harness.report import refresh_tables, update_latest, write_report
from ..harness.runner import DEFAULT_REPEATS, RunConfig, Runner, plan
from ..harness.scenario import ScenarioError, load_scenarios, select
from ..harness.server import DEFAULT_APP

#: Where runs go unless ``--out`` says otherwise (``reports/latest`` points at the newest).
REPORTS = Path("reports")


def _default_scenarios_dir() -> Path:
    here = Path("scenarios")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "scenarios"


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[str], None]]:
    """A progress bar on a terminal, one line per step elsewhere (logs, CI, make)."""
    started = time.perf_counter()
    if sys.stderr.isatty():
        with click.progressbar(
            length=total,
            label=label,
            file=sys.stderr,
            show_pos=True,
            item_show_func=lambda item: item,
        ) as bar:
            yield lambda step: bar.update(1, step)
        return
    done = 0

    def advance(step: str) -> None:
        nonlocal done
        done += 1
        elapsed = time.perf_counter() - started
        click.echo(f"[{done}/{total}] {elapsed:6.1f}s {step}", err=True)

    yield advance


@click.group()
def scenarios() -> None:
    """The memray-instrumented push-vs-pull scenarios and their reports."""


scenarios_dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Scenario directory (default: ./scenarios).",
)


@scenarios.command("list")
@scenarios_dir_option
def list_command(directory: Path | None) -> None:
    """List the scenarios and the approaches each one runs."""
    try:
        found = load_scenarios(directory or _default_scenarios_dir())
    except ScenarioError as error:
        raise click.ClickException(str(error)) from error
    for scenario in found:
        variants = ", ".join(v.label for v in scenario.variants())
        click.echo(f"{scenario.name:24} {scenario.title}")
        click.echo(f"{'':24} approaches: {variants}")


@scenarios.command("run")
@click.argument("names", nargs=-1)
@click.option(
    "--approach",
    "approaches",
    multiple=True,
    help="Run only this approach (repeatable; 'push-buffer' picks all its strategies, "
    "'push-buffer:drop-oldest' one).",
)
@click.option("--quick", is_flag=True, help="Small versions of the scenarios, one timing pass.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run directory (default: reports/RUN-ID, and reports/latest points at it).",
)
@click.option(
    "--repeats",
    type=click.IntRange(1),
    default=DEFAULT_REPEATS,
    show_default=True,
    help="Untracked timing passes per scenario and approach.",
)
@click.option("--no-memory", is_flag=True, help="Skip the memray passes (timing only).")
@click.option("--no-flamegraphs", is_flag=True, help="Skip rendering flamegraphs.")
@click.option(
    "--app",
    default=DEFAULT_APP,
    show_default=True,
    help="module:factory of the aiohttp application to drive.",
)
@scenarios_dir_option
def run_command(
    *,
    names: tuple[str, ...],
    approaches: tuple[str, ...],
    quick: bool,
    out: Path | None,
    repeats: int,
    no_memory: bool,
    no_flamegraphs: bool,
    app: str,
    directory: Path | None,
) -> None:
    """Run scenarios NAMES (default: all) through every approach and write the report."""
    try:
        chosen = select(load_scenarios(directory or _default_scenarios_dir()), names)
    except ScenarioError as error:
        raise click.ClickException(str(error)) from error
    run_id = time.strftime("%Y%m%d-%H%M%S") + ("-quick" if quick else "")
    run_dir = out if out is not None else REPORTS / run_id
    config = RunConfig(
        scenarios=chosen,
        out_dir=run_dir,
        approaches=approaches,
        quick=quick,
        repeats=repeats,
        memory=not no_memory,
        flamegraphs=not no_flamegraphs,
        app=app,
        run_id=run_id,
    )
    if not any(config.variants(s) for s in config.prepared()):
        raise click.ClickException(f"no scenario runs approach {', '.join(approaches)}")
    steps = plan(config)
    started = time.perf_counter()
    with _progress(len(steps), "scenarios") as advance:
        Runner(config, advance).run()
        write_report(run_dir)
        advance("report")
    if out is None:
        update_latest(REPORTS, run_dir)
    elapsed = time.perf_counter() - started
    click.echo(f"report: {run_dir / 'REPORT.md'}  (flamegraphs: {run_dir / 'index.html'})")
    click.echo(f"wall time: {elapsed:.0f} s")


@scenarios.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report_command(run_dir: Path) -> None:
    """Redraw REPORT.md, the plots and index.html of RUN_DIR from its metrics.json."""
    if not (run_dir / "metrics.json").is_file():
        raise click.ClickException(f"{run_dir} has no metrics.json: not a scenario run")
    written = write_report(run_dir)
    click.echo(f"report: {written['report']}  ({len(written)} files)")


@scenarios.command("refresh-findings")
@click.option(
    "--findings",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=REPORTS / "FINDINGS.md",
    show_default=True,
)
@click.option(
    "--reference",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=REPORTS / "reference",
    show_default=True,
)
def refresh_findings_command(findings: Path, reference: Path) -> None:
    """Re-render FINDINGS.md's marked tables from the reference run's metrics.json.

    The prose is yours to update: tests/test_findings.py names any measured number in it
    that the new tables no longer contain.
    """
    import json

    metrics = json.loads((reference / "metrics.json").read_text())
    before = findings.read_text()
    after = refresh_tables(before, metrics)
    findings.write_text(after)
    click.echo(f"{findings}: {'tables updated' if after != before else 'already current'}")
