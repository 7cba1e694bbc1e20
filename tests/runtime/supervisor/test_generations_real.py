"""Two generations of one endpoint, the same hostnames, side by side on one running supervisor with real
processes and real cgroups (v1 here): the second comes up beside the first, the first is stopped and
forgotten, and nothing of it is left: no process (forked children included) and no cgroup."""

from __future__ import annotations

import asyncio
import os
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from runtime.cgroups.procfs import cgroup_mounts
from runtime.config import parse_deployment
from runtime.confinement import CgroupIsolation, choose_isolation
from runtime.supervisor import State, Supervisor
from runtime.supervisor.keys import ContainerKey
from runtime.supervisor.osproc import RealOs
from runtime.supervisor.units import Unit, deployment_units
from runtime.supervisor.work import AsyncWork
from tests.support import ECHO, free_block

pytestmark = pytest.mark.integration
V1 = cgroup_mounts().v1
needs_v1_root = pytest.mark.skipif(
    os.geteuid() != 0 or not {"memory", "pids"} <= set(V1), reason="real v1 cgroups need root and v1 hierarchies"
)


def cgroup_dir(pid: int) -> Path:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if "memory" in names.split(","):
            return V1["memory"] / path.lstrip("/")
    raise AssertionError(f"pid {pid} has no memory cgroup")


async def until(sup: Supervisor, check: Callable[[], bool], what: str, within: float = 60.0) -> None:
    """Tick the supervisor as coserve's main loop does, until `check()` holds or the deadline passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what}: {sup.states()}")
        sup.tick(loop.time())
        await asyncio.sleep(0.05)  # the tick interval of the loop under test, bounded by the deadline


def ping(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as r:
        return int(r.status)


def keys(units: tuple[Unit, ...]) -> list[ContainerKey]:
    return [u.key for u in units]


@needs_v1_root
def test_a_new_generation_beside_the_old_then_the_old_leaves_nothing(tmp_path: Path) -> None:
    containers = [{"ContainerHostname": h, "Image": "process", "Environment": {"ECHO_MODE": "fork"}} for h in "ab"]
    d = parse_deployment({
        "EndpointName": "gen-ep", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": containers,
        "Coserve": {"Containers": {h: {"Command": ECHO, "Memory": "256MiB"} for h in "ab"},
                    "Server": {"PortBase": free_block(10, 6), "PortBlock": 10, "StopGrace": "5s", "PingInterval": "1s",
                               "LogDir": str(tmp_path / "logs"), "RunDir": str(tmp_path / "run")}},
    })  # fmt: skip
    first, second = deployment_units(d), deployment_units(d, 2)
    isolation = choose_isolation(d, first)
    assert isinstance(isolation, CgroupIsolation)
    os_ = RealOs()
    work = AsyncWork(lambda unit: tmp_path / "model")
    (tmp_path / "model").mkdir()
    sup = Supervisor(d.server, os_, work, isolation)

    def running(which: list[ContainerKey]) -> bool:
        return set(sup.states(which).values()) == {State.RUNNING}

    def tree(key: ContainerKey) -> list[psutil.Process]:
        leader = psutil.Process(next(c.handle.pid for c in sup.containers if c.key == key and c.handle))
        return [leader, *leader.children(recursive=True)]

    seen: list[Path] = []  # every cgroup the containers ran in

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        try:
            sup.add(first, loop.time())
            await until(sup, lambda: running(keys(first)), "the first generation RUNNING")
            sup.add(second, loop.time())
            await until(sup, lambda: running(keys(second)), "the second generation RUNNING beside the first")
            assert running(keys(first)), "the first generation untouched by the second's start"
            old = {k: tree(k) for k in keys(first)}
            new = {k: tree(k) for k in keys(second)}
            assert all(len(t) >= 2 for t in (*old.values(), *new.values())), "each server and the child it forked"
            old_groups = {cgroup_dir(t[0].pid) for t in old.values()}
            assert {g.name for g in old_groups} == {"gen-ep.1.a", "gen-ep.1.b"}
            new_groups = {cgroup_dir(t[0].pid) for t in new.values()}
            assert {g.name for g in new_groups} == {"gen-ep.2.a", "gen-ep.2.b"}
            seen.extend([*old_groups, *new_groups])
            ports = [r.port for r in sup.routes()]
            assert len(set(ports)) == 4 and ports[:2] == [d.server.container_port(0), d.server.container_port(1)]
            for port in ports:  # each answers on its own port: nothing shared between the generations
                assert await asyncio.to_thread(ping, port) == 200

            sup.stop(keys(first), loop.time())
            await until(sup, lambda: sup.stopped(keys(first)), "the first generation STOPPED")
            sup.forget(keys(first))
            _, alive = psutil.wait_procs([p for t in old.values() for p in t], timeout=10)
            assert alive == [], "no process of the old generation is left, forked children included"
            assert [g for g in old_groups if g.exists()] == [], "its cgroups are removed"
            assert running(keys(second)) and list(sup.states()) == keys(second), "the new one serves on alone"
            assert all(p.is_running() for t in new.values() for p in t)

            sup.begin_stop(loop.time())
            await until(sup, sup.all_stopped, "shutdown")
            _, alive = psutil.wait_procs([p for t in new.values() for p in t], timeout=10)
            assert alive == []
        finally:
            sup.begin_stop(loop.time())
            await until(sup, sup.all_stopped, "cleanup")
            await work.close()
            sup.close()
            os_.close()

    asyncio.run(scenario())
    assert len(seen) == 4 and not [g for g in seen if g.exists()], "no cgroup left at all"
    assert not [g for g in {g.parent for g in seen} if g.exists()], "nor the run's own directory"
