"""Hosts on one machine: a network namespace each, joined to this one by a veth pair of its own.

Every address is on the test's veths only: host i's namespace holds 10.X.Y.(4i+2)/30, this namespace's
end 10.X.Y.(4i+1)/30, in a 10.X.Y.0/24 that no route of this machine covers (checked, not assumed). Nothing
is bridged or routed further, so the traffic never leaves the machine. Names carry the test process's pid,
so a second run on the machine cannot collide; `close()` removes what `open()` made, whatever happened.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

CANDIDATES = [f"10.{a}.{b}.0/24" for a in (231, 232, 233) for b in range(0, 250, 7)]


def ip(*args: str, netns: str | None = None) -> str:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def unused_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10/8 that overlaps no address or route this machine has."""
    taken = [ipaddress.ip_network(word, strict=False) for line in ip("-4", "route", "show", "table", "all").splitlines()
             for word in line.split()[:1] if word[0].isdigit()]  # fmt: skip
    taken += [ipaddress.ip_interface(line.split()[3]).network for line in ip("-o", "-4", "addr").splitlines()]
    for text in CANDIDATES:
        net = ipaddress.ip_network(text)
        if not any(net.overlaps(t) for t in taken):
            return net
    raise RuntimeError("no unused 10.x /24 for the test's veths")


@dataclass(frozen=True)
class Host:
    index: int
    netns: str  # the namespace's name under /run/netns
    outer: str  # this namespace's end of the veth
    address: str  # the host's address, inside its namespace

    def enter(self) -> list[str]:
        """argv prefix that runs a command in the host's network namespace, and only that: unlike
        `ip netns exec`, nsenter leaves /sys (and so the cgroup mounts coserve needs) as it is."""
        return ["nsenter", f"--net=/run/netns/{self.netns}", "--"]

    def namespace_id(self) -> str:
        """What readlink("/proc/self/ns/net") says inside the host: how a container tells which host it is."""
        return f"net:[{Path('/run/netns', self.netns).stat().st_ino}]"


class Hosts:
    def __init__(self, count: int) -> None:
        self.count = count
        self.tag = f"cs{os.getpid() % 100000}"
        self.hosts: list[Host] = []

    def open(self) -> list[Host]:
        net = unused_subnet()
        for i in range(self.count):
            base = int(net.network_address) + 4 * i
            host = Host(i, f"{self.tag}-h{i}", f"{self.tag}h{i}", str(ipaddress.ip_address(base + 2)))
            self.hosts.append(host)  # before it exists: close() removes whatever part of it was made
            ip("netns", "add", host.netns)
            ip("link", "add", host.outer, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
            ip("addr", "add", f"{ipaddress.ip_address(base + 1)}/30", "dev", host.outer)
            ip("link", "set", host.outer, "up")
            ip("addr", "add", f"{host.address}/30", "dev", "eth0", netns=host.netns)
            ip("link", "set", "eth0", "up", netns=host.netns)
            ip("link", "set", "lo", "up", netns=host.netns)  # the containers listen on the host's 127.0.0.1
        return self.hosts

    def close(self) -> list[str]:
        """Remove every veth and namespace; return what could not be removed (the test asserts it is none)."""
        problems = []
        for host in self.hosts:
            for argv in (["link", "del", host.outer], ["netns", "del", host.netns]):
                try:
                    ip(*argv)
                except RuntimeError as exc:
                    if "Cannot find device" not in str(exc) and "No such file" not in str(exc):
                        problems.append(str(exc))
        self.hosts = []
        return problems

    def leftovers(self) -> list[str]:
        names = ip("netns", "list") + ip("-o", "link")
        return [word for word in names.split() if word.startswith(self.tag)]
