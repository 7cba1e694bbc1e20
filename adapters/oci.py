"""Bring-your-own images: an OCI image reference as `Image`, run through podman as SageMaker runs it.

The supervisor spawns `podman run` in the foreground, so stopping, killing and exit codes work as for
any process: SIGTERM to podman is passed on to the image's entrypoint (podman's default signal proxy),
and podman exits with the container's status. What the image sees:

- started with `serve` as its argument, `--init` (catatonit) as PID 1 to reap and forward signals;
- its port 8080 published on 127.0.0.1 at the container's bind port, so images that ignore
  SAGEMAKER_BIND_TO_PORT work and the front door routes to it as to any container;
- /opt/ml/model: the unpacked artifact, read-only (and AdditionalModelDataSources at
  /opt/ml/additional-model-data-sources/<channel>); its Environment, plus SAGEMAKER_BIND_TO_PORT=8080 and
  SAGEMAKER_SAFE_PORT_RANGE;
- its processes under the container's own cgroup (see `_cgroup_flags`), so Memory/Cpus/Pids, metrics and
  the kill that ends a container reach them as they reach a process.

The image itself is made present before the first start (`runtime.images`, with ECR credentials where
needed); `podman run` never pulls. What podman leaves when it is killed outright is removed by name
(`_REMOVE`): before each `podman run` (a crashed run's leftovers), and after each exit by
`cleanup_command`, which the supervisor runs (adapters never spawn).
"""

from __future__ import annotations

import re
import resource
import shutil
from pathlib import Path

from adapters.base import Launch

PODMAN = "podman"
IMAGE_PORT = 8080  # where SageMaker's contract has every image listen
MODEL_TARGET = "/opt/ml/model"
_NAME_BAD = re.compile(r"[^a-zA-Z0-9_.-]")


# $1 podman, $2 the container's name, $3 the OCI runtime. What a container killed outright leaves: podman's
# record, mounts and network, and the runtime's state and cgroups (in hierarchies coserve does not manage too).
# When a cgroup kill takes conmon along with the container, nothing runs podman's own cleanup: the first
# `podman rm` then fails ("container state improper"), a second removes the record, and only `<runtime> delete
# --force` removes the runtime's cgroups (measured with podman 4.3 and runc 1.1).
_REMOVE = (
    'if id=$("$1" inspect --format "{{.Id}}" "$2" 2>/dev/null); then '
    '"$1" rm --force --time 0 "$2" >/dev/null 2>&1 || "$1" rm --force --ignore --time 0 "$2" >/dev/null; '
    '"$3" delete --force "$id" 2>/dev/null; fi; '
)


# Then `podman run …` ($4 on), with the shell's own oom_score_adj (the container's) added after `run`.
_EXEC_RUN = 'shift 3; podman=$1; shift 2; exec "$podman" run --oom-score-adj="$(cat /proc/$$/oom_score_adj)" "$@"'


def podman_path() -> str | None:
    return shutil.which(PODMAN)


def container_name(endpoint: str, hostname: str, generation: int = 1) -> str:
    """One podman container per endpoint, generation and container hostname on this host (names are lowercased:
    endpoint names compare case-insensitively). The first generation's name has no generation in it."""
    suffix = f"-g{generation}" if generation != 1 else ""
    return _NAME_BAD.sub("-", f"coserve-{endpoint}-{hostname}{suffix}".lower())


def _cgroup_flags(cgroups: str) -> list[str]:
    """Where the container's processes go, relative to the cgroup podman was started in (the container's).

    v2: crun with `--cgroups=disabled`: conmon and the container stay in the container's cgroup itself,
        exactly as a process (one leaf; runc cannot run without a cgroup of its own).
    v1: runc (crun refuses hybrid hosts) with `--cgroups=no-conmon --cgroup-parent=.`: conmon stays in the
        container's cgroup and runc, which resolves a relative parent against its own cgroup in every
        hierarchy, puts the container in a child of it (`<container>/libpod-<id>`): the container's
        limits hold for the child (v1 limits are hierarchical), usage adds up in the parent, and the
        cgroup backend's kill and process count cover children. podman's default pids limit is lifted
        so that Pids (the parent's) is the only one. v1 counts an OOM kill only in the victim's own cgroup,
        which podman removes at exit: the v1 backend counts those too (`runtime.cgroups.v1oom`).
        (`--cgroups=disabled` is refused with runc; `--cgroups=split` finds no cgroup mount on a hybrid
        host; an absolute `--cgroup-parent` is one path for every hierarchy, where coserve's v1 cgroups
        may sit under different paths per hierarchy.)
    none: podman's own cgroups; coserve enforces nothing there (as for processes).
    """
    if cgroups == "v2":
        return ["--runtime", "crun", "--cgroups=disabled"]
    if cgroups == "v1":
        return ["--runtime", "runc", "--cgroups=no-conmon", "--cgroup-parent=.", "--pids-limit=-1"]
    return ["--runtime", "runc"]


def _mount(host: Path, target: Path | str) -> list[str]:
    return ["--mount", f"type=bind,source={host},target={target},readonly"]


def _ulimit_flags() -> list[str]:
    """coserve's own limits, as a process container inherits them: podman's defaults can exceed the host's
    hard limits, and the runtime then fails. nproc is also capped at kernel.pid_max: no more processes can
    exist, and a kernel measured here refused a higher RLIMIT_NPROC in runc's init ("operation not permitted")."""
    flags = []
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        soft, hard = (_finite(v) for v in resource.getrlimit(which))
        if name == "nproc":
            soft, hard = min(soft, _pid_max()), min(hard, _pid_max())
        if hard < _UNLIMITED:
            flags += ["--ulimit", f"{name}={min(soft, hard)}:{hard}"]
    return flags


_UNLIMITED = 2**62


def _finite(value: int) -> int:
    return _UNLIMITED if value == resource.RLIM_INFINITY else value


def _pid_max() -> int:
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return _UNLIMITED


class OciAdapter:
    name = "oci"
    safe_ports_needed = 0  # the image has its own network namespace: its safe ports are its own

    def check(self, command: tuple[str, ...] | None) -> list[str]:
        if command:
            return ["not used by an OCI image: its entrypoint runs with `serve`, as SageMaker starts it"]
        return []

    def command(self, launch: Launch) -> list[str]:
        """`podman run` in the foreground, after removing what a crashed run left under the same name (a shell
        that then execs podman, keeping its pid). Values of the environment travel in podman's environment
        (`--env NAME`), not in its argv, which every user of the host can read. The image's processes get the
        oom_score_adj coserve gave the container (podman would set 0), so the kernel ranks them as it ranks a
        process container's."""
        forwarded = sorted({*self.environment(launch), *launch.environment})
        podman = podman_path() or PODMAN
        name = container_name(launch.endpoint, launch.hostname, launch.generation)
        runtime = _cgroup_flags(launch.cgroups)[1]
        return [
            "/bin/sh", "-c", _REMOVE + _EXEC_RUN, "coserve-oci", podman, name, runtime,
            podman, "run", "--rm", "--init", "--pull=never",
            "--name", name, "--hostname", launch.hostname,
            "--label", f"coserve.endpoint={launch.endpoint}", "--label", f"coserve.container={launch.hostname}",
            "--log-driver=passthrough",  # its output straight into the container's log pipe
            "--network=bridge", "--publish", f"127.0.0.1:{launch.bind_port}:{IMAGE_PORT}",
            *_mount(launch.model_dir, MODEL_TARGET),
            *(arg for host, target in launch.mounts for arg in _mount(host, target)),
            *_cgroup_flags(launch.cgroups), *_ulimit_flags(),
            *(arg for name in forwarded for arg in ("--env", name)),
            launch.image, "serve",
        ]  # fmt: skip

    def environment(self, launch: Launch) -> dict[str, str]:
        lo, hi = launch.safe_ports
        return {"SAGEMAKER_BIND_TO_PORT": str(IMAGE_PORT), "SAGEMAKER_SAFE_PORT_RANGE": f"{lo}-{hi}"}

    def cleanup_command(self, launch: Launch) -> list[str]:
        """Removes what a container killed outright leaves (see `_REMOVE`); the supervisor runs it after exits."""
        name = container_name(launch.endpoint, launch.hostname, launch.generation)
        runtime = _cgroup_flags(launch.cgroups)[1]
        return ["/bin/sh", "-c", _REMOVE + "exit 0", "coserve-oci-cleanup", podman_path() or PODMAN, name, runtime]

    def readiness_url(self, launch: Launch) -> str:
        return f"http://127.0.0.1:{launch.bind_port}/ping"

    def ready(self, status: int, body: bytes) -> bool:
        return status == 200
