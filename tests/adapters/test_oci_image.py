"""Bring-your-own images through coserve and podman, for real: an image built here from a locally made base,
whose server hard-codes port 8080, invoked through the front door, limited, killed, restarted, stopped.

podman, runc and debootstrap must be installed (images/install.sh --extras dev,podman, as .ci/run does):
without them these tests fail, naming what is missing; they never skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from adapters.oci import container_name
from runtime.cgroups.procfs import cgroup_mounts
from tests.containers.oci import build_image, podman
from tests.runtime.metrics.scrape import scrape, value
from tests.support import Coserve, client_error, start_coserve, wait_for, write_tarball

pytestmark = pytest.mark.integration
ENDPOINT = "byo-ep"
MEMORY = 256 * 2**20


@pytest.fixture(scope="module")
def image() -> str:
    return build_image()


def byo_doc(work: Path, image: str, hostname: str = "byo", **coserve: Any) -> dict[str, Any]:
    model = write_tarball(work / f"{hostname}.tar.gz", {"model.txt": f"the {hostname} model"})
    return {
        "EndpointName": ENDPOINT,
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [{"ContainerHostname": hostname, "Image": image, "ModelDataUrl": str(model),
                        "Environment": {"BYO_GREETING": "hello"}}],
        "Coserve": {"Containers": {hostname: {"Memory": "256MiB", "Pids": 64, "ImagePull": "never", **coserve}},
                    "Server": {"BackoffBase": "0.2s"}},
    }  # fmt: skip


@pytest.fixture(scope="module")
def byo(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    work = tmp_path_factory.mktemp("byo")
    c = start_coserve(byo_doc(work, image), work)
    yield c
    c.stop()


def invoke(c: Coserve, body: bytes = b'{"x": 1}') -> dict[str, Any]:
    r = c.client().invoke_endpoint(EndpointName=c.endpoint, TargetContainerHostname="byo", Body=body)
    return json.loads(r["Body"].read())  # type: ignore[no-any-return]


def server_pids() -> list[int]:
    """The image's server, as the host sees it (it is no descendant of coserve: conmon runs it)."""
    return [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if (p.info["cmdline"] or [])[:2] == ["python3", "/srv/server.py"]
    ]


def memory_cgroup(pid: int) -> Path:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if "memory" in names.split(","):
            return cgroup_mounts().v1["memory"] / path.lstrip("/")
    raise AssertionError(f"pid {pid} has no memory cgroup")


def test_the_image_serves_through_the_front_door_as_sagemaker_starts_it(byo: Coserve) -> None:
    answer = invoke(byo)
    assert answer["argv"] == ["serve"]
    assert answer["model"] == "the byo model" and answer["model_writable"] is False, "/opt/ml/model, read-only"
    assert answer["echo"] == '{"x": 1}'
    env = answer["env"]
    assert env["SAGEMAKER_BIND_TO_PORT"] == "8080" and env["BYO_GREETING"] == "hello"
    port = byo.routes()["byo"]["port"]
    listening = {(c.laddr.ip, c.laddr.port) for c in psutil.net_connections("tcp") if c.status == "LISTEN"}
    assert ("127.0.0.1", port) in listening and ("0.0.0.0", port) not in listening, "published on loopback only"


def test_its_processes_are_in_the_containers_cgroup_under_its_memory_limit(byo: Coserve) -> None:
    pids = server_pids()
    assert len(pids) == 1
    group = memory_cgroup(pids[0])
    key = f"{ENDPOINT}.1.byo"  # the cgroup of its key: <endpoint>.<generation>.<hostname>
    assert f"/{key}/" in f"{group}/", f"under coserve's cgroup for byo: {group}"
    stat = dict(line.split() for line in (group / "memory.stat").read_text().splitlines())
    assert int(stat["hierarchical_memory_limit"]) == MEMORY
    byo_dir = next(p for p in group.parents if p.name == key)
    assert int((byo_dir / "memory.limit_in_bytes").read_text()) == MEMORY
    assert pids[0] in {int(x) for x in (group / "cgroup.procs").read_text().split()}
    podman_pid = int((byo_dir / "cgroup.procs").read_text().split()[0])
    adj = Path(f"/proc/{podman_pid}/oom_score_adj").read_text()
    assert Path(f"/proc/{pids[0]}/oom_score_adj").read_text() == adj, "the container's OOM ranking, inside too"


def test_its_metrics_are_those_of_the_whole_container(byo: Coserve) -> None:
    m = scrape(byo.url)
    assert value(m, "coserve_container_memory_limit_bytes", container="byo") == MEMORY
    memory = value(m, "coserve_container_memory_bytes", container="byo")
    assert memory is not None and memory > 4 * 2**20, "the image's server, conmon and podman, all counted"
    pids = value(m, "coserve_container_pids", container="byo")
    assert pids is not None and pids >= 4, "podman, conmon, the init and the server (the last two in runc's child)"


def restarted_after(byo: Coserve, exit_line: str, action: Callable[[], object]) -> None:
    """Do `action`, see the container exit with `exit_line` (once more than before) and run again."""
    running = "'byo' STARTING -> RUNNING"
    seen, ran = byo.log.read_text().count(exit_line), byo.log.read_text().count(running)
    action()
    wait_for(lambda: byo.log.read_text().count(exit_line) > seen, 30, f"{exit_line!r} in {byo.log}")
    # The log line, not routes.json: the table is republished a tick after the exit, so it may still say RUNNING.
    wait_for(lambda: byo.log.read_text().count(running) > ran, 90, f"byo RUNNING again (log: {byo.log})")
    byo.wait_state("byo", "RUNNING", timeout=30)


def oom_kills(byo: Coserve) -> float:
    kills = value(scrape(byo.url), "coserve_container_oom_kills_total", container="byo")
    assert kills is not None
    return kills


def test_the_memory_limit_holds_for_the_image_and_its_oom_kill_is_reported(byo: Coserve) -> None:
    [pid] = server_pids()
    before = oom_kills(byo)
    # v1 counts the kill in runc's child cgroup only, which podman removes; the cgroup backend counts it all the same.
    errors: list[dict[str, Any]] = []
    restarted_after(byo, "exited: (killed by the OOM killer at 256.0MiB; not expected)", lambda: errors.append(
        client_error(lambda: invoke(byo, b"hog"))))  # fmt: skip
    assert errors[0]["Error"]["Code"] == "ModelError"
    assert not psutil.pid_exists(pid)
    wait_for(lambda: oom_kills(byo) >= before + 1, 30, "the OOM kill in coserve_container_oom_kills_total")
    assert oom_kills(byo) == before + 1, "one kill, counted once"
    assert invoke(byo)["model"] == "the byo model"


def test_a_killed_server_is_restarted_and_serves_again(byo: Coserve) -> None:
    [pid] = server_pids()
    restarted_after(byo, "exited: (exit status 137; not expected)", psutil.Process(pid).kill)
    assert invoke(byo)["model"] == "the byo model"
    assert server_pids() != [pid]


def test_podman_killed_outright_takes_its_container_along_and_it_comes_back(byo: Coserve) -> None:
    [server] = server_pids()
    old = container_id(container_name(ENDPOINT, "byo"))
    [cli] = [p for p in byo.descendants() if p.cmdline()[:2] == [shutil.which("podman"), "run"]]
    # conmon and the server live on outside podman's process group, but inside the container's cgroup
    restarted_after(byo, "exited: (terminated by SIGKILL; not expected)", cli.kill)
    assert not psutil.pid_exists(server), "the old server went with the cgroup's kill"
    assert invoke(byo)["model"] == "the byo model"
    assert runc_cgroups(old) == [], "runc's cgroups of the old one are gone"


def test_a_start_that_fails_the_same_way_twice_is_fatal_at_once(image: str, tmp_path: Path) -> None:
    doc = byo_doc(tmp_path, image, hostname="broken")
    doc["Containers"][0]["Environment"]["BYO_FAIL"] = "no such flag --frobnicate"
    doc["Coserve"]["Server"]["StartRetries"] = 10
    c = start_coserve(doc, tmp_path, wait_ready=False)
    try:
        c.wait_state("broken", "FATAL", timeout=120)
        log = (tmp_path / "logs" / "broken.log").read_text()
        assert log.count("-> STARTING: spawned") == 2, "failed at the second identical exit, not after 10"
        assert "gave up: failed the same way twice in a row before answering a ping: " in log
        assert "server.py: cannot start: no such flag --frobnicate (exit status 1)" in log
    finally:
        assert c.stop() == 0
    assert podman("ps", "-a", "-q", "--filter", f"name={container_name(ENDPOINT, 'broken')}").stdout.strip() == ""


def test_an_image_not_in_local_storage_with_image_pull_never_fails_its_fetch(tmp_path: Path) -> None:
    doc = byo_doc(tmp_path, "localhost/coserve-test-absent:never")
    c = start_coserve(doc, tmp_path, wait_ready=False)
    assert c.proc.wait(60) == 1, "an artifact or image that cannot be had stops coserve (OnArtifactError: exit)"
    assert "is not in podman's local storage, and ImagePull is never" in c.log.read_text()
    c.stop()


def test_sigterm_leaves_no_container_process_or_cgroup(image: str, tmp_path: Path) -> None:
    doc = byo_doc(tmp_path, image)
    doc["EndpointName"] = "byo-stop-ep"  # its own podman container name, beside the module's coserve
    c = start_coserve(doc, tmp_path)
    name = container_name("byo-stop-ep", "byo")
    try:
        assert podman("ps", "-q", "--filter", f"name={name}").stdout.strip() != ""
        [pid] = [p for p in server_pids() if f"/coserve.{c.proc.pid}." in str(memory_cgroup(p))]
        groups = [g for g in memory_cgroup(pid).parents if g.name.startswith("coserve.")]
        assert len(groups) == 1, "the run directory of this coserve"
        cid = container_id(name)
        assert runc_cgroups(cid), "runc's cgroups for the container exist while it runs"
    finally:
        code = c.stop()
    assert code == 0
    assert podman("ps", "-a", "-q", "--filter", f"name={name}").stdout.strip() == "", "no podman container"
    assert not psutil.pid_exists(pid), "no process"
    assert not groups[0].exists(), "coserve's cgroups are gone"
    assert runc_cgroups(cid) == [], "and runc's, in every hierarchy"
    assert "stopping: sent SIGTERM" in c.log.read_text()


def container_id(name: str) -> str:
    return podman("inspect", "--format", "{{.Id}}", name).stdout.strip()


def runc_cgroups(cid: str) -> list[Path]:
    """The cgroups runc made for one container, in every hierarchy (those coserve does not manage too)."""
    found = subprocess.run(["find", "/sys/fs/cgroup", "-type", "d", "-name", f"libpod-{cid}"], capture_output=True,
                           text=True, check=False)  # fmt: skip
    return [Path(line) for line in found.stdout.split()]


def test_a_crashed_coserves_container_is_removed_by_the_next_start(image: str, tmp_path: Path) -> None:
    doc = byo_doc(tmp_path, image)
    doc["EndpointName"] = "byo-crash-ep"
    name = container_name("byo-crash-ep", "byo")
    first = start_coserve(doc, tmp_path / "first")
    [old] = [p for p in server_pids() if f"/coserve.{first.proc.pid}." in str(memory_cgroup(p))]
    ids = [container_id(name)]
    first.proc.kill()  # no shutdown at all: its container, conmon and podman run on
    first.stop()
    assert psutil.pid_exists(old) and podman("ps", "-q", "--filter", f"name={name}").stdout.strip()
    # Its own ports: the crashed run's conmon holds the old one until the stale cgroup is cleaned, which
    # comes after coserve checks its ports (as for a crashed run's processes).
    again = byo_doc(tmp_path, image)
    again["EndpointName"] = "byo-crash-ep"
    second = start_coserve(again, tmp_path / "second")
    try:
        wait_for(lambda: not psutil.pid_exists(old), 30, "the crashed run's server to be gone")
        ids.append(container_id(name))
        assert ids[1] != ids[0]
        r = second.client().invoke_endpoint(EndpointName="byo-crash-ep", TargetContainerHostname="byo", Body=b"{}")
        assert json.loads(r["Body"].read())["model"] == "the byo model"
    finally:
        code = second.stop()
    assert code == 0
    assert podman("ps", "-a", "-q", "--filter", f"name={name}").stdout.strip() == ""
    assert [runc_cgroups(cid) for cid in ids] == [[], []], "nothing of either run's container is left"
