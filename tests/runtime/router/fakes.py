"""A scripted upstream and a host table for in-process router tests.

The upstream is a fake on purpose: these are unit tests of the invoke path (what goes to which container, and
every error's status, code and message). The real upstream client against real processes is tested in
tests/integration and tests/hostile.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from multidict import CIMultiDict, CIMultiDictProxy

from runtime.errors import ModelError
from runtime.router import Router, RouterSettings, build_app
from runtime.router.app import FrontDoorApp, Guard
from runtime.router.upstream import Answer, Upstream, failure
from runtime.routing import ContainerRoute, EndpointTable, HostTable, TableSource


@dataclass
class Reply:
    """What a fake container answers: status, body, headers, and how long it takes."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0


@dataclass
class Call:
    hostname: str
    body: bytes
    headers: dict[str, str]
    seconds: float


class FakeUpstream(Upstream):
    """Answers each container from a script (hostname -> Reply, or a function of the body), records every call.
    A delay past the time the router allows is answered as the real client does: the timeout's ModelError."""

    def __init__(self, script: Mapping[str, Reply | Callable[[bytes], Reply]]) -> None:
        super().__init__()
        self.script = dict(script)
        self.calls: list[Call] = []
        self.gate: asyncio.Event | None = None  # when set, every call waits for it
        self.arrived = asyncio.Event()  # set at each call

    async def reached(self, calls: int) -> None:
        """Until `calls` calls have arrived (5 s at most)."""
        async with asyncio.timeout(5):
            while len(self.calls) < calls:
                self.arrived.clear()
                await self.arrived.wait()

    async def call(self, route: ContainerRoute, body: bytes, headers: Mapping[str, str],
                   seconds: float) -> Answer | ModelError:  # fmt: skip
        self.calls.append(Call(route.hostname, body, dict(headers), seconds))
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        entry = self.script[route.hostname]
        reply = entry(body) if callable(entry) else entry
        if reply.delay > seconds:
            await asyncio.sleep(seconds)
            return failure(route, TimeoutError(), seconds)
        await asyncio.sleep(reply.delay)
        headers_out: CIMultiDict[str] = CIMultiDict(reply.headers)
        return Answer(reply.status, reply.body, CIMultiDictProxy(headers_out), reply.delay)


def route(hostname: str, port: int, state: str = "RUNNING") -> ContainerRoute:
    return ContainerRoute(hostname, port, state, f"/logs/{hostname}.log")


def endpoint(name: str, mode: str, *routes: ContainerRoute, variant: str = "AllTraffic") -> EndpointTable:
    return EndpointTable(name, variant, mode, routes)


def front_door(table: HostTable, upstream: FakeUpstream, guard: Guard | None = None,
               **settings: Any) -> tuple[FrontDoorApp, Router, list[Any]]:  # fmt: skip
    """The front door over `table` with the fake upstream; the list collects what the observer is told."""
    seen: list[Any] = []
    router = Router(TableSource(table), RouterSettings(**settings), guard, lambda *a: seen.append(a))
    router.upstream = upstream
    return build_app(router), router, seen


async def post(app: FrontDoorApp, path: str, body: bytes = b"{}", **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://door") as client:
        return await client.post(path, content=body, headers={k.replace("_", "-"): v for k, v in headers.items()})


async def get(app: FrontDoorApp, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://door") as client:
        return await client.get(path)


def error(resp: httpx.Response) -> tuple[int, str, str, dict[str, Any]]:
    """(status, code from x-amzn-ErrorType, message, body): the error as botocore reads it."""
    doc = json.loads(resp.content)
    code = resp.headers["x-amzn-ErrorType"].split(":")[0]
    assert doc["__type"] == code, "the header and the body name the same error"
    assert resp.headers["content-type"] == "application/json"
    return resp.status_code, code, doc["message"], doc
