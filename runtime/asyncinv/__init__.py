"""Asynchronous inference (InvokeEndpointAsync): a durable SQLite queue, a worker that invokes and writes to S3.

Wiring (the composition root's):
    queue = AsyncQueue(state_dir / FILE_NAME).open()
    worker = AsyncWorker(queue, lookup, invoker, s3_client_factory, observer=metrics.observe)
    await worker.start()  ...  await worker.stop(); queue.close()
    handler = AsyncInvocations(queue, lookup, on_queued=worker.wake)  # ASGI, for requests `accepts(scope)`
`lookup` (config.Lookup) reads an endpoint's AsyncInferenceConfig from the control plane (`from_endpoint_config`);
`invoker` (outcome.Invoker) is the front door's invoke path.
"""

from runtime.asyncinv.config import AsyncConfig, EndpointNotFound, Lookup, NotAsync, from_endpoint_config
from runtime.asyncinv.handler import AsyncInvocations, accepts
from runtime.asyncinv.job import Done, JobSettings
from runtime.asyncinv.metrics import BacklogCollector, LatencyMetrics, register
from runtime.asyncinv.outcome import Invoker
from runtime.asyncinv.queue import AsyncQueue
from runtime.asyncinv.schema import FILE_NAME
from runtime.asyncinv.worker import AsyncWorker, WorkerSettings

__all__ = [
    "FILE_NAME", "AsyncConfig", "AsyncInvocations", "AsyncQueue", "AsyncWorker", "BacklogCollector", "Done",
    "EndpointNotFound", "Invoker", "JobSettings", "LatencyMetrics", "Lookup", "NotAsync", "WorkerSettings",
    "accepts", "from_endpoint_config", "register",
]  # fmt: skip
