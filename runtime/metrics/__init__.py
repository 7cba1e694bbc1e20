"""Metrics: SageMaker's per-container figures on your own host, as Prometheus, EMF and `coserve status`.

Who counts what:
- Router processes count invocations (`requests.RequestMetrics`, the router's observer). With
  `Server.Workers > 1` each gunicorn worker gets PROMETHEUS_MULTIPROC_DIR=<RunDir>/prometheus (emptied by
  runtime.rundir before gunicorn starts), so prometheus_client keeps the values in per-process files
  and any worker's /metrics sums them all, dead workers' counts included.
- The supervisor process samples lifecycle (from its events), CPU and memory (from each cgroup), disk and
  the artifact cache once a second (`sampler.Sampler`) into a `Snapshot`: held in memory with one router
  process, else written atomically to <RunDir>/stats.json, which each worker re-reads when scraped
  (`collector.SnapshotCollector`). Workers never read cgroups; the supervisor never sees requests.
- EMF lines are written by the supervisor process (`emf.EmfWriter`), reading request figures from its own
  registry or from the workers' files, so there is one writer however many workers run.

What the supervisor samples is what it supervises now (`members.Member`: each container's key, spec, variant
and mode, listed by the composition root), so endpoints created, updated and deleted at run time follow.

Exposed names (labels endpoint, variant, container; container "" is the variant itself; the figures from the
supervisor's snapshot also carry generation, so two generations of one hostname are two series during an update):
  coserve_invocations_total, coserve_invocation_4xx_errors_total, coserve_invocation_5xx_errors_total,
  coserve_container_latency_microseconds, coserve_model_latency_microseconds,
  coserve_overhead_latency_microseconds (histograms), coserve_stream_first_byte_microseconds (histogram),
  coserve_stream_bytes_total, coserve_streams_broken_total{code}, coserve_container_state{state},
  coserve_container_restarts_total, coserve_container_oom_kills_total, coserve_container_ready_seconds,
  coserve_container_cpu_seconds_total, coserve_container_cpu_utilization_percent,
  coserve_container_memory_utilization_percent, coserve_container_memory_bytes,
  coserve_container_memory_limit_bytes, coserve_container_pids, coserve_container_memory_request_bytes,
  coserve_container_cpu_request_cores, coserve_container_cpu_limit_cores (absent where not set);
  per variant (endpoint, variant): coserve_disk_utilization_percent, coserve_artifact_cache_hits_total,
  coserve_artifact_cache_misses_total, coserve_artifact_fetched_bytes_total, coserve_artifact_cache_bytes,
  coserve_artifact_cache_evictions_total, coserve_stats_timestamp_seconds,
  and admission's ledger (`runtime.admission`): coserve_host_memory_capacity_bytes (host memory, or coserve's own
  cgroup limit), coserve_host_memory_requests_bytes (the containers' requests), coserve_host_memory_reserved_bytes
  (requests plus coserve's own reserve), coserve_host_memory_free_bytes (capacity less reserved),
  coserve_host_memory_limits_bytes, coserve_host_memory_overcommit_bytes (limits plus reserve past capacity).
"""

from runtime.metrics.http import RouterMetrics
from runtime.metrics.hub import MetricsHub
from runtime.metrics.labels import EndpointLabels
from runtime.metrics.snapshot import Snapshot, SnapshotSource

__all__ = ["EndpointLabels", "MetricsHub", "RouterMetrics", "Snapshot", "SnapshotSource"]
