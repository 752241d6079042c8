"""Every program in docs/guide.md runs, against a real server, and says what the guide says."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import ServeFactory

GUIDE = Path(__file__).parents[2] / "docs" / "guide.md"
#: The programs that need no Redis; those that import rxspike.redis are run against a real
#: redis-server by tests/redis/test_guide_scaling.py.
PROGRAMS = [
    block
    for block in re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    if "app = web.Application()" in block and "rxspike.redis" not in block
]


@dataclass(frozen=True)
class Check:
    """One request to one of the guide's programs, and the answer the guide promises."""

    program: int
    path: str
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return " ".join([self.path, *(f"{k}: {v}" for k, v in self.headers.items())])


#: Every program, in guide order, with one check or more.
CHECKS = [
    Check(0, "/squares?count=5", 200,
        b'data: {"n":0,"square":0}\n\ndata: {"n":2,"square":4}\n\n'
        b'data: {"n":4,"square":16}\n\n'),
    Check(1, "/export?limit=3", 200,
        b'{"id":0,"name":"user 0"}\n{"id":1,"name":"user 1"}\n{"id":2,"name":"user 2"}\n'),
    Check(2, "/download", 200, GUIDE.read_bytes()),
    Check(3, "/table", 200, b"n,square\r\n0,0\r\n1,1\r\n2,4\r\n3,9\r\n"),
    Check(4, "/ticks?count=5", 200, b"".join(b'data: {"tick":%d}\n\n' % n for n in range(5))),
    Check(5, "/prices", 200,
        b"retry: 2000\n\n"
        + b"".join(
            b'event: price\nid: %d\ndata: {"seq":%d,"price":%d}\n\n' % (n, n, price)
            for n, price in enumerate([101, 103, 102, 105, 107])
        )),
    Check(5, "/prices", 200,
        b'retry: 2000\n\nevent: price\nid: 3\ndata: {"seq":3,"price":105}\n\n'
        b'event: price\nid: 4\ndata: {"seq":4,"price":107}\n\n',
        {"Last-Event-ID": "2"}),
    Check(5, "/prices", 204, b"", {"Last-Event-ID": "4"}),
    Check(5, "/prices", 400,
        b'{"error": "rejected Last-Event-ID \'x\': invalid literal for int() with base 10: '
        b'\'x\'", "status": 400, "type": "InvalidLastEventId", "stream": 1}',
        {"Last-Event-ID": "x"}),
    Check(6, "/live", 200,
        b'data: {"n":0,"celsius":20.0}\n\ndata: {"n":1,"celsius":20.1}\n\n'
        b'data: {"n":2,"celsius":20.2}\n\n',
        {"Accept-Encoding": "gzip"}),
    Check(6, "/streams", 200, b"[]"),
]  # fmt: skip


def test_every_program_is_checked() -> None:
    assert {check.program for check in CHECKS} == set(range(len(PROGRAMS)))


@pytest.mark.parametrize("handler_cancellation", [False], ids=["production"])
@pytest.mark.parametrize("check", CHECKS, ids=[check.name for check in CHECKS])
async def test_guide_program(
    serve: ServeFactory, session: aiohttp.ClientSession, check: Check
) -> None:
    namespace: dict[str, Any] = {"__name__": "guide_example", "__file__": str(GUIDE)}
    program = PROGRAMS[check.program]
    exec(compile(program, f"{GUIDE}:program {check.program + 1}", "exec"), namespace)
    served = await serve(app=namespace["app"])
    async with session.get(served.url + check.path, headers=check.headers) as response:
        assert response.status == check.status
        assert await response.read() == check.body
