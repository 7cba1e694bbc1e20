"""Work the supervisor asks for and collects on a later tick: artifact fetches and /ping probes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

log = logging.getLogger("runtime.supervisor")


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: BaseException | None = None


class Work(Protocol):
    def start_fetch(self, hostname: str, url: str | None) -> None: ...

    def start_probe(self, hostname: str, url: str, timeout: float) -> None: ...

    def busy(self, key: str) -> bool: ...

    def take(self, key: str) -> Outcome | None:
        """The finished outcome for `fetch:<host>` or `probe:<host>`, once; None while pending."""
        ...


class AsyncWork:
    """Runs on the event loop: fetches in a thread pool, probes with one pooled HTTP session."""

    def __init__(
        self,
        fetch: Callable[[str, str | None], object],  # a model dir, or a Prepared (prepared.py)
        ready: Callable[[str, int, bytes], bool],
        fetch_threads: int = 4,
    ) -> None:
        self._fetch = fetch
        self._ready = ready
        self._pool = ThreadPoolExecutor(fetch_threads, thread_name_prefix="fetch")
        self._tasks: dict[str, asyncio.Future[Any]] = {}
        self._session: aiohttp.ClientSession | None = None

    def start_fetch(self, hostname: str, url: str | None) -> None:
        loop = asyncio.get_running_loop()
        self._tasks[f"fetch:{hostname}"] = loop.run_in_executor(self._pool, self._fetch, hostname, url)

    def start_probe(self, hostname: str, url: str, timeout: float) -> None:
        self._run(f"probe:{hostname}", self._probe(hostname, url, timeout))

    def _run(self, key: str, coro: Awaitable[Any]) -> None:
        self._tasks[key] = asyncio.ensure_future(coro)

    async def _probe(self, hostname: str, url: str, seconds: float) -> bool:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds))
        try:
            async with self._session.get(url) as resp:
                return self._ready(hostname, resp.status, await resp.read())
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    def busy(self, key: str) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()

    def take(self, key: str) -> Outcome | None:
        task = self._tasks.get(key)
        if task is None or not task.done():
            return None
        del self._tasks[key]
        if task.cancelled():
            return Outcome(error=RuntimeError("cancelled"))
        exc = task.exception()
        return Outcome(error=exc) if exc is not None else Outcome(value=task.result())

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._session is not None:
            await self._session.close()
