"""CPU modes as figures (quota, weight, shares) and the deployment's cpuset plan: pure functions."""

from __future__ import annotations

import pytest

from runtime.cgroups.cpu import effective_mode, format_cpus, parse_cpus, quota_us, shares, weight
from runtime.cgroups.cpuplan import CpuPlanError, CpuPlanItem, plan_cpusets
from runtime.config import ConfigError, parse_deployment


def test_without_a_mode_cpus_is_a_quota_as_before_and_no_cpus_is_a_weight() -> None:
    assert effective_mode(None, 1.5) == "quota" and quota_us(None, 1.5) == 150_000
    assert effective_mode(None, None) == "weight" and quota_us(None, None) is None
    assert (weight(None, 1.5, None), shares(None, None, 200)) == (100, 2048)


def test_weight_mode_turns_cpus_into_a_weight_and_caps_nothing() -> None:
    assert quota_us("weight", 2.0) is None
    assert (weight("weight", 2.0, None), shares("weight", 2.0, None)) == (200, 2048)
    assert weight("weight", 2.0, 50) == 50  # an explicit CpuWeight wins
    assert (weight("weight", 0.001, None), weight("weight", 500.0, None)) == (1, 10000)


def test_pinned_sets_no_quota() -> None:
    assert quota_us("pinned", 2.0) is None


@pytest.mark.parametrize(("cpus", "text"), [([0], "0"), ([0, 1, 2, 3], "0-3"), ([6, 0, 1, 3], "0-1,3,6"), ([], "")])
def test_cpuset_syntax_round_trips(cpus: list[int], text: str) -> None:
    assert format_cpus(cpus) == text
    assert parse_cpus(text) == sorted(cpus)


def test_pinned_containers_get_cores_of_their_own_and_the_rest_share_what_is_left() -> None:
    requests = [CpuPlanItem("a", "pinned", 1.5), CpuPlanItem("b", None, None), CpuPlanItem("c", "pinned", 1.0)]
    plan = plan_cpusets(requests, range(8))
    assert plan == {"a": (6, 7), "c": (5,), "b": (0, 1, 2, 3, 4)}


def test_nothing_pinned_changes_nothing() -> None:
    assert plan_cpusets([CpuPlanItem("a", "quota", 1.0), CpuPlanItem("b", None, None)], range(2)) == {
        "a": None,
        "b": None,
    }


def test_pinning_every_core_is_refused_with_the_figures() -> None:
    with pytest.raises(CpuPlanError, match=r"asks for 2 whole cores \(a \(2\)\) but coserve may use 2 \(cpus 0-1\)"):
        plan_cpusets([CpuPlanItem("a", "pinned", 2.0)], [0, 1])


def test_cpu_mode_is_validated_in_the_deployment_file() -> None:
    base = {"EndpointName": "ep", "ModelName": "m", "Containers": [{"ContainerHostname": "a", "Image": "process"}]}
    good = parse_deployment({**base, "Coserve": {"Containers": {"a": {"Command": ["x"], "CpuMode": "weight"}}}})
    assert good.containers[0].limits.cpu_mode == "weight"
    with pytest.raises(ConfigError) as info:
        parse_deployment({**base, "Coserve": {"Containers": {"a": {"Command": ["x"], "CpuMode": "pinned"}},
                                              "Defaults": {"CpuMode": "fair"}}})  # fmt: skip
    assert info.value.problems == [
        "Coserve.Containers.a.CpuMode: pinned needs Cpus (how many whole cores to pin) (got 'pinned')"
    ]
    with pytest.raises(ConfigError) as info:
        parse_deployment({**base, "Coserve": {"Containers": {"a": {"Command": ["x"], "CpuMode": "fair"}}}})
    assert info.value.problems == ["Coserve.Containers.a.CpuMode: must be one of weight, quota, pinned (got 'fair')"]
    with pytest.raises(ConfigError) as info:
        parse_deployment({**base, "Coserve": {"Containers": {"a": {"Command": ["x"], "CpuMode": "quota"}}}})
    assert info.value.problems == ["Coserve.Containers.a.CpuMode: quota needs Cpus (the cap, in cores) (got 'quota')"]
