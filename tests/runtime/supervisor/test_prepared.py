"""What the fetch step prepared reaches the spawn: the interpreter, its environment, more data and its mounts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from runtime.config import parse_deployment
from runtime.supervisor.isolation import Mounts, ProcessGroupOnly
from runtime.supervisor.prepared import Prepared, View
from runtime.supervisor.units import Unit
from tests.runtime.supervisor.test_supervisor import FakeOs, FakeWork, FileSupervisor

TARGET = Path("/opt/ml/additional-model-data-sources")


class PrivateMounts(ProcessGroupOnly):
    """An isolation that mounts: records what wrap() was asked to mount (no real namespace in a unit test)."""

    def __init__(self) -> None:
        self.mounts: list[Mounts] = []

    def view(self, host: Path, target: Path) -> Path:
        return target

    def wrap(self, unit: Unit, argv: list[str], model_dir: Path | None, more: Mounts = ()) -> list[str]:
        self.mounts.append(more)
        return argv


def spawned_env(tmp_path: Path, isolation: ProcessGroupOnly, prepared: Any) -> tuple[list[str], dict[str, str]]:
    d = parse_deployment({
        "EndpointName": "ep", "Containers": [{"ContainerHostname": "a", "Image": "process"}],
        "Coserve": {"Containers": {"a": {"Command": ["$(COSERVE_PYTHON)", "serve.py"]}},
                    "Server": {"LogDir": str(tmp_path / "logs"), "RunDir": str(tmp_path / "run")}},
    })  # fmt: skip
    os_, work = FakeOs(), FakeWork()
    sup = FileSupervisor(d, os_, work, isolation)
    sup.start(0.0)
    work.finish("fetch:a", prepared)
    sup.tick(0.1)
    _, argv, env = os_.spawned[0]
    return argv, env


def test_an_environment_for_requirements_and_additional_data_without_private_mounts(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    prepared = Prepared(tmp_path / "model", "/envs/x/bin/python", {"VIRTUAL_ENV": "/envs/x", "PATH": "/envs/x/bin"},
                        (View(sources, TARGET, "COSERVE_ADDITIONAL_MODEL_DATA_SOURCES"),))  # fmt: skip
    argv, env = spawned_env(tmp_path, ProcessGroupOnly(), prepared)
    assert argv[0] == env["COSERVE_PYTHON"] == "/envs/x/bin/python" and env["VIRTUAL_ENV"] == "/envs/x"
    assert env["PATH"] == "/envs/x/bin"
    assert env["COSERVE_ADDITIONAL_MODEL_DATA_SOURCES"] == str(sources), "no private mount: the host path"


def test_additional_data_is_mounted_where_mounts_are_private(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    isolation = PrivateMounts()
    _, env = spawned_env(tmp_path, isolation, Prepared(tmp_path / "model", views=(View(sources, TARGET, "DATA"),)))
    assert isolation.mounts == [((sources, TARGET),)]
    assert env["DATA"] == str(TARGET)


def test_a_bare_model_dir_still_works(tmp_path: Path) -> None:
    argv, env = spawned_env(tmp_path, ProcessGroupOnly(), tmp_path / "model")
    assert env["SM_MODEL_DIR"] == str(tmp_path / "model") and "VIRTUAL_ENV" not in env
    assert argv[0] == env["COSERVE_PYTHON"] == sys.executable, "coserve's own interpreter"
