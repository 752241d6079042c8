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
@click.option(
    "--redis-url",
    default=None,
    metavar="URL",
    help="Serve the Redis-backed feed too (GET /stream?approach=redis, POST /publish), "
    "e.g. redis://127.0.0.1:6379/0; needs pip install 'rxspike[redis]'.",
)
@click.option(
    "--publish-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 100_000),
    help="Entries per second this server appends to the Redis feed (with --redis-url).",
)
def serve(host: str, port: int, workers: int, redis_url: str | None, publish_rate: float) -> None:
    """Serve the demo: the live page GET /, GET /stream (one streaming design per approach)
    and GET /metrics.

    \b
    Try:
      open http://127.0.0.1:8080/ in a browser
      curl -N 'http://127.0.0.1:8080/stream?format=sse&count=5&interval_ms=200'
      curl -N 'http://127.0.0.1:8080/stream?format=ndjson&count=10&fail_after=3'
      curl 'http://127.0.0.1:8080/metrics'

    \b
    With --redis-url every worker serves one feed, resumable on any of them:
      curl -X POST 'http://127.0.0.1:8080/publish?count=100'
      curl -N 'http://127.0.0.1:8080/stream?approach=redis&count=100'
    """
    import logging

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    where = f"rxspike demo server on http://{host}:{port} (GET /, GET /stream, GET /metrics)"
    if publish_rate and redis_url is None:
        raise click.UsageError("--publish-rate needs --redis-url")
    if redis_url is not None:
        try:
            import redis  # noqa: F401
        except ImportError as missing:
            raise click.ClickException(
                f"--redis-url needs redis-py ({missing}); "
                "install it with: pip install 'rxspike[redis]'"
            ) from None
        where += f", Redis feed at {redis_url}"

    if workers > 1:
        try:
            from ._workers import serve_workers
        except ImportError as missing:
            raise click.ClickException(
                f"--workers {workers} needs gunicorn ({missing}); "
                "install it with: pip install 'rxspike[workers]'"
            ) from None
        click.echo(f"{where}, {workers} worker processes under gunicorn")
        serve_workers(host, port, workers, redis_url=redis_url, publish_rate=publish_rate)
        return

    from aiohttp import web

    from ..demo import make_app

    click.echo(where)
    app = make_app(redis_url=redis_url, publish_rate=publish_rate)
    web.run_app(app, host=host, port=port, print=None)
