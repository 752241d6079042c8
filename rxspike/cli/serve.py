"""``rxspike serve``: the demo streaming server."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
def serve(host: str, port: int) -> None:
    """Serve the demo: GET /stream (one streaming design per approach) and GET /metrics.

    \b
    Try:
      curl -N 'http://127.0.0.1:8080/stream?format=sse&count=5&interval_ms=200'
      curl -N 'http://127.0.0.1:8080/stream?format=ndjson&count=10&fail_after=3'
      curl 'http://127.0.0.1:8080/metrics'
    """
    import logging

    from aiohttp import web

    from ..web.demo import create_app

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    click.echo(f"rxspike demo server on http://{host}:{port} (GET /stream, GET /metrics)")
    web.run_app(create_app(), host=host, port=port, print=None)
