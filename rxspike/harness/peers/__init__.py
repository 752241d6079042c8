"""The peers: what a team would use instead of rxspike, served for the harness.

Each peer is a small program of the kind its library's documentation shows, serving
``GET /stream`` with the same items as the demo server (:mod:`.source`): ``count`` SSE
events of ``size`` bytes, one every ``interval_ms``, ``id`` = sequence number, the source
failing after ``fail_after`` items if asked. The harness runs each in its own process:

- :mod:`.aiohttp_handler`: a competent hand-written aiohttp handler (a bounded queue between
  the source and the socket, coalesced writes, disconnect and shutdown handling, an error
  frame after the headers);
- :mod:`.aiohttp_sse`: aiohttp-sse's ``sse_response``, as its README writes it;
- :mod:`.sse_starlette`: sse-starlette's ``EventSourceResponse`` on Starlette and uvicorn
  (served by :mod:`.uvicorn_server`).

They need the ``peers`` extra (``pip install 'rxspike[peers]'``), which ``harness`` includes.
"""

#: Each peer's application factory (``module:callable``), served by the harness launcher.
APPS = {
    "aiohttp-handler": "rxspike.harness.peers.aiohttp_handler:create_app",
    "aiohttp-sse": "rxspike.harness.peers.aiohttp_sse:create_app",
    "sse-starlette": "rxspike.harness.peers.sse_starlette:create_app",
}
#: The modules each peer imports beyond aiohttp (what the ``peers`` extra installs).
REQUIRES = {
    "aiohttp-handler": (),
    "aiohttp-sse": ("aiohttp_sse",),
    "sse-starlette": ("sse_starlette", "starlette", "uvicorn"),
}
