"""Private model mounts, for real: each wrapped process sees its own directory at /opt/ml/model.

They use the real /opt/ml/model. If it is missing, the first wrapper creates it, empty, and it
stays empty; the mounts live only in the wrapped processes' namespaces.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.cgroups import Backend, CgroupLimits
from runtime.mountns import (
    MODEL_TARGET,
    MOUNT_FAILED_EXIT,
    private_model_mount_supported,
    wrap_private_model_mount,
)

Spawn = Callable[..., subprocess.Popen[str]]

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _needs_support() -> None:
    if not private_model_mount_supported():
        pytest.skip("private mount namespaces need root and util-linux unshare")


def _model(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).mkdir()
    (tmp_path / name / "id").write_text(name)
    return tmp_path / name


def _host_sees_nothing() -> None:
    assert not MODEL_TARGET.exists() or list(MODEL_TARGET.iterdir()) == []
    mounts = Path("/proc/self/mountinfo").read_text().split("\n")
    assert not [line for line in mounts if f" {MODEL_TARGET} " in line]


def test_each_process_sees_its_own_model_dir(tmp_path: Path, spawn: Spawn) -> None:
    script = "cat /opt/ml/model/id; echo; read line"  # holds its namespace open until told
    first = spawn(
        wrap_private_model_mount(["sh", "-c", script], _model(tmp_path, "alpha")),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert first.stdout is not None
    assert first.stdout.readline().strip() == "alpha"

    argv = wrap_private_model_mount(["cat", "/opt/ml/model/id"], _model(tmp_path, "beta"))
    second = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert second.stdout == "beta"
    _host_sees_nothing()  # while the first one still holds its mount

    first.communicate("done\n", timeout=5)
    assert first.returncode == 0
    _host_sees_nothing()


def test_the_view_is_read_only(tmp_path: Path) -> None:
    model = _model(tmp_path, "ro")
    argv = wrap_private_model_mount(["sh", "-c", "echo x > /opt/ml/model/new"], model)
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "Read-only file system" in done.stderr
    assert sorted(p.name for p in model.iterdir()) == ["id"]
    _host_sees_nothing()


def test_a_failed_mount_stops_the_container(tmp_path: Path) -> None:
    argv = wrap_private_model_mount(["echo", "ran"], tmp_path / "missing")
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == MOUNT_FAILED_EXIT
    assert "cannot mount" in done.stderr
    assert "ran" not in done.stdout


def test_composes_inside_a_cgroup(v1: Backend, tmp_path: Path) -> None:
    cgroup = v1.create("mounted", CgroupLimits(memory_bytes=256 << 20))
    inner = ["sh", "-c", "cat /opt/ml/model/id; echo; grep ':memory:' /proc/self/cgroup"]
    argv = cgroup.wrap(wrap_private_model_mount(inner, _model(tmp_path, "gamma")))
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    model_id, memory = done.stdout.split()
    assert model_id == "gamma"
    assert memory.endswith(f"/{cgroup.name}")


def test_more_directories_are_mounted_read_only_beside_the_model(tmp_path: Path) -> None:
    sources = _model(tmp_path, "sources")
    target = Path("/opt/ml/additional-model-data-sources")
    script = "cat /opt/ml/model/id; cat $1/id; echo x > $1/new"
    argv = wrap_private_model_mount(["sh", "-c", script, "sh", str(target)], _model(tmp_path, "main"),
                                    more=((sources, target),))  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.stdout == "mainsources" and "Read-only file system" in done.stderr
    assert not target.exists() or list(target.iterdir()) == [], "the host sees an empty mount point at most"
    _host_sees_nothing()
