"""Asynchronous inference (InvokeEndpointAsync): a durable SQLite queue, a worker that invokes and writes to S3.

Wiring (the composition root's), in the process that runs the control plane's store and one router:
    queue = AsyncQueue(store.path).open()  # after Store.open(): the control plane's file, tables of its own
    lookup = store_lookup(store)  # control.py: an endpoint's AsyncInferenceConfig as it serves now
    latency = register(registry, queue)  # metrics.py: backlog gauges (read at scrape) and latency histograms
    worker = AsyncWorker(queue, lookup, router_invoker(router), lambda: s3_client, observer=latency.observe)
    await worker.start()  ...  await worker.stop(); queue.close()
    guard = make_async_guard(authenticator)  # auth.py: SigV4 and sagemaker:InvokeEndpointAsync; None without Auth
    handler = AsyncInvocations(queue, lookup, worker.wake, guard)  # ASGI, for the requests `accepts(scope)`
One worker per queue file (start() takes back what a dead process held); handlers may run in other processes
(gunicorn workers) on the same file, with `on_queued` None: the worker sees their requests within `poll_s`.
"""

from runtime.asyncinv.auth import AsyncGuard, make_async_guard
from runtime.asyncinv.config import AsyncConfig, EndpointNotFound, Lookup, NotAsync, from_endpoint_config
from runtime.asyncinv.control import store_lookup
from runtime.asyncinv.handler import AsyncInvocations, accepts
from runtime.asyncinv.invoker import router_invoker
from runtime.asyncinv.job import Done, JobSettings
from runtime.asyncinv.metrics import BacklogCollector, LatencyMetrics, register
from runtime.asyncinv.outcome import Invoker
from runtime.asyncinv.queue import AsyncQueue
from runtime.asyncinv.schema import FILE_NAME
from runtime.asyncinv.worker import AsyncWorker, WorkerSettings

__all__ = [
    "FILE_NAME", "AsyncConfig", "AsyncGuard", "AsyncInvocations", "AsyncQueue", "AsyncWorker", "BacklogCollector",
    "Done", "EndpointNotFound", "Invoker", "JobSettings", "LatencyMetrics", "Lookup", "NotAsync", "WorkerSettings",
    "accepts", "from_endpoint_config", "make_async_guard", "register", "router_invoker", "store_lookup",
]  # fmt: skip
