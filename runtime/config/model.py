"""The one typed, frozen deployment config. Each field says what it is where it is declared."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from runtime.cgroups.api import CgroupLimits
from runtime.config.sources import Channel, S3Data
from runtime.storage.settings import StorageSettings

Mode = Literal["Direct", "Serial"]


@dataclass(frozen=True)
class ContainerLimits(CgroupLimits):
    """The cgroup's own limits type, as written (Memory, Cpus, MemoryRequest, CpuWeight, Pids, CpuMode), plus
    what only admission reads. `cpuset` and `oom_score_adj` stay None here: confinement decides them."""

    cpu_request: float | None = None  # CpuRequest: cores admission reserves; defaults to Cpus


@dataclass(frozen=True)
class ContainerSpec:
    hostname: str  # ContainerHostname, or container-N by position for unnamed Serial containers
    index: int  # position in Containers, 0-based
    image: str  # the Image field as written (adapter name or SageMaker image URI)
    adapter: str  # the adapter that serves it: process | torchserve | tensorflow-serving | oci
    model_data_url: str | None  # ModelDataUrl: s3://, https://, file:// or a path; None: empty model dir
    environment: dict[str, str]  # Environment, verbatim
    command: tuple[str, ...] | None  # Coserve.Containers.<hostname>.Command (process adapter)
    limits: ContainerLimits = field(default_factory=ContainerLimits)
    model_data: S3Data | None = None  # ModelDataSource when uncompressed (an S3 prefix or object); else None
    additional_sources: tuple[Channel, ...] = ()  # AdditionalModelDataSources, each under its ChannelName
    image_pull: str = "missing"  # Coserve.Containers.<hostname>.ImagePull (OCI images): missing | always | never
    idle_timeout_s: float | None = None  # Coserve.Containers.<hostname>.IdleTimeout: stopped after this long unused
    wake_timeout_s: float | None = None  # ...WakeTimeout: how long a request waits for a wake (None: StartupTimeout)


@dataclass(frozen=True)
class ServerSettings:
    invocation_timeout_s: float = 60.0  # a container's whole answer, as SageMaker's 60 s
    max_payload_bytes: int = 6 * 2**20  # request body limit, as InvokeEndpoint's 6 MiB
    startup_timeout_s: float = 240.0  # spawn to first /ping 200, as SageMaker's 4 minutes
    ping_timeout_s: float = 2.0  # one /ping probe
    ping_interval_s: float = 5.0  # health probe of a RUNNING container
    max_containers: int = 15  # AWS's limit by default; raise it at will
    memory_reserve_bytes: int = 256 * 2**20  # kept back from admission for coserve itself (supervisor, router)
    workers: int = 1  # router processes; >1 runs gunicorn with uvicorn workers
    start_retries: int = 5  # exits in a row before FATAL
    stable_after_s: float = 60.0  # RUNNING this long, a container's count of exits in a row starts again
    backoff_base_s: float = 1.0  # first restart delay, doubled each try
    backoff_max_s: float = 30.0
    port_base: int = 20000  # container i binds port_base + i*port_block
    port_block: int = 100  # the rest of each block is the container's SAGEMAKER_SAFE_PORT_RANGE
    drain_timeout_s: float = 30.0  # how long in-flight requests may finish on shutdown
    stop_grace_s: float = 30.0  # SIGTERM to SIGKILL, as `docker stop`
    log_dir: Path = Path("/var/log/coserve")  # one log file per container
    log_max_bytes: int = 10 * 2**20  # a container's log file is rotated when it would pass this size
    log_backups: int = 5  # rotated files kept per container: <hostname>.log.1 … .N
    run_dir: Path = Path("/run/coserve")  # routing table and pid files
    on_artifact_error: Literal["exit", "fatal"] = "exit"  # exit before serving, or serve the rest
    # The front door's limits: what one client or one container may cost everyone else (README "Limits").
    max_response_bytes: int = 6 * 2**20  # a container's answer, as InvokeEndpoint's 6 MiB response Body
    max_header_bytes: int = 16 * 2**10  # request line and headers of one request; past it 431
    max_headers: int = 100  # header fields in one request; past it 431
    header_timeout_s: float = 10.0  # connection (or previous answer) to the end of the headers; past it 408
    body_timeout_s: float = 30.0  # end of the headers to the end of the body; past it 408
    keep_alive_s: float = 5.0  # an idle keep-alive connection is closed after this
    max_connections: int = 1000  # open client connections per router process; past it 503 and close
    max_in_flight: int = 100  # requests in flight to one container per router process; past it 503
    stream_first_byte_timeout_s: float = 60.0  # response streaming: request sent to first byte; past it 424 (504)
    stream_chunk_timeout_s: float = 60.0  # response streaming: silence between chunks; past it ModelStreamError
    status_listen: str | None = None  # host:port on loopback serving /metrics and /coserve/status unsigned
    data_plane: Literal["python", "haproxy"] = "python"  # haproxy: HAProxy relays Direct calls (runtime.dataplane)

    def container_port(self, index: int) -> int:
        """SAGEMAKER_BIND_TO_PORT of the container at `index`: the first port of its block."""
        return self.port_base + index * self.port_block

    def container_log(self, hostname: str, endpoint: str | None = None) -> Path:
        """The container's log file: its output and its lifecycle lines. `endpoint`: one the API created, whose
        logs go in a folder of their own (the deployment file's endpoint keeps `<LogDir>/<hostname>.log`)."""
        return (self.log_dir / endpoint if endpoint else self.log_dir) / f"{hostname}.log"


# Coserve.Storage is the storage part's own settings type (runtime.storage.StorageSettings): no copy.
DEFAULT_STORAGE = StorageSettings(cache_dir=Path("/var/lib/coserve"))


@dataclass(frozen=True)
class MetricsConfig:
    emf_path: str | None = None  # Coserve.Metrics.Emf.Path: a file, "-" for stdout; None writes no EMF
    emf_namespace: str = "Coserve/SageMaker"  # CloudWatch rejects custom metrics under AWS/ namespaces
    emf_interval_s: float = 60.0  # one EMF line per container (and one for the variant) each interval


@dataclass(frozen=True)
class Deployment:
    endpoint_name: str
    variant_name: str
    model_name: str
    mode: Mode
    containers: tuple[ContainerSpec, ...]
    server: ServerSettings
    storage: StorageSettings
    auth: dict[str, Any] | None  # Coserve.Auth, validated by runtime.auth when it is loaded
    source: Path | None = None  # the file it came from
    metrics: MetricsConfig = field(default_factory=MetricsConfig)  # Coserve.Metrics
    # An API endpoint's own bounds on each of its containers (runtime.control.desired); None: the host's.
    startup_timeout_s: float | None = None  # a variant's ContainerStartupHealthCheckTimeoutInSeconds, or the tag
    fetch_timeout_s: float | None = None  # a variant's ModelDataDownloadTimeoutInSeconds

    def container(self, hostname: str) -> ContainerSpec | None:
        return next((c for c in self.containers if c.hostname == hostname), None)

    @property
    def has_endpoint(self) -> bool:
        """False for a host file: only Coserve settings, every endpoint through the SageMaker API."""
        return bool(self.endpoint_name)
