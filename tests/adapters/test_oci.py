"""Bring-your-own images without podman running: references, resolution, the argv, config, pulls and ECR.

The pull itself goes through a fake `run` and a fake ECR client: a real ECR pull needs AWS credentials
and a registry, which these machines do not have (the integration tests pull nothing: ImagePull never).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import adapters
import adapters.oci
from adapters import adapter_name, resolve_image
from adapters.base import Launch
from adapters.oci import OciAdapter, container_name
from adapters.ociref import ecr_registry, parse_reference
from runtime.config import ConfigError, parse_deployment
from runtime.images import ImageError, ensure_image

ECR_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/model-server:1.2"


@pytest.mark.parametrize(
    ("image", "adapter"),
    [
        ("localhost/byo:1", "oci"),
        ("registry.example.com:5000/a/b/c:tag", "oci"),
        ("registry.example.com/org/img@sha256:" + "a" * 64, "oci"),
        (ECR_IMAGE, "oci"),
        ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310", "torchserve"),
        ("763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.13-cpu", "tensorflow-serving"),
        ("process", "process"),
        ("oci", None),  # the adapter's name alone names no image
        ("myserver:1", None),  # a short name: podman's search list would decide
        ("my-registry/thing:1", None),
        ("localhost/UPPER:1", None),  # repository paths are lowercase
    ],
)
def test_image_resolution(image: str, adapter: str | None) -> None:
    assert adapter_name(image) == adapter


def test_references_and_ecr_registries_are_parsed() -> None:
    ref = parse_reference(ECR_IMAGE)
    assert ref is not None and (ref.registry, ref.path, ref.tag, ref.digest) == (
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "team/model-server", "1.2", None,
    )  # fmt: skip
    ecr = ecr_registry(ref)
    assert ecr is not None and (ecr.account, ecr.region) == ("123456789012", "eu-west-1")
    local = parse_reference("localhost/byo:1")
    assert local is not None and ecr_registry(local) is None


def launch(tmp_path: Path, cgroups: str = "v1", **env: str) -> Launch:
    return Launch(
        hostname="byo", bind_port=20000, safe_ports=(20001, 20009), model_dir=tmp_path, work_dir=tmp_path,
        environment=env, command=None, memory_limit=None, image="localhost/byo:1", endpoint="My-Ep", cgroups=cgroups,
    )  # fmt: skip


def test_the_argv_runs_podman_in_the_foreground_as_sagemaker_starts_an_image(tmp_path: Path) -> None:
    wrapped = OciAdapter().command(launch(tmp_path, SECRET="s3cr3t", MODEL_NAME="m"))
    assert wrapped[:2] == ["/bin/sh", "-c"] and wrapped[2].startswith("if id=$("), "leftovers go first"
    assert 'run --oom-score-adj="$(cat /proc/$$/oom_score_adj)" "$@"' in wrapped[2], "the container's ranking"
    assert wrapped[4:7] == [wrapped[7], "coserve-my-ep-byo", "runc"]
    argv = wrapped[7:]
    assert argv[1:5] == ["run", "--rm", "--init", "--pull=never"]
    assert argv[-2:] == ["localhost/byo:1", "serve"]
    assert argv[argv.index("--name") + 1] == "coserve-my-ep-byo" == container_name("My-Ep", "byo")
    assert argv[argv.index("--publish") + 1] == "127.0.0.1:20000:8080"
    assert f"type=bind,source={tmp_path},target=/opt/ml/model,readonly" in argv
    extra = (tmp_path / "sources", Path("/opt/ml/additional-model-data-sources"))
    more = OciAdapter().command(replace(launch(tmp_path), mounts=(extra,)))
    assert f"type=bind,source={extra[0]},target={extra[1]},readonly" in more, "AdditionalModelDataSources too"
    forwarded = {argv[i + 1] for i, a in enumerate(argv) if a == "--env"}
    assert forwarded == {"SECRET", "MODEL_NAME", "SAGEMAKER_BIND_TO_PORT", "SAGEMAKER_SAFE_PORT_RANGE"}
    assert not any("s3cr3t" in a for a in argv), "values travel in podman's environment, not its argv"
    assert OciAdapter().environment(launch(tmp_path)) == {
        "SAGEMAKER_BIND_TO_PORT": "8080", "SAGEMAKER_SAFE_PORT_RANGE": "20001-20009",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("cgroups", "flags"),
    [
        ("v1", ["--runtime", "runc", "--cgroups=no-conmon", "--cgroup-parent=.", "--pids-limit=-1"]),
        ("v2", ["--runtime", "crun", "--cgroups=disabled"]),
        ("none", ["--runtime", "runc"]),
    ],
)
def test_the_container_is_placed_by_the_cgroup_backend(tmp_path: Path, cgroups: str, flags: list[str]) -> None:
    argv = OciAdapter().command(launch(tmp_path, cgroups))
    start = argv.index("--runtime")
    assert argv[start : start + len(flags)] == flags
    assert "--cgroups=disabled" not in argv or cgroups == "v2"


def test_cleanup_removes_the_record_and_the_runtimes_state(tmp_path: Path) -> None:
    argv = OciAdapter().cleanup_command(launch(tmp_path, "v1"))
    assert argv[:2] == ["/bin/sh", "-c"] and argv[-2:] == ["coserve-my-ep-byo", "runc"]
    assert 'delete --force "$id"' in argv[2]


def deployment(image: str, **own: Any) -> dict[str, Any]:
    return {
        "EndpointName": "ep",
        "Containers": [{"ContainerHostname": "byo", "Image": image}],
        "Coserve": {"Containers": {"byo": own}} if own else {},
    }


def test_config_takes_an_image_and_its_pull_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapters, "podman_path", lambda: "/usr/bin/podman")
    d = parse_deployment(deployment("localhost/byo:1", ImagePull="always"))
    assert (d.containers[0].adapter, d.containers[0].image_pull) == ("oci", "always")
    assert isinstance(resolve_image("localhost/byo:1"), OciAdapter)


def test_config_errors_name_the_field_and_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapters, "podman_path", lambda: None)
    with pytest.raises(ConfigError) as err:
        parse_deployment(deployment("localhost/byo:1", ImagePull="sometimes", Command=["x"]))
    found = err.value.problems
    assert any(p.startswith("Containers[0].Image: runs through podman, which is not on PATH") for p in found)
    assert any(p.startswith("Coserve.Containers.byo.ImagePull: must be one of missing, always, never") for p in found)
    assert any(p.startswith("Coserve.Containers.byo.Command: not used by an OCI image") for p in found)


class FakeRun:
    """podman as seen through subprocess.run: which images exist, what each call got."""

    def __init__(self, present: bool, pull_rc: int = 0) -> None:
        self.present = present
        self.pull_rc = pull_rc
        self.calls: list[list[str]] = []
        self.authfiles: list[dict[str, Any]] = []

    def __call__(self, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        if argv[1:3] == ["image", "exists"]:
            return subprocess.CompletedProcess(argv, 0 if self.present else 1, "", "")
        if "--authfile" in argv:
            self.authfiles.append(json.loads(Path(argv[argv.index("--authfile") + 1]).read_text()))
        return subprocess.CompletedProcess(argv, self.pull_rc, "", "Trying to pull...\nError: manifest unknown\n")


@pytest.fixture
def podman_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("runtime.images.podman_path", lambda: "/usr/bin/podman")


@pytest.mark.usefixtures("podman_here")
def test_pull_policies() -> None:
    run = FakeRun(present=True)
    assert ensure_image("localhost/byo:1", "missing", run) == "found in local storage"
    assert [c[1] for c in run.calls] == ["image"], "nothing pulled"
    assert ensure_image("localhost/byo:1", "always", run) == "pulled"
    assert run.calls[-1] == ["/usr/bin/podman", "pull", "--quiet", "localhost/byo:1"]
    with pytest.raises(ImageError, match="is not in podman's local storage, and ImagePull is never"):
        ensure_image("localhost/byo:1", "never", FakeRun(present=False))
    with pytest.raises(ImageError, match=r"podman pull registry\.example\.com/x/y:1 failed: Error: manifest unknown"):
        ensure_image("registry.example.com/x/y:1", "missing", FakeRun(present=False, pull_rc=125))


class FakeEcr:
    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, service: str, region_name: str) -> FakeEcr:
        self.asked.append((service, {"region_name": region_name}))
        return self

    def get_authorization_token(self, registryIds: list[str]) -> dict[str, Any]:
        self.asked.append(("token", {"registryIds": registryIds}))
        token = base64.b64encode(b"AWS:password").decode()
        return {"authorizationData": [{"authorizationToken": token, "proxyEndpoint": "https://x"}]}


@pytest.mark.usefixtures("podman_here")
def test_an_ecr_pull_gets_a_token_in_a_temporary_auth_file() -> None:
    run, ecr = FakeRun(present=False), FakeEcr()
    assert ensure_image(ECR_IMAGE, "missing", run, ecr) == "pulled"
    assert ecr.asked == [("ecr", {"region_name": "eu-west-1"}), ("token", {"registryIds": ["123456789012"]})]
    registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert run.authfiles == [{"auths": {registry: {"auth": base64.b64encode(b"AWS:password").decode()}}}]
    pull = run.calls[-1]
    assert not Path(pull[pull.index("--authfile") + 1]).exists(), "the token's file is gone after the pull"


@pytest.mark.usefixtures("podman_here")
def test_an_ecr_token_that_cannot_be_had_names_the_registry() -> None:
    def no_credentials(service: str, region_name: str) -> Any:
        raise RuntimeError("Unable to locate credentials")

    with pytest.raises(ImageError, match=r"ECR authorization token for 123456789012\.dkr.*Unable to locate"):
        ensure_image(ECR_IMAGE, "always", FakeRun(present=False), no_credentials)


@pytest.mark.integration  # runs `coserve check` as a process
def test_coserve_check_names_podman_missing(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(json.dumps(deployment("localhost/byo:1")))
    done = subprocess.run(
        [sys.executable, "-m", "runtime", "check", str(path)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PATH": str(tmp_path)}, cwd=Path(__file__).resolve().parents[2], check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "Containers[0].Image: runs through podman, which is not on PATH" in done.stderr
