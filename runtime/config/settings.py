"""Coserve.Server and Coserve.Storage: coserve's own settings, each key named as in the file."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

from runtime.config.model import DEFAULT_STORAGE, MetricsConfig, ServerSettings
from runtime.config.validate import Problems
from runtime.storage.settings import StorageSettings

# file key -> (field, converter, check, rule)
Rule = tuple[str, Callable[[Any], Any], Callable[[Any], bool], str]
_positive = (lambda v: v > 0, "must be greater than 0")


def _loopback_address(value: str) -> bool:
    """`127.0.0.1:9100` or `[::1]:9100`: the unsigned status listener must not be reachable from elsewhere."""
    host, _, port = value.rpartition(":")
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback and 1 <= int(port) <= 65535
    except ValueError:
        return False


SERVER_KEYS: dict[str, Rule] = {
    "InvocationTimeout": ("invocation_timeout_s", Problems.duration, *_positive),
    "MaxPayload": ("max_payload_bytes", Problems.size, *_positive),
    "StartupTimeout": ("startup_timeout_s", Problems.duration, *_positive),
    "PingTimeout": ("ping_timeout_s", Problems.duration, *_positive),
    "PingInterval": ("ping_interval_s", Problems.duration, *_positive),
    "MaxContainers": ("max_containers", Problems.integer, *_positive),
    "MemoryReserve": ("memory_reserve_bytes", Problems.size, lambda v: v >= 0, "must be 0 or more"),
    "Workers": ("workers", Problems.integer, lambda v: 1 <= v <= 64, "must be between 1 and 64"),
    "StartRetries": ("start_retries", Problems.integer, lambda v: v >= 0, "must be 0 or more"),
    "StableAfter": ("stable_after_s", Problems.duration, *_positive),
    "BackoffBase": ("backoff_base_s", Problems.duration, lambda v: v >= 0, "must be 0 or more"),
    "BackoffMax": ("backoff_max_s", Problems.duration, lambda v: v >= 0, "must be 0 or more"),
    "PortBase": ("port_base", Problems.integer, lambda v: 1024 <= v <= 65000, "must be between 1024 and 65000"),
    "PortBlock": ("port_block", Problems.integer, lambda v: 4 <= v <= 10000, "must be between 4 and 10000"),
    "DrainTimeout": ("drain_timeout_s", Problems.duration, lambda v: v >= 0, "must be 0 or more"),
    "StopGrace": ("stop_grace_s", Problems.duration, lambda v: v >= 0, "must be 0 or more"),
    "LogDir": ("log_dir", Problems.path, lambda v: True, ""),
    "LogMaxSize": ("log_max_bytes", Problems.size, lambda v: v >= 4096, "must be at least 4KiB"),
    "LogBackups": ("log_backups", Problems.integer, lambda v: 0 <= v <= 100, "must be between 0 and 100"),
    "RunDir": ("run_dir", Problems.path, lambda v: True, ""),
    "OnArtifactError": ("on_artifact_error", str, lambda v: v in ("exit", "fatal"), "must be exit or fatal"),
    # The front door's limits (README "Limits").
    "MaxResponse": ("max_response_bytes", Problems.size, *_positive),
    "MaxHeaderSize": ("max_header_bytes", Problems.size, lambda v: 1024 <= v <= 2**20, "must be 1KiB to 1MiB"),
    "MaxHeaders": ("max_headers", Problems.integer, lambda v: 10 <= v <= 1000, "must be between 10 and 1000"),
    "HeaderTimeout": ("header_timeout_s", Problems.duration, lambda v: 0 < v <= 3600, "must be over 0s, at most 1h"),
    "BodyTimeout": ("body_timeout_s", Problems.duration, lambda v: 0 < v <= 3600, "must be over 0s, at most 1h"),
    "KeepAlive": ("keep_alive_s", Problems.duration, lambda v: 0 < v <= 3600, "must be over 0s, at most 1h"),
    "MaxConnections": (
        "max_connections",
        Problems.integer,
        lambda v: 1 <= v <= 100_000,
        "must be between 1 and 100000",
    ),
    "MaxInFlight": ("max_in_flight", Problems.integer, lambda v: 1 <= v <= 100_000, "must be between 1 and 100000"),
    "StreamFirstByteTimeout": (
        "stream_first_byte_timeout_s",
        Problems.duration,
        lambda v: 0 < v <= 3600,
        "must be over 0s, at most 1h",
    ),
    "StreamChunkTimeout": (
        "stream_chunk_timeout_s",
        Problems.duration,
        lambda v: 0 < v <= 3600,
        "must be over 0s, at most 1h",
    ),
    "StatusListen": ("status_listen", str, _loopback_address, "must be host:port with a loopback host"),
    "DataPlane": ("data_plane", str, lambda v: v in ("python", "haproxy"), "must be python or haproxy"),
}
STORAGE_KEYS: dict[str, Rule] = {
    "CacheDir": ("cache_dir", Problems.path, lambda v: True, ""),
    "S3EndpointUrl": ("s3_endpoint_url", str, lambda v: v.startswith(("http://", "https://")),
                      "must be an http(s) URL"),
    "S3AddressingStyle": ("s3_addressing_style", str, lambda v: v in ("path", "virtual", "auto"),
                          "must be path, virtual or auto"),
    "MaxUnpackedSize": ("max_unpacked_bytes", Problems.size, *_positive),
    "MaxFiles": ("max_files", Problems.integer, *_positive),
    "CacheMaxSize": ("cache_max", lambda v: _budget(v), lambda v: v > 0 and (isinstance(v, int) or v <= 1),
                     "must be a size (20GiB) or a share of the cache volume (50%), above 0 and at most 100%"),
    "Wheelhouse": ("wheelhouse", Problems.path, lambda v: True, ""),
}  # fmt: skip


def _budget(value: object) -> int | float:
    """A size in bytes, or "N%" of the volume as a float share."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return float(value.strip()[:-1]) / 100
    return Problems.size(value)


EMF_KEYS: dict[str, Rule] = {
    "Path": ("emf_path", str, lambda v: bool(v), "must be a file path or - for stdout"),
    "Namespace": ("emf_namespace", str, lambda v: 1 <= len(v) <= 255 and not v.startswith("AWS/"),
                  "must be 1 to 255 characters, not under AWS/ (reserved by CloudWatch)"),
    "Interval": ("emf_interval_s", Problems.duration, lambda v: v >= 1, "must be at least 1s"),
}  # fmt: skip


def _apply(p: Problems, at: str, raw: dict[str, Any], rules: dict[str, Rule], base: Any) -> Any:
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in rules:
            p.add(f"{at}.{key}", f"unknown key (expected one of {', '.join(rules)})", value)
            continue
        name, conv, ok, rule = rules[key]
        converted = p.convert(f"{at}.{key}", value, conv)
        if converted is not None and not ok(converted):
            p.add(f"{at}.{key}", rule, value)
        elif converted is not None:
            changes[name] = converted
    assert set(changes) <= {f.name for f in fields(base)}
    return replace(base, **changes)


def parse_server(p: Problems, raw: dict[str, Any]) -> ServerSettings:
    server: ServerSettings = _apply(p, "Coserve.Server", raw, SERVER_KEYS, ServerSettings())
    if server.port_base + server.port_block * server.max_containers > 65535:
        p.add("Coserve.Server.PortBase", "PortBase + PortBlock * MaxContainers passes 65535", server.port_base)
    if server.data_plane == "haproxy" and server.workers > 1:  # HAProxy's counts fold into one process's metrics
        p.add(
            "Coserve.Server.Workers",
            "must be 1 with DataPlane haproxy (HAProxy relays Direct requests)",
            server.workers,
        )
    return server


def parse_storage(p: Problems, raw: dict[str, Any]) -> StorageSettings:
    storage: StorageSettings = _apply(p, "Coserve.Storage", raw, STORAGE_KEYS, DEFAULT_STORAGE)
    return storage


def parse_metrics(p: Problems, raw: dict[str, Any]) -> MetricsConfig:
    for key in sorted(set(raw) - {"Emf"}, key=str):
        p.add(f"Coserve.Metrics.{key}", "unknown key (expected Emf)", raw[key])
    emf = p.mapping("Coserve.Metrics.Emf", raw.get("Emf", {}))
    metrics: MetricsConfig = _apply(p, "Coserve.Metrics.Emf", emf, EMF_KEYS, MetricsConfig())
    return metrics
