"""``rxspike scenarios``: list, run and report the push-vs-pull scenarios."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ..harness.report import refresh_tables, update_latest, write_report
from ..harness.requirements import MissingExtra, check
from ..harness.runner import DEFAULT_REPEATS, MIN_PASS_S, RunConfig, Runner, plan
from ..harness.scenario import BUILTIN, ScenarioError, load_scenarios, select
from ..harness.server import DEFAULT_APP

#: Where runs go unless ``--out`` says otherwise (``reports/latest`` points at the newest).
REPORTS = Path("reports")


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
    help="Directory of scenario *.toml files (default: the ones that ship with rxspike, "
    "in rxspike/harness/scenarios/).",
)


@scenarios.command("list")
@scenarios_dir_option
def list_command(directory: Path | None) -> None:
    """List the scenarios and the approaches each one runs."""
    try:
        found = load_scenarios(directory or BUILTIN)
    except ScenarioError as error:
        raise click.ClickException(str(error)) from error
    for scenario in found:
        variants = ", ".join(v.label for v in scenario.variants())
        soak = "  (soak: run --soak)" if scenario.soak else ""
        click.echo(f"{scenario.name:24} {scenario.title}{soak}")
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
@click.option(
    "--quick",
    is_flag=True,
    help="Small versions of the scenarios, one short timing pass each, no flamegraphs.",
)
@click.option(
    "--soak",
    is_flag=True,
    help="Run the soak scenarios (not in the default run): hours of streams in minutes of "
    "load, the server's heap, file descriptors and tasks sampled over time.",
)
@click.option(
    "--soak-minutes",
    type=click.FloatRange(min=0.05),
    default=None,
    help="Length of each soak pass (default: the scenario file's, 10 minutes).",
)
@click.option(
    "--min-pass",
    type=click.FloatRange(min=0),
    default=None,
    help=f"Shortest timing pass in seconds (default: {MIN_PASS_S:g}; --quick: one crowd).",
)
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
@click.option(
    "--flamegraphs/--no-flamegraphs",
    default=None,
    help="Render memray flamegraphs, plain and temporal (default: the plain one in a full "
    "run, none with --quick).",
)
@click.option(
    "--matrix/--no-matrix",
    default=None,
    help="Run the error-handling matrix (source failures, leaving and frozen clients, "
    "shutdown) for each approach (default: in a full run).",
)
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
    soak: bool,
    soak_minutes: float | None,
    min_pass: float | None,
    out: Path | None,
    repeats: int,
    no_memory: bool,
    flamegraphs: bool | None,
    matrix: bool | None,
    app: str,
    directory: Path | None,
) -> None:
    """Run scenarios NAMES (default: all but the soaks; with --soak, the soaks) through
    their approaches and write the report.

    Needs the harness extra: pip install 'rxspike[harness]'.
    """
    try:
        chosen = select(load_scenarios(directory or BUILTIN), names, soak=soak)
    except ScenarioError as error:
        raise click.ClickException(str(error)) from error
    if not chosen:
        raise click.ClickException("no scenario to run (soaks run only with --soak)")
    run_id = (
        time.strftime("%Y%m%d-%H%M%S") + ("-quick" if quick else "") + ("-soak" if soak else "")
    )
    run_dir = out if out is not None else REPORTS / run_id
    config = RunConfig(
        scenarios=chosen,
        out_dir=run_dir,
        approaches=approaches,
        quick=quick,
        repeats=repeats,
        memory=not no_memory and not soak,
        flamegraphs=flamegraphs,
        matrix=matrix,
        app=app,
        run_id=run_id,
        min_pass_s=min_pass,
        soak_s=0.0 if soak_minutes is None else soak_minutes * 60.0,
    )
    if not any(config.variants(s) for s in config.prepared()):
        raise click.ClickException(f"no scenario runs approach {', '.join(approaches)}")
    try:  # before any pass: a missing extra must not cost the timing passes first
        check(
            memory=config.memory,
            plots=True,
            approaches={v.approach for s in config.prepared() for v in config.variants(s)}
            | ({v.approach for v in config.matrix_variants()} if config.run_matrix else set()),
        )
    except MissingExtra as error:
        raise click.ClickException(str(error)) from error
    steps = plan(config)
    started = time.perf_counter()
    with _progress(len(steps), "scenarios") as advance:
        Runner(config, advance).run()
        write_report(run_dir)
        advance("report")
    if out is None:
        update_latest(REPORTS, run_dir)
    elapsed = time.perf_counter() - started
    extra = f"  (flamegraphs: {run_dir / 'index.html'})" if config.render_flamegraphs else ""
    click.echo(f"report: {run_dir / 'REPORT.md'}{extra}")
    click.echo(f"wall time: {elapsed:.0f} s")


@scenarios.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report_command(run_dir: Path) -> None:
    """Redraw REPORT.md, the plots and index.html of RUN_DIR from its metrics.json."""
    if not (run_dir / "metrics.json").is_file():
        raise click.ClickException(f"{run_dir} has no metrics.json: not a scenario run")
    try:
        check(memory=False, plots=True, approaches=())
    except MissingExtra as error:
        raise click.ClickException(str(error)) from error
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
