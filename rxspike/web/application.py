"""Wiring rxspike's streams into an aiohttp application: metrics and a graceful shutdown."""

from __future__ import annotations

import importlib
import logging
import weakref

from aiohttp import web

from .metrics import StreamRegistry, default_registry

logger = logging.getLogger("rxspike.web")

#: Where :func:`setup` keeps the application's registry.
REGISTRY_KEY = web.AppKey("rxspike.web.registry", StreamRegistry)

#: Where ``setup(app, prometheus=True)`` serves the Prometheus exposition.
DEFAULT_PROMETHEUS_PATH = "/metrics"

#: Applications already warned that they stream without ``setup(app)``.
_warned: weakref.WeakSet[web.Application] = weakref.WeakSet()


def setup(
    app: web.Application,
    registry: StreamRegistry | None = None,
    *,
    grace: float = 5.0,
    prometheus: bool | str = False,
) -> StreamRegistry:
    """Give ``app`` its own stream registry, and end its open streams cleanly at shutdown.

    Without this, streams count into :data:`~rxspike.web.metrics.default_registry` and an
    open stream holds aiohttp's shutdown for its whole ``shutdown_timeout`` (60 s, twice)
    before it is cut. With it, ``on_shutdown`` (which aiohttp runs before it waits for the
    handlers) stops every open stream's source, lets each write its goodbye (SSE: a
    ``retry:`` hint, so browsers reconnect to another instance; NDJSON: a 503 error record)
    and end its response cleanly, and cuts the connections still busy after ``grace``
    seconds. Call it before the application starts. A stream on an application without it
    logs a WARNING, once per application.

    ``prometheus=True`` also serves the registry's metrics in the Prometheus text format at
    ``GET /metrics`` (:func:`metrics_handler`; a string is another path). It needs the
    ``metrics`` extra, ``pip install 'rxspike[metrics]'``.

    >>> app = web.Application()
    >>> registry = setup(app, grace=10)
    >>> app[REGISTRY_KEY] is registry
    True

    Raises:
        ValueError: ``grace`` is not a number of seconds ``>= 0``, or ``prometheus`` is a
            path that does not start with ``/``.
        ImportError: ``prometheus`` was asked for, and prometheus_client is not installed.
    """
    if isinstance(grace, bool) or not grace >= 0:
        raise ValueError(f"setup(grace) must be a number of seconds >= 0, got {grace!r}")
    path = DEFAULT_PROMETHEUS_PATH if prometheus is True else prometheus
    if path is not False:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(
                f"setup(prometheus) must be True, False or a path starting with '/', "
                f"got {prometheus!r}"
            )
        importlib.import_module(f"{__package__}.prometheus")  # fail now, not at the scrape
    registry = registry if registry is not None else StreamRegistry()
    app[REGISTRY_KEY] = registry
    if isinstance(path, str):
        app.router.add_get(path, metrics_handler)

    async def end_streams(_: web.Application) -> None:
        await registry.shutdown(grace)

    app.on_shutdown.append(end_streams)
    return registry


def registry_for(request: web.BaseRequest) -> StreamRegistry:
    """The registry of the request's application (or a parent's), else the default one
    (logging a WARNING the first time an application has none: see :func:`setup`)."""
    if isinstance(request, web.Request):
        found = request.config_dict.get(REGISTRY_KEY)
        if found is not None:
            return found
        if request.app not in _warned:
            _warned.add(request.app)
            logger.warning(
                "streaming on an application without rxspike.web.setup(app): its streams "
                "count in rxspike.web.default_registry, and at shutdown aiohttp waits out "
                "its shutdown_timeout (60 s, twice) and then cuts them; call "
                "rxspike.web.setup(app) before the application starts"
            )
    return default_registry


async def metrics_handler(request: web.Request) -> web.Response:
    """``GET``: the request's registry in the Prometheus text format (see
    :mod:`rxspike.web.prometheus`; needs the ``metrics`` extra).

    ``app.router.add_get("/metrics", rxspike.web.metrics_handler)``, or
    ``setup(app, prometheus=True)``.
    """
    from .prometheus import exposition  # the optional dependency, imported when used

    body, content_type = exposition(registry_for(request), request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})
