"""Work the supervisor asks for and collects on a later tick: artifact fetches and readiness probes.

A probe carries its container's readiness check (the adapter's), so its outcome is the answer: nothing
calls back to find the adapter again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from runtime.supervisor.keys import WorkKey
from runtime.supervisor.units import Unit

log = logging.getLogger("runtime.supervisor")


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: BaseException | None = None


@dataclass(frozen=True)
class Probe:
    url: str  # the adapter's readiness URL
    timeout: float
    ready: Callable[[int, bytes], bool]  # the adapter's check of the answer's status and body


class Work(Protocol):
    def start_fetch(self, key: WorkKey, unit: Unit) -> None: ...

    def start_probe(self, key: WorkKey, probe: Probe) -> None: ...

    def busy(self, key: WorkKey) -> bool: ...

    def take(self, key: WorkKey) -> Outcome | None:
        """The finished outcome, once; None while pending. A probe's value is True when ready."""
        ...

    def forget(self, key: WorkKey) -> None:
        """Drop the work, pending or finished: its container is gone."""
        ...


class AsyncWork:
    """Runs on the event loop: fetches in a thread pool, probes with one pooled HTTP session."""

    def __init__(self, fetch: Callable[[Unit], object], fetch_threads: int = 4) -> None:  # a model dir or Prepared
        self._fetch = fetch
        self._pool = ThreadPoolExecutor(fetch_threads, thread_name_prefix="fetch")
        self._tasks: dict[WorkKey, asyncio.Future[Any]] = {}
        self._session: aiohttp.ClientSession | None = None

    def start_fetch(self, key: WorkKey, unit: Unit) -> None:
        loop = asyncio.get_running_loop()
        self._tasks[key] = loop.run_in_executor(self._pool, self._fetch, unit)

    def start_probe(self, key: WorkKey, probe: Probe) -> None:
        self._run(key, self._probe(probe))

    def _run(self, key: WorkKey, coro: Awaitable[Any]) -> None:
        self._tasks[key] = asyncio.ensure_future(coro)

    async def _probe(self, probe: Probe) -> bool:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.get(probe.url, timeout=aiohttp.ClientTimeout(total=probe.timeout)) as resp:
                return probe.ready(resp.status, await resp.read())
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    def busy(self, key: WorkKey) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()

    def take(self, key: WorkKey) -> Outcome | None:
        task = self._tasks.get(key)
        if task is None or not task.done():
            return None
        del self._tasks[key]
        if task.cancelled():
            return Outcome(error=RuntimeError("cancelled"))
        exc = task.exception()
        return Outcome(error=exc) if exc is not None else Outcome(value=task.result())

    def forget(self, key: WorkKey) -> None:
        task = self._tasks.pop(key, None)
        if task is not None and not task.done():
            task.cancel()  # a fetch already in its thread runs to its end; its result is dropped

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._session is not None:
            await self._session.close()
