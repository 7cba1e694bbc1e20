"""Open-loop Poisson load: each model gets its own arrival process, every request on its own schedule.

Latency is measured from the scheduled arrival, so a slow answer cannot slow the arrivals down and hide
itself (no coordinated omission). Low rates (1-5 requests/s per model) need no more than one asyncio loop.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import aiohttp

TARGET = "X-Amzn-SageMaker-Target-Container-Hostname"


@dataclass(frozen=True)
class Stream:
    url: str  # coserve's /endpoints/<ep>/invocations
    hostname: str
    body: bytes
    rate: float  # mean requests per second


@dataclass
class Outcome:
    latencies_ms: list[float] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)  # (arrival, answer) per latency, perf_counter s
    errors: dict[str, int] = field(default_factory=dict)  # status or exception name -> count


async def _one(session: aiohttp.ClientSession, s: Stream, due: float, out: Outcome) -> None:
    headers = {"Content-Type": "application/json", TARGET: s.hostname}
    try:
        async with session.post(s.url, data=s.body, headers=headers) as resp:
            await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        out.errors[type(exc).__name__] = out.errors.get(type(exc).__name__, 0) + 1
        return
    if status == 200:
        end = time.perf_counter()
        out.latencies_ms.append((end - due) * 1000)
        out.spans.append((due, end))
    else:
        out.errors[str(status)] = out.errors.get(str(status), 0) + 1


async def _arrivals(session: aiohttp.ClientSession, s: Stream, seconds: float, rng: random.Random,
                    out: Outcome) -> None:  # fmt: skip
    start = time.perf_counter()
    due = start + rng.expovariate(s.rate)
    pending: set[asyncio.Task[None]] = set()
    while due < start + seconds:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))  # pacing, not synchronisation
        task = asyncio.create_task(_one(session, s, due, out))
        pending.add(task)
        task.add_done_callback(pending.discard)
        due += rng.expovariate(s.rate)
    if pending:
        await asyncio.wait(pending)


async def _drive(streams: list[Stream], seconds: float, seed: int) -> dict[str, Outcome]:
    outcomes = {s.hostname: Outcome() for s in streams}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(
            _arrivals(session, s, seconds, random.Random(f"{seed}-{s.hostname}"), outcomes[s.hostname])
            for s in streams
        ))  # fmt: skip
    return outcomes


def drive(streams: list[Stream], seconds: float, seed: int = 0) -> dict[str, Outcome]:
    """Run every stream at once for `seconds`; each stream's arrivals are reproducible from the seed."""
    return asyncio.run(_drive(streams, seconds, seed))


def warm(streams: list[Stream], requests: int = 3) -> None:
    """A few requests per model before measuring: lazy imports and first-call compilation stay out."""
    asyncio.run(_drive([Stream(s.url, s.hostname, s.body, requests / 0.5) for s in streams], 0.5, 99))
