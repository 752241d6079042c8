"""``rxspike serve``: the demo streaming server."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes; more than 1 runs under gunicorn (pip install 'rxspike[workers]').",
)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the demo: the live page GET /, GET /stream (one streaming design per approach)
    and GET /metrics.

    \b
    Try:
      open http://127.0.0.1:8080/ in a browser
      curl -N 'http://127.0.0.1:8080/stream?format=sse&count=5&interval_ms=200'
      curl -N 'http://127.0.0.1:8080/stream?format=ndjson&count=10&fail_after=3'
      curl 'http://127.0.0.1:8080/metrics'
    """
    import logging

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    where = f"rxspike demo server on http://{host}:{port} (GET /, GET /stream, GET /metrics)"

    if workers > 1:
        try:
            from ._workers import serve_workers
        except ImportError as missing:
            raise click.ClickException(
                f"--workers {workers} needs gunicorn ({missing}); "
                "install it with: pip install 'rxspike[workers]'"
            ) from None
        click.echo(f"{where}, {workers} worker processes under gunicorn")
        serve_workers(host, port, workers)
        return

    from aiohttp import web

    from ..demo import make_app

    click.echo(where)
    web.run_app(make_app(), host=host, port=port, print=None)
