"""The metric pieces on their own: the observer's counting rules, EMF's shape, quantiles, log rotation, config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from runtime.config import ConfigError, MetricsConfig, parse_deployment
from runtime.errors import ModelError, ServiceUnavailable, ValidationError
from runtime.metrics.emf import EmfWriter
from runtime.metrics.requests import RequestMetrics
from runtime.metrics.snapshot import ContainerSample, Snapshot
from runtime.metrics.summary import quantile, summarize_endpoints
from runtime.router.invoke import Hop, Result
from runtime.supervisor.osproc import RotatingLog
from tests.runtime.metrics import emf_spec


def metrics(mode: str = "Direct") -> tuple[CollectorRegistry, RequestMetrics]:
    registry = CollectorRegistry()
    return registry, RequestMetrics.register(registry, "ep", "v", mode)


def sample(registry: CollectorRegistry, name: str, container: str) -> float | None:
    return registry.get_sample_value(name, {"endpoint": "ep", "variant": "v", "container": container})


def hop(host: str, status: int = 200, seconds: float = 0.002) -> Hop:
    return Hop(host, status, seconds, 10, "application/json")


def test_direct_counting_rules() -> None:
    registry, m = metrics()
    m.observe(("a",), Result(None, (hop("a"),)), 0.003)
    m.observe(("a",), Result(None, (hop("a", 415),), ModelError("x"), "a"), 0.003)
    m.observe(("a",), Result(None, (hop("a", 0),), ModelError("reset"), "a"), 0.003)
    m.observe((), Result(None, (), ValidationError("bad")), 0.0001)
    m.observe(("a",), Result(None, (), ServiceUnavailable("down")), 0.0001)
    assert sample(registry, "coserve_invocations_total", "a") == 3
    assert sample(registry, "coserve_invocation_4xx_errors_total", "a") == 1
    assert sample(registry, "coserve_invocation_5xx_errors_total", "a") == 1, "no answer is a 5XX"
    assert sample(registry, "coserve_invocations_total", "") == 2
    assert sample(registry, "coserve_invocation_4xx_errors_total", "") == 1
    assert sample(registry, "coserve_invocation_5xx_errors_total", "") == 1
    assert sample(registry, "coserve_overhead_latency_microseconds_sum", "a") == pytest.approx(3 * 1000)
    assert not sample(registry, "coserve_model_latency_microseconds_count", ""), "a Direct request is its target's"


def test_serial_model_latency_sums_the_chain() -> None:
    registry, m = metrics("Serial")
    m.observe(("a", "b"), Result(None, (hop("a", seconds=0.001), hop("b", seconds=0.004))), 0.006)
    m.observe(("a", "b"), Result(None, (hop("a"), hop("b", 503)), ModelError("x"), "b"), 0.005)
    assert sample(registry, "coserve_model_latency_microseconds_count", "") == 2
    assert sample(registry, "coserve_model_latency_microseconds_bucket", "") is None  # needs le
    first = registry.get_sample_value(
        "coserve_model_latency_microseconds_bucket", {"endpoint": "ep", "variant": "v", "container": "", "le": "5000.0"}
    )
    assert first == 2
    assert sample(registry, "coserve_invocation_5xx_errors_total", "b") == 1
    assert sample(registry, "coserve_invocation_5xx_errors_total", "a") == 0


def test_quantile_interpolates_like_prometheus() -> None:
    buckets = [(100.0, 0.0), (200.0, 10.0), (float("inf"), 10.0)]
    assert quantile(buckets, 0.5) == pytest.approx(150.0)
    assert quantile([(100.0, 0.0), (float("inf"), 0.0)], 0.5) is None
    assert quantile([(100.0, 0.0), (float("inf"), 4.0)], 0.99) == 100.0


def snapshot(at: float = 1.8e9) -> Snapshot:
    c = ContainerSample("a", "RUNNING", 0, 0, 0.4, 1.0, 12.5, 2**20, 2**30, 0.1, 1, endpoint="ep", variant="v",
                        mode="Direct", generation=1)  # fmt: skip
    return Snapshot("ep", "v", "Direct", at, (c,), 40.0, 1, 1, 1234)


def test_emf_lines_are_valid_and_count_the_interval() -> None:
    registry, m = metrics()
    writer = EmfWriter(MetricsConfig(emf_path="-"), lambda: list(registry.collect()))
    m.observe(("a",), Result(None, (hop("a"),)), 0.003)
    first = writer.lines(summarize_endpoints(registry.collect()), snapshot())
    for _ in range(3):
        m.observe(("a",), Result(None, (hop("a"),)), 0.003)
    writer._before = summarize_endpoints(registry.collect())
    m.observe(("a",), Result(None, (hop("a", 500),), ModelError("x"), "a"), 0.003)
    second = writer.lines(summarize_endpoints(registry.collect()), snapshot())
    for line in first + second:
        assert emf_spec.problems(line) == [], line
    assert json.loads(first[0])["Invocations"] == 1
    doc = json.loads(second[0])
    assert (doc["Invocations"], doc["Invocation5XXErrors"], doc["CPUUtilization"]) == (1, 1, 12.5)
    assert json.loads(second[-1])["DiskUtilization"] == 40.0


def test_the_emf_validator_catches_what_the_spec_forbids() -> None:
    directive = {"Namespace": "n", "Dimensions": [["D"]], "Metrics": [{"Name": "M", "Unit": "Count"}]}
    good: dict[str, Any] = {
        "_aws": {"Timestamp": 1_800_000_000_000, "CloudWatchMetrics": [directive]},
        "D": "x",
        "M": 1,
    }
    assert emf_spec.problems(json.dumps(good)) == []
    for broken in (
        {**good, "D": 3},
        {k: v for k, v in good.items() if k != "M"},
        {**good, "_aws": {**good["_aws"], "Timestamp": 1.8e9}},
    ):
        assert emf_spec.problems(json.dumps(broken)) != []
    bad_unit = json.loads(json.dumps(good))
    bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Requests"
    assert emf_spec.problems(json.dumps(bad_unit)) != []


def test_rotating_log_keeps_backups_and_bounds_each_file(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path / "c.log", 200, 2)
    for i in range(40):
        log.write(f"line {i}".encode())
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["c.log", "c.log.1", "c.log.2"]
    assert all((tmp_path / f).stat().st_size <= 200 for f in files)
    assert (tmp_path / "c.log").read_text().rstrip().endswith("Z line 39")


def deployment(own: dict[str, object]) -> dict[str, object]:
    return {"EndpointName": "ep", "Containers": [{"Image": "process"}],
            "Coserve": {"Containers": {"container-1": {"Command": ["x"]}}, **own}}  # fmt: skip


def test_metrics_config() -> None:
    d = parse_deployment(deployment({"Metrics": {"Emf": {"Path": "-", "Namespace": "Acme/Models", "Interval": "30s"}},
                                     "Server": {"LogMaxSize": "1MiB", "LogBackups": 3}}))  # fmt: skip
    assert d.metrics == MetricsConfig("-", "Acme/Models", 30.0)
    assert (d.server.log_max_bytes, d.server.log_backups) == (2**20, 3)
    assert parse_deployment(deployment({})).metrics.emf_path is None
    with pytest.raises(ConfigError) as info:
        parse_deployment(deployment({"Metrics": {"Emf": {"Namespace": "AWS/SageMaker", "Every": 1}, "Other": 1}}))
    text = str(info.value)
    assert "Coserve.Metrics.Emf.Namespace" in text and "Coserve.Metrics.Emf.Every" in text
    assert "Coserve.Metrics.Other" in text


def test_the_dashboard_reads_only_names_coserve_exposes() -> None:
    import re

    from runtime.metrics.collector import SnapshotCollector
    from runtime.metrics.snapshot import SnapshotSource

    registry, m = metrics()
    m.observe(("a",), Result(None, (hop("a"),)), 0.003)
    registry.register(SnapshotCollector(SnapshotSource(snapshot())))
    exposed = {s.name for family in registry.collect() for s in family.samples}
    board = (Path(__file__).resolve().parents[3] / "images" / "grafana" / "coserve-dashboard.json").read_text()
    used = set(re.findall(r"coserve_[a-z0-9_]+", board)) - {"coserve_dashboard"}
    assert used and used <= exposed, used - exposed
