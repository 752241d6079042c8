"""The demo server's live page (``GET /``): one stream in the browser, through EventSource.

The page is a self-contained HTML file shipped with the package (``static/live.html``: no CDN,
no build step, it works offline). It opens an ``EventSource`` on ``/stream?format=sse&...``
with the parameters its form sets, shows the sequence numbers as they arrive, the gaps and
duplicates among them, the disconnects and reconnects (the browser resumes with
``Last-Event-ID``), the end (all items, then the server's ``204``) and a failure (the
server's error event; the page stops unless it says ``retry``), and polls ``/metrics`` once
a second. Query parameters of the page itself fill its form
(``/?count=100&interval_ms=20&drop_after=30``); ``autostart=1`` starts at once.

>>> "EventSource" in page_html() and "__ERROR_EVENT__" not in page_html()
True
"""

from __future__ import annotations

import functools
import json
from importlib import resources

from aiohttp import web

from rxspike.web import ERROR_EVENT


@functools.cache
def page_html() -> str:
    """The page's HTML, read once from the package, with the name of the stream's error
    event (:data:`rxspike.web.ERROR_EVENT`) filled in: the name is defined once."""
    html = resources.files("rxspike.demo").joinpath("static", "live.html").read_text("utf-8")
    return html.replace("__ERROR_EVENT__", json.dumps(ERROR_EVENT))


async def live_page(request: web.Request) -> web.Response:
    """``GET /``: the live page."""
    return web.Response(
        text=page_html(), content_type="text/html", headers={"Cache-Control": "no-cache"}
    )
