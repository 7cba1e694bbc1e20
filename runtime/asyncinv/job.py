"""One claimed request, start to end: fetch the input, invoke, write the answer or the error, mark the row.

The write comes before the mark: a crash between the two runs the request again and overwrites the same key,
so S3 ends with one answer per InferenceId and the row is marked once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from runtime.asyncinv import outcome, s3io
from runtime.asyncinv.outcome import Invoker, Outcome
from runtime.asyncinv.queue import AsyncQueue
from runtime.asyncinv.records import Item
from runtime.errors import SageMakerError, ValidationError
from runtime.storage.s3 import S3Client

log = logging.getLogger("runtime.asyncinv")
GRACE_S = 1.0  # past InvocationTimeoutSeconds before the worker stops waiting itself (the invoke path times out first)


@dataclass(frozen=True)
class JobSettings:
    max_input_bytes: int = 2**30  # SageMaker's limit for an asynchronous payload: 1 GB
    max_attempts: int = 20  # claims of one request (crashes, S3 hiccups, an endpoint not ready) before it fails
    backoff_max_s: float = 30.0  # the longest wait before a request that could not run yet is tried again


@dataclass(frozen=True)
class Done:
    """What metrics see of a finished request."""

    endpoint: str
    ok: bool
    waited_s: float  # enqueued to claimed
    total_s: float  # enqueued to its answer written


class Job:
    def __init__(self, item: Item, queue: AsyncQueue, invoker: Invoker, s3: Callable[[], S3Client],
                 settings: JobSettings, clock: Callable[[], float],
                 refused: SageMakerError | None = None) -> None:  # fmt: skip
        self.item, self.queue, self.invoker, self.s3 = item, queue, invoker, s3
        self.settings, self.clock = settings, clock
        self.refused = refused  # the endpoint is gone, or no longer asynchronous: fail without invoking

    async def run(self) -> Done | None:
        """The request's outcome written and its row marked; None when it went back in the queue, or when its
        claim was voided meanwhile (what it wrote went to the same key the live claim writes)."""
        item, started = self.item, self.clock()
        result = await self._outcome(started)
        if result is None or result.retry:
            await self._later(result.reason if result else "the input could not be read yet")
            return None
        written = await self._write(result)
        if written is None:
            await self._later("S3 unavailable for writing")
            return None
        result = written
        reason = None if result.ok else result.reason
        if not await asyncio.to_thread(self.queue.finish, item, reason, self.clock()):
            # The claim was voided (its lease ran out) and a later claim owns the row: that one counts it.
            log.warning("async %s/%s: finished on a voided claim", item.endpoint, item.inference_id)
            return None
        log.info("async %s/%s: %s", item.endpoint, item.inference_id, "done" if result.ok else reason)
        return Done(item.endpoint, result.ok, started - item.enqueued, self.clock() - item.enqueued)

    async def _write(self, result: Outcome) -> Outcome | None:
        """Write the answer (or the error) to its location: the outcome as it stands once written, None when S3
        failed in a way worth retrying. An answer that cannot be written becomes an error at the failure location."""
        item = self.item
        target = item.output_location if result.ok else item.failure_location
        try:
            await asyncio.to_thread(s3io.put, self.s3(), target, result.body, result.content_type)
        except s3io.S3Failure as exc:
            if exc.transient:
                return None
            if result.ok:
                return await self._write(outcome.broken(f"The answer could not be written: {exc}"))
            log.error("async %s/%s: error document not written: %s", item.endpoint, item.inference_id, exc)
            return Outcome(False, b"", None, f"{result.reason} (not written: {exc})")
        return result

    async def _outcome(self, now: float) -> Outcome | None:
        item = self.item
        if now >= item.expires:
            return outcome.expired(now - item.enqueued, item.expires - item.enqueued)
        if self.refused is not None:
            return outcome.failure(self.refused)
        if item.attempt > self.settings.max_attempts:
            return outcome.broken(f"The request could not be completed in {self.settings.max_attempts} attempts.")
        body = item.body
        if body is None:
            assert item.input_location is not None
            try:
                body = await asyncio.to_thread(
                    s3io.fetch, self.s3(), item.input_location, self.settings.max_input_bytes
                )
            except s3io.S3Failure as exc:
                return None if exc.transient else outcome.failure(ValidationError(str(exc)))
        return await self._invoke(body)

    async def _invoke(self, body: bytes) -> Outcome:
        item = self.item
        headers = {k: v for k, v in (
            ("content-type", item.content_type), ("accept", item.accept),
            ("x-amzn-sagemaker-custom-attributes", item.custom_attributes),
            ("x-amzn-sagemaker-inference-id", item.inference_id),
        ) if v is not None}  # fmt: skip
        try:
            answer = await asyncio.wait_for(
                self.invoker(item.endpoint, body, headers, item.timeout_s), item.timeout_s + GRACE_S
            )
        except TimeoutError:
            return outcome.timed_out(item.timeout_s)
        except Exception as exc:  # the invoke path failed itself: the request fails, the worker goes on
            log.exception("async %s/%s: the invoke path raised", item.endpoint, item.inference_id)
            return outcome.broken(f"The invocation failed inside coserve: {type(exc).__name__}.")
        return outcome.of_answer(*answer)

    async def _later(self, why: str) -> None:
        delay = min(2.0 ** (self.item.attempt - 1) * 0.5, self.settings.backoff_max_s)
        log.warning("async %s/%s: retrying in %.1fs: %s", self.item.endpoint, self.item.inference_id, delay, why)
        await asyncio.to_thread(self.queue.release, self.item, self.clock() + delay)
