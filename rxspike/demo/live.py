"""The demo server's live page (``GET /``): one stream in the browser, through EventSource.

The page is a self-contained HTML file shipped with the package (``static/live.html``: no CDN,
no build step, it works offline). It opens an ``EventSource`` on ``/stream?format=sse&...``
with the parameters its form sets, shows the sequence numbers as they arrive, the gaps and
duplicates among them, the disconnects and reconnects (the browser resumes with
``Last-Event-ID``), and polls ``/metrics`` once a second. Query parameters of the page itself
fill its form (``/?count=100&interval_ms=20&drop_after=30``); ``autostart=1`` starts at once.

>>> "EventSource" in page_html()
True
"""

from __future__ import annotations

import functools
from importlib import resources

from aiohttp import web


@functools.cache
def page_html() -> str:
    """The page's HTML, read once from the package."""
    return resources.files("rxspike.demo").joinpath("static", "live.html").read_text("utf-8")


async def live_page(request: web.Request) -> web.Response:
    """``GET /``: the live page."""
    return web.Response(
        text=page_html(), content_type="text/html", headers={"Cache-Control": "no-cache"}
    )
