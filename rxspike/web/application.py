"""Wiring rxspike's streams into an aiohttp application: metrics and a graceful shutdown."""

from __future__ import annotations

from aiohttp import web

from .metrics import StreamRegistry, default_registry

#: Where :func:`setup` keeps the application's registry.
REGISTRY_KEY = web.AppKey("rxspike.web.registry", StreamRegistry)


def setup(
    app: web.Application,
    registry: StreamRegistry | None = None,
    *,
    grace: float = 5.0,
) -> StreamRegistry:
    """Give ``app`` its own stream registry, and end its open streams cleanly at shutdown.

    Without this, streams count into :data:`~rxspike.web.metrics.default_registry` and an
    open stream holds aiohttp's shutdown for its whole ``shutdown_timeout`` (60 s, twice)
    before it is cut. With it, ``on_shutdown`` (which aiohttp runs before it waits for the
    handlers) stops every open stream's source, lets each write its goodbye (SSE: a
    ``retry:`` hint, so browsers reconnect to another instance; NDJSON: a 503 error record)
    and end its response cleanly, and cuts the connections still busy after ``grace``
    seconds. Call it before the application starts.

    >>> app = web.Application()
    >>> registry = setup(app, grace=10)
    >>> app[REGISTRY_KEY] is registry
    True
    """
    if isinstance(grace, bool) or not grace >= 0:
        raise ValueError(f"setup(grace) must be a number of seconds >= 0, got {grace!r}")
    registry = registry if registry is not None else StreamRegistry()
    app[REGISTRY_KEY] = registry

    async def end_streams(_: web.Application) -> None:
        await registry.shutdown(grace)

    app.on_shutdown.append(end_streams)
    return registry


def registry_for(request: web.BaseRequest) -> StreamRegistry:
    """The registry of the request's application (or a parent's), else the default one."""
    if isinstance(request, web.Request):
        found = request.config_dict.get(REGISTRY_KEY)
        if found is not None:
            return found
    return default_registry
