"""The front door's port against the containers' ports: a clash is a config error, caught before start.

Each container binds 127.0.0.1:PortBase + i*PortBlock and may use the rest of its block (its
SAGEMAKER_SAFE_PORT_RANGE). A front door on any of those ports would take a port a container needs and
leave it crash-looping into FATAL; a clash is refused whatever --host is, since a port that two parts
of one deployment claim is a mistake even where the addresses would let both bind.
"""

from __future__ import annotations

from runtime.config.model import Deployment


def front_door_clash(d: Deployment, port: int) -> str | None:
    """The problem with serving on `port`, naming the container and the settings; None if there is none."""
    s = d.server
    for c in d.containers:
        bind = s.container_port(c.index)
        if port == bind:
            return (f"--port {port}: the front door's port is container {c.hostname}'s port "
                    f"(Coserve.Server.PortBase {s.port_base} + {c.index} x PortBlock {s.port_block})")  # fmt: skip
        if bind < port < bind + s.port_block:
            return (f"--port {port}: the front door's port is in container {c.hostname}'s "
                    f"SAGEMAKER_SAFE_PORT_RANGE {bind + 1}-{bind + s.port_block - 1} "
                    f"(Coserve.Server.PortBase {s.port_base}, PortBlock {s.port_block})")  # fmt: skip
    return None
