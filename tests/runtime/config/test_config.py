"""Config validation: each rule, good and bad; every problem reported together, naming field and value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.config import ConfigError, load_deployment, parse_deployment


def doc(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "EndpointName": "ep",
        "ModelName": "m",
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [
            {"ContainerHostname": "a", "Image": "process"},
            {"ContainerHostname": "b", "Image": "process", "Environment": {"X": "1"}},
        ],
        "Coserve": {"Containers": {"a": {"Command": ["srv"]}, "b": {"Command": ["srv"]}}},
    }
    base.update(overrides)
    return base


def problems(d: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_deployment(d)
    return info.value.problems


def test_a_good_direct_deployment_parses_with_defaults() -> None:
    d = parse_deployment(doc())
    assert d.mode == "Direct"
    assert d.variant_name == "AllTraffic"
    assert [c.hostname for c in d.containers] == ["a", "b"]
    assert d.containers[1].environment == {"X": "1"}
    assert d.server.max_payload_bytes == 6 * 2**20
    assert d.server.startup_timeout_s == 240
    assert d.server.invocation_timeout_s == 60


def test_mode_defaults_to_serial_and_unnamed_containers_are_named_by_position() -> None:
    d = parse_deployment(
        {
            "EndpointName": "ep",
            "Containers": [{"Image": "process"}, {"Image": "process"}],
            "Coserve": {
                "Defaults": {"Memory": "64MiB"},
                "Containers": {"container-1": {"Command": ["x"]}, "container-2": {"Command": ["y"]}},
            },
        }
    )
    assert d.mode == "Serial"
    assert [c.hostname for c in d.containers] == ["container-1", "container-2"]
    assert d.containers[0].limits.memory_bytes == 64 * 2**20


@pytest.mark.parametrize("hostname", ["a", "A-1", "a--b", "x" * 63, "0"])
def test_hostname_pattern_accepts(hostname: str) -> None:
    d = doc(
        Containers=[{"ContainerHostname": hostname, "Image": "process"}],
        Coserve={"Containers": {hostname: {"Command": ["x"]}}},
    )
    assert parse_deployment(d).containers[0].hostname == hostname


@pytest.mark.parametrize("hostname", ["-a", "a-", "a_b", "a.b", "x" * 64, "", 7])
def test_hostname_pattern_rejects(hostname: object) -> None:
    found = problems(doc(Containers=[{"ContainerHostname": hostname, "Image": "process"}], Coserve={}))
    assert any("Containers[0].ContainerHostname: must match" in p and repr(hostname) in p for p in found)


def test_duplicate_hostnames_are_rejected() -> None:
    found = problems(
        doc(
            Containers=[{"ContainerHostname": "a", "Image": "process"}] * 2,
            Coserve={"Containers": {"a": {"Command": ["x"]}}},
        )
    )
    assert "Containers[1].ContainerHostname: duplicates Containers[0] (got 'a')" in found


def test_direct_mode_requires_every_hostname() -> None:
    found = problems(
        doc(Containers=[{"Image": "process"}], Coserve={"Containers": {"container-1": {"Command": ["x"]}}})
    )
    assert "Containers[0].ContainerHostname: required in Direct mode (got None)" in found


def test_serial_mode_names_all_or_none() -> None:
    found = problems(
        doc(
            InferenceExecutionConfig={"Mode": "Serial"},
            Containers=[{"ContainerHostname": "a", "Image": "process"}, {"Image": "process"}],
        )
    )
    assert any(p.startswith("Containers: if any container has a ContainerHostname, all must") for p in found)


def test_mode_must_be_direct_or_serial() -> None:
    found = problems(doc(InferenceExecutionConfig={"Mode": "Parallel"}))
    assert "InferenceExecutionConfig.Mode: must be Direct or Serial (got 'Parallel')" in found


def test_environment_limits() -> None:
    many = {f"K{i}": "v" for i in range(101)}
    found = problems(doc(Containers=[
        {"ContainerHostname": "a", "Image": "process", "Environment": many},
        {"ContainerHostname": "b", "Image": "process", "Environment": {"1BAD": "v", "LONG": "x" * 1025, "OK": True}},
    ]))  # fmt: skip
    assert "Containers[0].Environment: has more than 100 entries (got 101)" in found
    assert any(p.startswith("Containers[1].Environment.1BAD: key must match") for p in found)
    assert any(p.startswith("Containers[1].Environment.LONG: value must be a string") for p in found)
    assert any(p.startswith("Containers[1].Environment.OK: value must be a string") for p in found)


def test_environment_total_is_bounded_across_containers() -> None:
    env = {f"K{i}": "v" * 1000 for i in range(20)}
    found = problems(doc(Containers=[
        {"ContainerHostname": "a", "Image": "process", "Environment": env},
        {"ContainerHostname": "b", "Image": "process", "Environment": env},
    ]))  # fmt: skip
    assert any(
        p.startswith("Containers[*].Environment: keys and values of all containers exceed 32 KiB") for p in found
    )


def test_at_most_fifteen_containers_unless_raised() -> None:
    containers = [{"ContainerHostname": f"c{i}", "Image": "process"} for i in range(16)]
    commands = {f"c{i}": {"Command": ["x"]} for i in range(16)}
    found = problems(doc(Containers=containers, Coserve={"Containers": commands}))
    assert "Containers: 16 containers exceed Coserve.Server.MaxContainers (got 15)" in found
    raised = parse_deployment(
        doc(Containers=containers, Coserve={"Containers": commands, "Server": {"MaxContainers": 20, "PortBlock": 10}})
    )
    assert len(raised.containers) == 16


def test_process_image_runs_serve_without_a_command_and_unknown_images_are_named() -> None:
    found = problems(
        doc(
            Containers=[
                {"ContainerHostname": "a", "Image": "process"},
                {"ContainerHostname": "b", "Image": "my-registry/thing:1"},
            ],
            Coserve={},
        )
    )
    # Image: process without a Command runs the model's own `serve` (adapters/process.py): no problem to report.
    assert not any(p.startswith("Coserve.Containers.a.") for p in found)
    assert any(p.startswith("Containers[1].Image: unknown image") and "'my-registry/thing:1'" in p for p in found)


def test_sizes_durations_and_settings_are_validated_and_converted() -> None:
    d = parse_deployment(doc(Coserve={
        "Containers": {"a": {"Command": ["x"], "Memory": "2GiB", "Cpus": 1.5, "CpuWeight": 200, "Pids": 512},
                       "b": {"Command": ["x"]}},
        "Server": {"InvocationTimeout": "90s", "MaxPayload": "1MiB", "StartupTimeout": "4m", "Workers": 2},
        "Storage": {"CacheDir": "/tmp/c", "S3EndpointUrl": "http://127.0.0.1:8333", "S3AddressingStyle": "path"},
    }))  # fmt: skip
    a = d.containers[0].limits
    assert (a.memory_bytes, a.cpus, a.cpu_weight, a.pids) == (2 * 2**30, 1.5, 200, 512)
    assert (d.server.invocation_timeout_s, d.server.max_payload_bytes, d.server.startup_timeout_s) == (90, 2**20, 240)
    assert d.server.workers == 2
    assert d.storage.cache_dir == Path("/tmp/c")
    assert d.storage.s3_addressing_style == "path"


def test_every_problem_is_reported_together() -> None:
    found = problems({
        "EndpointName": "bad_name", "VariantName": "-v", "Extra": 1,
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [{"ContainerHostname": "a", "Image": "process", "Bogus": 1}],
        "Coserve": {"Containers": {"a": {"Command": "not-a-list", "Memory": "lots", "Cpus": 0}, "ghost": {}},
                    "Server": {"InvocationTimeout": "soon", "Workers": 0, "Nope": 1},
                    "Storage": {"S3AddressingStyle": "sideways"}},
    })  # fmt: skip
    expected = [
        "Extra: unknown key (got 1)",
        "EndpointName: must match [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62} (got 'bad_name')",
        "VariantName: must match [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62} (got '-v')",
        "Containers[0].Bogus: unknown key (got 1)",
        "Coserve.Containers.a.Command: must be a non-empty list of strings (got 'not-a-list')",
        "Coserve.Containers.a.Cpus: must be between 0.01 and 1024 cores (got 0)",
        "Coserve.Containers.ghost: names no container (got 'ghost')",
        "Coserve.Server.Workers: must be between 1 and 64 (got 0)",
        "Coserve.Storage.S3AddressingStyle: must be path, virtual or auto (got 'sideways')",
    ]
    for line in expected:
        assert line in found, (line, found)
    assert any(p.startswith("Coserve.Containers.a.Memory: expected a size") for p in found)
    assert any(p.startswith("Coserve.Server.InvocationTimeout: expected a duration") for p in found)
    assert all(p.count("got ") == 1 for p in found), "the bad value is named once"  # was: "… got 'x' (got 'x')"
    assert any(p.startswith("Coserve.Server.Nope: unknown key") for p in found)


def test_primary_container_is_a_single_container_named_primary() -> None:
    d = parse_deployment({"EndpointName": "ep", "PrimaryContainer": {"Image": "process"},
                          "Coserve": {"Containers": {"primary": {"Command": ["x"]}}}})  # fmt: skip
    assert [c.hostname for c in d.containers] == ["primary"]


def test_load_reads_yaml_and_json_and_reports_syntax(tmp_path: Path) -> None:
    y = tmp_path / "d.yaml"
    y.write_text(
        "EndpointName: ep\nContainers:\n  - {Image: process}\nCoserve: {Containers: {container-1: {Command: [x]}}}\n"
    )
    assert load_deployment(y).endpoint_name == "ep"
    j = tmp_path / "d.json"
    j.write_text('{"EndpointName": "ep", "Containers": [')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_deployment(j)
    with pytest.raises(ConfigError, match="cannot read the deployment file"):
        load_deployment(tmp_path / "missing.yaml")


def test_a_port_block_too_small_for_a_framework_server_is_named() -> None:
    found = problems({"EndpointName": "e", "Containers": [{"Image": "torchserve"}, {"Image": "tensorflow-serving"}],
                      "Coserve": {"Server": {"PortBlock": 4}}})  # fmt: skip
    assert found == [
        "Coserve.Server.PortBlock: container container-1 (torchserve) needs 5 safe ports besides its bind port (got 4)"
    ]
    assert parse_deployment({"EndpointName": "e", "Containers": [{"Image": "torchserve"}],
                             "Coserve": {"Server": {"PortBlock": 6}}}).server.port_block == 6  # fmt: skip


def test_requests_default_to_their_limits_and_may_be_lower() -> None:
    d = parse_deployment(doc(Coserve={
        "Defaults": {"Memory": "1GiB", "Cpus": 1},
        "Containers": {"a": {"Command": ["x"], "MemoryRequest": "300MiB", "CpuRequest": 0.25},
                       "b": {"Command": ["x"]}},
        "Server": {"MemoryReserve": "128MiB"},
    }))  # fmt: skip
    a, b = d.containers[0].limits, d.containers[1].limits
    assert (a.memory_request_bytes, a.memory_bytes, a.cpu_request, a.cpus) == (300 * 2**20, 2**30, 0.25, 1.0)
    assert (b.memory_request_bytes, b.cpu_request) == (2**30, 1.0)
    assert d.server.memory_reserve_bytes == 128 * 2**20
    assert parse_deployment(doc()).containers[0].limits.memory_request_bytes is None  # no limit, no request


def test_a_request_above_its_limit_names_the_field_and_the_value() -> None:
    found = problems(doc(Coserve={
        "Defaults": {"Memory": "1GiB"},
        "Containers": {"a": {"Command": ["x"], "MemoryRequest": "2GiB", "Cpus": 0.5, "CpuRequest": 1},
                       "b": {"Command": ["x"], "MemoryRequest": "lots", "CpuRequest": -1}},
        "Server": {"MemoryReserve": "-1"},
    }))  # fmt: skip
    assert "Coserve.Containers.a.MemoryRequest: must not exceed Memory (1.0GiB) (got '2GiB')" in found
    assert "Coserve.Containers.a.CpuRequest: must not exceed Cpus (0.5 cores) (got 1)" in found
    assert "Coserve.Containers.b.CpuRequest: must be between 0 and 1024 cores (got -1)" in found
    assert any(p.startswith("Coserve.Containers.b.MemoryRequest: expected a size") for p in found)
    assert any(p.startswith("Coserve.Server.MemoryReserve:") and "'-1'" in p for p in found)


def test_yaml_is_read_with_libyaml_where_present() -> None:
    import yaml

    from runtime.config import yamlsafe

    if yaml.__with_libyaml__:  # the C loader's own parser and the safe constructor
        assert issubclass(yamlsafe._Loader, yaml.CSafeLoader)
    assert issubclass(yamlsafe._Loader, yaml.constructor.SafeConstructor)


def test_merge_keys_may_override_and_aliases_within_bounds_load(tmp_path: Path) -> None:
    y = tmp_path / "d.yaml"
    y.write_text(
        "EndpointName: ep\nContainers:\n  - {Image: process}\n"
        "Coserve:\n  Defaults: &d {Memory: 64MiB, Pids: 64}\n"
        "  Containers: {container-1: {<<: *d, Pids: 128, Command: [x]}}\n"
    )
    limits = load_deployment(y).containers[0].limits
    assert (limits.memory_bytes, limits.pids) == (64 * 2**20, 128)


def test_a_bad_value_is_quoted_short() -> None:
    found = problems(doc(Unknown={"k": ["x" * 10_000] * 10_000}))
    assert len(found) == 1 and len(found[0]) < 300 and found[0].startswith("Unknown: unknown key (got {'k': ['xxx")


def test_idle_and_wake_timeouts_parse_per_container() -> None:
    d = doc()
    d["Coserve"]["Containers"]["a"].update({"IdleTimeout": "2s", "WakeTimeout": "1m"})
    a, b = parse_deployment(d).containers
    assert (a.idle_timeout_s, a.wake_timeout_s) == (2.0, 60.0)
    assert (b.idle_timeout_s, b.wake_timeout_s) == (None, None)


@pytest.mark.parametrize(("key", "value"), [("IdleTimeout", "soon"), ("IdleTimeout", 0), ("WakeTimeout", "-3s")])
def test_a_bad_idle_or_wake_timeout_names_the_field_and_the_value(key: str, value: object) -> None:
    d = doc()
    d["Coserve"]["Containers"]["b"][key] = value
    (problem,) = problems(d)
    assert problem.startswith(f"Coserve.Containers.b.{key}:")
    assert repr(value) in problem or str(value) in problem
