"""Wiring rxspike's streams into an aiohttp application: metrics and a clean shutdown."""

from __future__ import annotations

from aiohttp import web

from .metrics import StreamRegistry, default_registry

#: Where :func:`setup` keeps the application's registry.
REGISTRY_KEY = web.AppKey("rxspike.web.registry", StreamRegistry)


def setup(
    app: web.Application,
    registry: StreamRegistry | None = None,
    *,
    shutdown_timeout: float = 5.0,
) -> StreamRegistry:
    """Give ``app`` its own stream registry, and end its open streams at shutdown.

    Without this, streams count into :data:`~rxspike.web.metrics.default_registry` and an
    open stream holds aiohttp's shutdown for its whole ``shutdown_timeout`` (twice). With it,
    ``on_shutdown`` stops every open stream (reason ``shutdown``: the format's error frame,
    then the abort policy) and waits up to ``shutdown_timeout`` seconds for them to end.
    Call it before the application starts.

    >>> app = web.Application()
    >>> registry = setup(app)
    >>> app[REGISTRY_KEY] is registry
    True
    """
    registry = registry if registry is not None else StreamRegistry()
    app[REGISTRY_KEY] = registry

    async def end_streams(_: web.Application) -> None:
        await registry.shutdown(shutdown_timeout)

    app.on_shutdown.append(end_streams)
    return registry


def registry_for(request: web.BaseRequest) -> StreamRegistry:
    """The registry of the request's application (or a parent's), else the default one."""
    if isinstance(request, web.Request):
        found = request.config_dict.get(REGISTRY_KEY)
        if found is not None:
            return found
    return default_registry
