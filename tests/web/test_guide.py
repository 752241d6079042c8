"""Every program in docs/guide.md runs, against a real server, and says what the guide says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import ServeFactory

GUIDE = Path(__file__).parents[2] / "docs" / "guide.md"
PROGRAMS = [
    block
    for block in re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    if "app = web.Application()" in block
]

EXPECTED: dict[str, bytes] = {
    "/squares?count=5": b'data: {"n":0,"square":0}\n\ndata: {"n":2,"square":4}\n\n'
    b'data: {"n":4,"square":16}\n\n',
    "/export?limit=3": b'{"id":0,"name":"user 0"}\n{"id":1,"name":"user 1"}\n'
    b'{"id":2,"name":"user 2"}\n',
    "/download": GUIDE.read_bytes(),
    "/table": b"n,square\r\n0,0\r\n1,1\r\n2,4\r\n3,9\r\n",
    "/ticks?count=5": b"".join(b'data: {"tick":%d}\n\n' % n for n in range(5)),
}


def test_every_program_is_checked() -> None:
    assert len(PROGRAMS) == len(EXPECTED)


@pytest.mark.parametrize("handler_cancellation", [False], ids=["production"])
@pytest.mark.parametrize(("index", "path"), list(enumerate(EXPECTED)), ids=list(EXPECTED))
async def test_guide_program(
    serve: ServeFactory, session: aiohttp.ClientSession, index: int, path: str
) -> None:
    namespace: dict[str, Any] = {"__name__": "guide_example", "__file__": str(GUIDE)}
    exec(compile(PROGRAMS[index], f"{GUIDE}:program {index + 1}", "exec"), namespace)
    served = await serve(app=namespace["app"])
    async with session.get(served.url + path) as response:
        assert response.status == 200
        assert await response.read() == EXPECTED[path]
