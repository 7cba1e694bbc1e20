"""Limits validation, and the capacity admission counts against: host figures or coserve's own cgroup's."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from runtime.cgroups import CgroupLimits, cpu_capacity, memory_capacity
from runtime.cgroups.memory import _lowest, _v1_quota, _v2_quota


def test_capacity_is_this_hosts_where_coserve_runs_unconfined() -> None:
    memory, where = memory_capacity()
    assert memory <= psutil.virtual_memory().total
    assert where in ("host memory", "the memory limit of coserve's own cgroup")
    cores, source = cpu_capacity()
    assert 0 < cores <= (psutil.cpu_count() or 1)
    assert source in ("host CPUs", "the CPU quota of coserve's own cgroup")


def quota_tree(root: Path, files: dict[str, dict[str, str]]) -> None:
    """A FAKE tree of cgroup directories holding only the quota files (the kernel's are read elsewhere)."""
    for rel, contents in files.items():
        folder = root / rel
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in contents.items():
            (folder / name).write_text(text)


def test_the_tightest_cpu_quota_on_the_way_up_holds(tmp_path: Path) -> None:
    v1 = {"cpu.cfs_period_us": "100000\n"}
    quota_tree(tmp_path / "v1", {".": {**v1, "cpu.cfs_quota_us": "-1\n"},
                                 "outer": {**v1, "cpu.cfs_quota_us": "150000\n"},
                                 "outer/inner": {**v1, "cpu.cfs_quota_us": "-1\n"}})  # fmt: skip
    assert _lowest(tmp_path / "v1", "/outer/inner", _v1_quota) == 1.5
    assert _lowest(tmp_path / "v1", "/", _v1_quota) is None
    quota_tree(tmp_path / "v2", {"a": {"cpu.max": "max 100000\n"}, "a/b": {"cpu.max": "50000 100000\n"},
                                 "a/b/c": {"cpu.max": "200000 100000\n"}})  # fmt: skip
    assert _lowest(tmp_path / "v2", "/a/b/c", _v2_quota) == 0.5
    assert _lowest(tmp_path / "v2", "/a", _v2_quota) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("memory_bytes", 0), ("cpus", 0.0), ("cpu_weight", 0), ("cpu_weight", 10001), ("pids", 0),
     ("memory_request_bytes", -1), ("oom_score_adj", 1001)],
)  # fmt: skip
def test_bad_limits_name_the_field_and_value(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{field}: {value!r}"):
        CgroupLimits(**{field: value})  # type: ignore[arg-type]
