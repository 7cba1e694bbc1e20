"""Three identical coserve hosts behind HAProxy on one machine, each in a network namespace of its own.

Under steady load through the balancer: the spread across hosts is even; a host killed with SIGKILL leaves
rotation within the health check's window and the only requests that fail are ones in flight at the kill;
the host restarted rejoins; a rolling update of the deployment, one host at a time (out of the balancer's
rotation, SIGTERM, drain, start with the new file, ready, back in rotation), loses no request and the new
version answers after. Needs root (namespaces, veths, cgroups) and Debian's haproxy; `images/install.sh
--extras dev` installs it. The figures it measures are printed (run with -s); the README's "More than one
host" quotes them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runtime.cgroups.procfs import cgroup_mounts, own_cgroups, under
from runtime.cgroups.tree import remove_tree
from tests.images.scaleout.balancer import FALL, INTER_S, RISE, Balancer
from tests.images.scaleout.cluster import ENDPOINT, CoserveHost, deployment
from tests.images.scaleout.load import Load, Outcome, spread
from tests.images.scaleout.netns import Hosts
from tests.support import wait_for, write_tarball

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces, veths and cgroups need root"),
]
CHECK_WINDOW_S = FALL * INTER_S + 1.0  # FALL failed checks, INTER_S apart, each failing within `timeout check`


@dataclass
class Cluster:
    hosts: list[CoserveHost]
    balancer: Balancer
    load: Load
    models: dict[str, Path]
    ids: dict[str, str]  # network namespace id -> host name
    figures: dict[str, Any] = field(default_factory=dict)

    def names(self, outcomes: list[Outcome]) -> dict[str, int]:
        return {self.ids.get(str(k), str(k)): v for k, v in sorted(spread(outcomes).items(), key=str)}

    def status(self, host: CoserveHost) -> str:
        return self.balancer.status(host.name)


def _coserve_cgroups(pids: set[int]) -> list[Path]:
    """Run directories (cgroups) that coserve processes with these pids made below this process's cgroup,
    in every hierarchy (v1: one per controller mount; v2: the unified one)."""
    mounts, own = cgroup_mounts(), own_cgroups()
    parents = {under(mount, own[name]) for name, mount in mounts.v1.items() if name in own}
    parents |= {under(mount, own[""]) for mount in mounts.v2 if "" in own}
    return sorted(p for parent in parents if parent.is_dir() for p in parent.glob("coserve.*.*")
                  if p.name.split(".")[1].isdigit() and int(p.name.split(".")[1]) in pids)  # fmt: skip


def _remove_cgroups(pids: set[int]) -> list[Path]:
    """What a killed host left and no later start cleaned (a test that failed before the restart)."""
    left = _coserve_cgroups(pids)
    for path in left:
        remove_tree(path)
    return left


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    net = Hosts(3)
    hosts: list[CoserveHost] = []
    balancer: Balancer | None = None
    load: Load | None = None
    try:
        models = {v: write_tarball(tmp_path / f"model-{v}.tar.gz", {"model.txt": v}) for v in ("v1", "v2")}
        for h in net.open():
            host = CoserveHost(h, tmp_path / f"h{h.index}")
            host.write(deployment(models["v1"]))
            host.start()
            hosts.append(host)
        for host in hosts:
            host.wait_ready()
        assert len({h.file.read_bytes() for h in hosts}) == 1, "every host serves the same file"
        balancer = Balancer(tmp_path / "haproxy", {h.name: h.address for h in hosts})
        balancer.start()
        wait_for(lambda: all(balancer.status(h.name) == "UP" for h in hosts), 15, "haproxy to see every host UP")
        load = Load(balancer.url, ENDPOINT)
        yield Cluster(hosts, balancer, load, models, {h.host.namespace_id(): h.name for h in hosts})
    finally:
        if load is not None:
            load.close()
        for host in hosts:
            host.close()
        if balancer is not None:
            balancer.stop()
        problems = net.close()
        coserve_pids = {pid for h in hosts for pid in h.coserve_pids}
        assert problems == [] and net.leftovers() == [], f"namespaces or veths left: {problems or net.leftovers()}"
        assert [p for h in hosts for p in h.alive()] == [], "processes left"
        assert _remove_cgroups(coserve_pids) == [], "cgroups left (now removed)"


def _after(load: Load, since: float, count: int, what: str) -> None:
    wait_for(lambda: sum(o.started >= since for o in load.snapshot()) >= count, 60, what)


def test_three_hosts_behind_haproxy(cluster: Cluster) -> None:
    c, fig = cluster, cluster.figures
    victim = c.hosts[1]

    # Spread: a fixed number of requests, round robin, every one answered.
    first = c.load.run(per_thread=50)
    assert [o.error for o in first if o.error] == []
    fig["spread"] = c.names(first)
    for host in c.hosts:
        assert 0.2 <= fig["spread"][host.name] / len(first) <= 0.47, fig["spread"]

    # SIGKILL one host under load.
    t_load = time.monotonic()
    c.load.start()
    _after(c.load, t_load, 100, "requests before the kill")
    t_kill = time.monotonic()
    victim.kill()
    t_killed = time.monotonic()
    wait_for(lambda: c.status(victim).startswith("DOWN"), CHECK_WINDOW_S + 2, "haproxy to take the host out")
    t_down = time.monotonic()
    _after(c.load, t_down, 150, "requests after the host went out of rotation")
    c.load.stop()
    during = [o for o in c.load.snapshot() if o.started >= t_load]
    failed = [o for o in during if o.error]
    in_flight = [o for o in during if o.started <= t_killed and o.ended >= t_kill]
    seen = c.balancer.stats()[victim.name]
    # What haproxy counted as dying on the victim after it had sent the request (for the figures only: a
    # request lost on a reused connection closes the client's connection and is not always counted there).
    lost_on_victim = int(seen["eresp"] or 0) + int(seen["srv_abrt"] or 0)
    fig["kill"] = {
        "requests": len(during), "failed": len(failed), "lost_on_victim_per_haproxy": lost_on_victim,
        "in_flight_anywhere_at_kill": len(in_flight),
        "out_of_rotation_after_s": round(t_down - t_kill, 2), "check_window_s": CHECK_WINDOW_S,
        "redispatched_on_conn_failure": int(seen["wredis"] or 0),
        "errors": sorted({o.error or "" for o in failed}),
    }  # fmt: skip
    assert t_down - t_kill <= CHECK_WINDOW_S + 1.0, fig["kill"]
    # A request that failed was in flight when the host died; none sent after the kill failed (a refused
    # connection is redispatched to another host), and fewer failed than were in flight anywhere.
    assert all(o in in_flight for o in failed), "only requests in flight at the kill may fail"
    assert len(failed) < len(in_flight), fig["kill"]
    after_down = [o for o in during if o.started >= t_down]
    assert victim.name not in c.names(after_down), "nothing reaches a host out of rotation"
    fig["spread_with_one_down"] = c.names(after_down)

    # The host restarted rejoins.
    t_restart = time.monotonic()
    victim.start()
    victim.wait_ready()
    wait_for(lambda: c.status(victim) == "UP", RISE * INTER_S + 5, "haproxy to bring the host back")
    fig["rejoin_s"] = round(time.monotonic() - t_restart, 2)
    back = c.load.run(per_thread=30)
    assert [o.error for o in back if o.error] == []
    fig["spread_after_rejoin"] = c.names(back)
    assert fig["spread_after_rejoin"].get(victim.name, 0) >= 0.2 * len(back), fig["spread_after_rejoin"]

    # Rolling update under load, one host at a time: out of rotation, SIGTERM (drain), the new file, ready, back.
    t_roll = time.monotonic()
    c.load.start()
    new = deployment(c.models["v2"])
    for host in c.hosts:
        _after(c.load, time.monotonic(), 30, f"requests before updating {host.name}")
        # Out of rotation first, as an ALB's deregistration or a pod's preStop does: a keep-alive connection the
        # balancer reuses at the moment coserve closes it loses that request (2 of 3,422, seen without this).
        c.balancer.command(f"set server coserve/{host.name} state drain")
        wait_for(lambda h=host: c.balancer.stats()[h.name]["scur"] == "0", 30, f"{host.name} drained")
        assert host.terminate() == 0, f"{host.name} did not stop cleanly"
        host.write(new)
        host.start()
        host.wait_ready()
        c.balancer.command(f"set server coserve/{host.name} state ready")
        wait_for(lambda h=host: c.status(h) == "UP", RISE * INTER_S + 5, f"{host.name} back in rotation")
    _after(c.load, time.monotonic(), 60, "requests after the update")
    c.load.stop()
    rolling = [o for o in c.load.snapshot() if o.started >= t_roll]
    fig["rolling"] = {"requests": len(rolling), "failed": sum(1 for o in rolling if o.error),
                      "seconds": round(time.monotonic() - t_roll, 1),
                      "errors": sorted({o.error or "" for o in rolling if o.error})}  # fmt: skip
    assert fig["rolling"]["failed"] == 0, fig["rolling"]
    assert len({h.file.read_bytes() for h in c.hosts}) == 1
    last = c.load.run(per_thread=30)
    assert {o.model for o in last} == {"v2"}, "the new version answers"
    fig["spread_after_update"] = c.names(last)
    assert set(fig["spread_after_update"]) == {h.name for h in c.hosts}
    print("three-host figures:", json.dumps(fig, indent=1))
