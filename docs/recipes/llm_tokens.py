"""Recipe: LLM tokens as server-sent events, resumable after a dropped connection.

Each token is an event whose ``id`` is its position in the answer. When the connection
drops, ``EventSource`` reconnects with ``Last-Event-ID: <position>`` and ``resume=``
continues with the next token, so the client sees every token once. The model is a stand-in
(an async generator that "generates" an answer word by word); its ``finally`` releases the
model session with an ``await``, and that runs to its end however the stream ends.

    python docs/recipes/llm_tokens.py            # then:
    curl -N 'http://127.0.0.1:8080/chat?prompt=hello'
    curl -N -H 'Last-Event-ID: 3' 'http://127.0.0.1:8080/chat?prompt=hello'
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from aiohttp import web

import rxspike.web

#: Seconds between tokens: a model's pace.
TOKEN_INTERVAL = 0.02


async def generate(prompt: str, start: int = 0) -> AsyncIterator[dict[str, object]]:
    """The model's answer to ``prompt``, one token at a time, from token ``start`` on."""
    words = f"You said {prompt!r}; here is the answer, token by token.".split()
    session = {"open": True}  # stands in for a model or inference-server session
    try:
        for position in range(start, len(words)):
            await asyncio.sleep(TOKEN_INTERVAL)
            yield {"position": position, "token": words[position]}
    finally:
        await asyncio.sleep(0)  # e.g. await session.close(): it finishes, even after a cancel
        session["open"] = False


async def chat(request: web.Request) -> web.StreamResponse:
    prompt = request.query.get("prompt", "")

    def resume(last_event_id: str) -> AsyncIterator[dict[str, object]]:
        # A malformed id raises ValueError, which answers 400.
        return generate(prompt, start=int(last_event_id) + 1)

    return await rxspike.web.sse(
        request,
        generate(prompt),
        id=lambda token: token["position"],
        event="token",
        retry=1000,
        resume=resume,
    )


def make_app() -> web.Application:
    app = web.Application()
    rxspike.web.setup(app)  # graceful shutdown and the stream registry
    app.router.add_get("/chat", chat)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8080")))
