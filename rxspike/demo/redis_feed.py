"""``approach=redis``: the demo's feed kept in a Redis stream that every worker reads.

With ``rxspike serve --redis-url URL`` the application holds one Redis client
(:data:`REDIS_KEY`), and ``GET /stream?approach=redis`` streams the feed at
:data:`FEED_KEY`: entries carrying sequence numbers 0, 1, 2, ... from the first on, until
the stream has delivered ``count`` of them. Its SSE ids are the Redis entry ids, so a client
that reconnects with ``Last-Event-ID`` to any worker of the same Redis continues from Redis,
with no gap and no duplicate; a malformed id answers 400.

Something must fill the feed: ``POST /publish?count=N`` appends N entries (any worker, any
time), and ``--publish-rate R`` runs a task in each server process that appends R per
second. Each entry's sequence number comes from one Redis counter, taken in the same
script as its ``XADD``, so several publishers make one sequence in id order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import reactivex.operators as ops
from aiohttp import web
from redis.asyncio import Redis

import rxspike
from rxspike.operators import fuse
from rxspike.redis import (
    InvalidEntryIdError,
    RedisUnavailableError,
    StreamEntry,
    parse_entry_id,
    stream_source,
)
from rxspike.web import FAILED_ID, ServerSentEvent, StreamOptions, stream

from .names import Format
from .params import BadParameter, Params
from .sources import dropping, encoder_for, payload

#: The demo feed's stream key, and the counter its sequence numbers come from.
FEED_KEY = "rxspike:demo:feed"
SEQ_KEY = "rxspike:demo:feed:seq"
#: About how many entries the feed keeps (``MAXLEN ~``): the reconnect window it allows.
FEED_MAXLEN = 1_000_000
#: The most entries one ``POST /publish`` appends.
MAX_PUBLISH = 1_000_000

#: Options of a feed stream: Redis out of reach before the first entry is a 503; a frozen
#: client is let go after a minute, as in the other approaches.
FEED_OPTIONS = StreamOptions(statuses={RedisUnavailableError: 503}, send_timeout=60.0)

#: Where the application keeps its Redis client (absent: no ``--redis-url``).
REDIS_KEY = web.AppKey("rxspike.demo.redis", Redis)

# INCR and XADD in one script: sequence numbers rise with the ids, whoever publishes.
_PUBLISH = """
local last
for i = 1, tonumber(ARGV[1]) do
  local seq = redis.call('INCR', KEYS[2]) - 1
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'seq', seq)
  last = seq
end
return last
"""


async def publish(client: Redis, count: int) -> int:
    """Append ``count`` entries to the feed; the last sequence number given out."""
    last: int = await client.eval(_PUBLISH, 2, FEED_KEY, SEQ_KEY, count, FEED_MAXLEN)
    return last


async def publisher(client: Redis, rate: float) -> None:
    """Append ``rate`` entries per second, in ticks of 20 ms, until cancelled."""
    tick = 0.02
    owed = 0.0
    while True:
        owed += rate * tick
        if owed >= 1:
            whole = int(owed)
            owed -= whole
            with contextlib.suppress(ConnectionError, OSError):  # Redis away: skip the tick
                await publish(client, whole)
        await asyncio.sleep(tick)


def redis_context(
    url: str, publish_rate: float = 0.0
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The application's cleanup context: the client, and the publisher task if asked."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        client = app[REDIS_KEY] = Redis.from_url(url, decode_responses=True)
        task = asyncio.create_task(publisher(client, publish_rate)) if publish_rate else None
        yield
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await client.aclose()

    return context


def redis_client(request: web.Request) -> Redis:
    """The application's client (set up by :func:`install`)."""
    return request.app[REDIS_KEY]


def resume_after(headers: Any) -> str:
    """Where the feed starts: after the ``Last-Event-ID`` (a Redis entry id), or at its
    first entry. A malformed id is a 400 that says what an entry id looks like."""
    last = headers.get("Last-Event-ID")
    if not last or last == FAILED_ID:  # FAILED_ID: the stream answers 204 by itself
        return "0"
    try:
        parse_entry_id(last)
    except InvalidEntryIdError as error:
        raise BadParameter("Last-Event-ID", str(error), "a Redis stream entry id") from None
    return str(last)


async def feed_source(client: Redis, params: Params, after: str) -> rxspike.Flowable[Any]:
    """The feed after ``after``, as the format's items, ending with sequence ``count - 1``
    (empty when the entry at ``after`` was that one or later: the client has it all).

    Through a small fused segment (prefetch 16): the XREADs follow the socket's demand.
    """
    size, last = params.size, params.count - 1
    if last < 0:
        return rxspike.empty()
    if after != "0":
        found: Any = await client.xrange(FEED_KEY, after, after)
        if found and int(found[0][1]["seq"]) >= last:
            return rxspike.empty()

    def item(entry: StreamEntry) -> Any:
        seq = int(entry.fields["seq"])
        if params.format is Format.SSE:
            return ServerSentEvent(payload(seq, size), id=entry.id)
        if params.format is Format.NDJSON:
            return {"seq": seq, "id": entry.id, "data": payload(seq, size)}
        return seq.to_bytes(8, "big") + b"x" * (size - 8)

    def before_end(entry: StreamEntry) -> bool:
        return int(entry.fields["seq"]) < last

    return stream_source(client, FEED_KEY, after=after).pipe(
        fuse(ops.take_while(before_end, inclusive=True), ops.map(item), prefetch=16)
    )


async def stream_feed(request: web.Request, params: Params) -> web.StreamResponse:
    """``GET /stream?approach=redis``: the feed, resumable on any worker by entry id."""
    client = redis_client(request)
    after = resume_after(request.headers)
    source = await feed_source(client, params, after)
    if params.drop_after is not None:
        source = source.pipe(dropping(request, params.drop_after))
    return await stream(
        request,
        source,
        encoder_for(params),
        options=FEED_OPTIONS,
        resumed_from=None if after == "0" else after,
    )


def install(
    app: web.Application, url: str, publish_rate: float = 0.0
) -> Callable[[web.Request, Params], Awaitable[web.StreamResponse]]:
    """Give ``app`` its Redis client, ``POST /publish`` and, with a ``publish_rate``, the
    publisher task; returns the ``approach=redis`` handler."""
    app.cleanup_ctx.append(redis_context(url, publish_rate))
    app.router.add_post("/publish", publish_handler)
    return stream_feed


async def publish_handler(request: web.Request) -> web.Response:
    """``POST /publish?count=N``: append N entries to the feed; answers the last seq."""
    client = redis_client(request)
    text = request.query.get("count", "1")
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_PUBLISH:
        raise BadParameter(
            "count", f"count must be an integer in 1..{MAX_PUBLISH}, got {text!r}", "1.."
        )
    return web.json_response({"last_seq": await publish(client, count), "key": FEED_KEY})
