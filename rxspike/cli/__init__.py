"""The ``rxspike`` command line: the top layer, it may import every other one."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="rxspike")
def main() -> None:
    """rxspike: reactive streams with backpressure, the demo server and the scenario harness."""


from .scenarios import scenarios  # noqa: E402  (the command groups import click, not main)
from .serve import serve  # noqa: E402

main.add_command(scenarios)
main.add_command(serve)
