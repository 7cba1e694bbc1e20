"""The upstream client: pooled keep-alive connections to containers on 127.0.0.1.

aiohttp, not httpx: httpx's pool costs about 10x in throughput here (see DESIGN.md's measurements).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDictProxy

from runtime.errors import ModelError
from runtime.routing import Route


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: CIMultiDictProxy[str]
    seconds: float  # time spent waiting on the container


class Upstream:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30, ttl_dns_cache=None)
            # Containers see the client's headers, not aiohttp's defaults (an Accept of */* would mislead a
            # Serial pipeline's intermediate container, which must get no Accept at all).
            skip = ("User-Agent", "Content-Type", "Accept", "Accept-Encoding")
            self._session = aiohttp.ClientSession(connector=connector, skip_auto_headers=skip)
        return self._session

    async def call(self, route: Route, body: bytes, headers: Mapping[str, str], seconds: float) -> Answer:
        """POST /invocations to one container; a reset or a timeout becomes a ModelError naming it."""
        started = time.perf_counter()
        url = f"http://127.0.0.1:{route.port}/invocations"
        try:
            async with self._client().post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=seconds)
            ) as resp:
                data = await resp.read()
                return Answer(resp.status, data, resp.headers, time.perf_counter() - started)
        except TimeoutError as exc:
            raise ModelError(
                f"Your invocation timed out while waiting for a response from container {route.hostname}. "
                f"Review the latency of the container, resolve the issue, and try again. See {route.log_path}.",
                OriginalStatusCode=504, OriginalMessage=f"no response within {seconds:g}s",
                LogStreamArn=route.log_path,
            ) from exc  # fmt: skip
        except aiohttp.ClientError as exc:
            raise ModelError(
                f"Received server error (0) from {route.hostname} with message \"connection failed: {exc}\". "
                f"See {route.log_path} for more information.",
                OriginalStatusCode=502, OriginalMessage=f"connection failed: {exc}"[:2048],
                LogStreamArn=route.log_path,
            ) from exc  # fmt: skip

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def model_error(route: Route, answer: Answer) -> ModelError:
    """A container's non-2xx answer in SageMaker's words, with its body as OriginalMessage."""
    kind = "client" if 400 <= answer.status < 500 else "server"
    text = answer.body.decode("utf-8", errors="replace")[:2048]
    return ModelError(
        f'Received {kind} error ({answer.status}) from {route.hostname} with message "{text}". '
        f"See {route.log_path} for more information.",
        ErrorCode=f"{kind.upper()}_ERROR_FROM_MODEL", OriginalStatusCode=answer.status,
        OriginalMessage=text, LogStreamArn=route.log_path,
    )  # fmt: skip
