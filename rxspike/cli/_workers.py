"""``rxspike serve --workers N``: the demo in N processes, under gunicorn's aiohttp worker.

gunicorn's arbiter binds the socket and forks N workers (``aiohttp.GunicornWebWorker``); each
worker builds its own application on its own event loop and accepts from the shared socket.
``SIGTERM`` to the arbiter is a graceful stop: each worker shuts its application down (open
streams end at once with reason ``shutdown``, see :func:`rxspike.web.setup`) and the arbiter
waits up to ``graceful_timeout`` seconds for them. gunicorn is an optional dependency
(``pip install 'rxspike[workers]'``); this module imports it, so import it only when needed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from gunicorn.app.base import BaseApplication

#: gunicorn's worker class for aiohttp applications (aiohttp's own ``aiohttp.worker``).
WORKER_CLASS = "aiohttp.GunicornWebWorker"


def demo_app(
    redis_url: str | None = None, publish_rate: float = 0.0
) -> Callable[[], Awaitable[web.Application]]:
    """The factory of each worker's application, built after the fork on its own loop."""

    async def build() -> web.Application:
        from ..demo import make_app

        return make_app(redis_url=redis_url, publish_rate=publish_rate)

    return build


class DemoServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn's Python API: the settings come from here, not from gunicorn's command line."""

    def __init__(
        self, settings: dict[str, Any], app: Callable[[], Awaitable[web.Application]]
    ) -> None:
        self._settings = settings
        self._app = app
        super().__init__()  # calls load_config()

    def load_config(self) -> None:
        for name, value in self._settings.items():
            self.cfg.set(name, value)
        # Recent gunicorn (27 here) opens a control socket, ~/.gunicorn/gunicorn.ctl: one path
        # per user, so two servers (two test runs, say) would clash on it.
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Any:
        return self._app


def serve_workers(
    host: str,
    port: int,
    workers: int,
    *,
    graceful_timeout: int = 10,
    redis_url: str | None = None,
    publish_rate: float = 0.0,
) -> None:
    """Run the demo in ``workers`` processes until the arbiter is told to stop (each with
    its own Redis client and, with ``publish_rate``, its own publisher)."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    DemoServer(
        {
            "bind": [bind],
            "workers": workers,
            "worker_class": WORKER_CLASS,
            "graceful_timeout": graceful_timeout,
            "proc_name": "rxspike-serve",
        },
        demo_app(redis_url, publish_rate),
    ).run()
