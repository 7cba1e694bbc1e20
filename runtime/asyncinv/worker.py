"""The asyncio task that drains the queue: claims each endpoint's oldest requests, at most its
MaxConcurrentInvocationsPerInstance at once, and runs each as a `Job`.

It wakes when the handler in the same process queues a request (`wake()`), when a job ends, and every `poll_s`
otherwise (a handler in another process writes the same file). Exactly one worker runs per queue file: `start()`
takes back whatever a previous process left running.

While the state file cannot be used (runtime.asyncinv.outage), requests stay queued; the outage is logged once
when found and once when over, not on every poll.

Shutdown, in order: stop claiming; give running jobs `drain_s` to finish; cancel the rest (their rows stay
claimed, and the next start runs them again, writing the same keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from runtime.asyncinv.config import AsyncConfig, EndpointNotFound, Lookup, NotAsync
from runtime.asyncinv.job import Done, Job, JobSettings
from runtime.asyncinv.outage import OutageLog, is_outage
from runtime.asyncinv.outcome import Invoker
from runtime.asyncinv.queue import AsyncQueue
from runtime.errors import SageMakerError
from runtime.storage.s3 import S3Client

log = logging.getLogger("runtime.asyncinv")
GONE_BATCH = 100  # requests of a deleted endpoint failed per pass


@dataclass(frozen=True)
class WorkerSettings:
    poll_s: float = 0.5  # how soon a request queued by another process is seen
    drain_s: float = 30.0  # at shutdown, how long running jobs may take to finish
    retention_s: float = 86_400.0  # finished rows are kept this long (a retried InferenceId is recognised)
    job: JobSettings = field(default_factory=JobSettings)


class AsyncWorker:
    def __init__(self, queue: AsyncQueue, lookup: Lookup, invoker: Invoker, s3: Callable[[], S3Client],
                 settings: WorkerSettings | None = None, observer: Callable[[Done], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.queue, self.lookup, self.invoker, self.s3 = queue, lookup, invoker, s3
        self.settings = settings or WorkerSettings()
        self.observer = observer
        self.clock = clock
        self._jobs: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._pruned = 0.0
        self._outage = OutageLog()

    async def start(self) -> None:
        taken = await asyncio.to_thread(self.queue.recover)
        if taken:
            log.warning("async: %d request(s) left running by the previous process are queued again", taken)
        self._loop = asyncio.create_task(self._run(), name="asyncinv-worker")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None
        if self._jobs:
            _, late = await asyncio.wait(set(self._jobs), timeout=self.settings.drain_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                self._outage.passed(await self._pass(), self.clock())
            except Exception as exc:  # a locked or broken database, or a bug: the next pass tries again
                if is_outage(exc):
                    self._outage.passed(exc, self.clock())
                else:
                    log.exception("async: queue pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)

    async def _pass(self) -> BaseException | None:
        """One pass over the queue: the outage a lookup met (the others went on), or None."""
        now = self.clock()
        outage: BaseException | None = None
        for endpoint in await asyncio.to_thread(self.queue.waiting, now):
            try:
                config, refused = await self._config(endpoint)
            except Exception as exc:  # this endpoint waits, the others go on
                if is_outage(exc):
                    outage = exc  # logged once per outage, not per endpoint and poll
                else:
                    log.exception("async: the settings of endpoint %s could not be read", endpoint)
                continue
            limit = config.max_concurrent if config is not None else GONE_BATCH
            for item in await asyncio.to_thread(self.queue.claim, endpoint, limit, now):
                job = Job(item, self.queue, self.invoker, self.s3, self.settings.job, self.clock, refused)
                task = asyncio.create_task(self._job(job), name=f"asyncinv-{item.inference_id}")
                self._jobs.add(task)
                task.add_done_callback(self._ended)
        if now - self._pruned > 3600:
            self._pruned = now
            await asyncio.to_thread(self.queue.prune, now - self.settings.retention_s)
        return outage

    async def _config(self, endpoint: str) -> tuple[AsyncConfig | None, SageMakerError | None]:
        try:
            config = await asyncio.to_thread(self.lookup, endpoint)
        except EndpointNotFound as exc:
            return None, exc
        return config, None if config is not None else NotAsync(endpoint)

    async def _job(self, job: Job) -> None:
        try:
            done = await job.run()
        except Exception:  # the row stays claimed; its lease runs out and it runs again
            log.exception("async %s/%s: job failed", job.item.endpoint, job.item.inference_id)
            return
        if done is not None and self.observer is not None:
            self.observer(done)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._jobs.discard(task)
        self._wake.set()  # a slot is free: claim the next one now, not at the next poll
