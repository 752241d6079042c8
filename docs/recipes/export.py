"""Recipe: a large export from a blocking database, streamed as NDJSON without blocking the loop.

``sqlite3`` blocks: every fetch would stall every other request if it ran on the event loop.
``rxspike.from_blocking_iterable`` runs the cursor in a worker thread instead, one read per
unit of demand, so a slow client slows the reads down instead of filling memory. Each item
is one page of rows, already encoded as NDJSON lines: one hand-off to the thread per page,
not per row, and one write per page.

    python docs/recipes/export.py                # then:
    curl -N 'http://127.0.0.1:8080/export?rows=100000' | wc -l
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import web

import rxspike
import rxspike.web

#: Rows per page: one thread hand-off and one socket write each.
PAGE = 500
#: At most this many exports read the database at once; more wait for a thread.
READERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="export")
DATABASE = Path(tempfile.gettempdir()) / f"rxspike-export-recipe-{os.getpid()}.sqlite"


def create_database(rows: int = 100_000) -> None:
    with sqlite3.connect(DATABASE) as db:
        db.execute("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("DELETE FROM users")
        db.executemany("INSERT INTO users VALUES (?, ?)", ((n, f"user {n}") for n in range(rows)))


def pages(limit: int) -> Iterator[bytes]:
    """Blocking: NDJSON pages of the first ``limit`` users. Runs in a READERS thread."""
    # The reads of one export run one at a time, but not always on the same thread.
    db = sqlite3.connect(DATABASE, check_same_thread=False)
    try:
        cursor = db.execute("SELECT id, name FROM users ORDER BY id LIMIT ?", (limit,))
        while rows := cursor.fetchmany(PAGE):
            yield b"".join(
                json.dumps({"id": id_, "name": name}, separators=(",", ":")).encode() + b"\n"
                for id_, name in rows
            )
    finally:
        db.close()  # runs when the export ends, fails, or the client leaves


async def export(request: web.Request) -> web.StreamResponse:
    limit = int(request.query.get("rows", "1000"))
    source = rxspike.from_blocking_iterable(pages(limit), executor=READERS)
    return await rxspike.web.raw(request, source, media_type="application/x-ndjson")


async def remove_database(app: web.Application) -> None:
    DATABASE.unlink(missing_ok=True)


def make_app() -> web.Application:
    create_database()
    app = web.Application()
    rxspike.web.setup(app)
    app.router.add_get("/export", export)
    app.on_cleanup.append(remove_database)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8080")))
