"""Port blocks: each live container holds one block of PortBlock ports from PortBase, never shared.

The block's first port is its SAGEMAKER_BIND_TO_PORT, the rest its SAGEMAKER_SAFE_PORT_RANGE. A block is
free again once its container is forgotten, so endpoints can come and go on a running host.
"""

from __future__ import annotations

import socket
from collections.abc import Collection

PORT_MAX = 65535


class NoPortBlock(ValueError):
    """No block is free, or the one asked for is taken; the message says which and why."""


class PortBlocks:
    def __init__(self, base: int, block: int, avoid: Collection[int] = ()) -> None:
        self.base = base
        self.block = block
        self.count = (PORT_MAX + 1 - base) // block
        # A block holding a port someone else needs (the front door's) is never picked for a newcomer.
        self._avoid = {(p - base) // block for p in avoid if base <= p < base + self.count * block}
        self._held: set[int] = set()

    def port(self, index: int) -> int:
        return self.base + index * self.block

    def take(self, wanted: int | None = None) -> int:
        """A free block's index: `wanted` where given (a deployment file's index), else the lowest free."""
        if wanted is not None:
            # Only the holder decides: a block asked for by index (the deployment file's, its ports checked
            # against the front door's by runtime.config) is never refused for a port to avoid.
            if wanted in self._held or not 0 <= wanted < self.count:
                raise NoPortBlock(f"port block {wanted} (port {self.port(wanted)}) is not free")
            self._held.add(wanted)
            return wanted
        for index in range(self.count):
            if index not in self._held and index not in self._avoid and _bindable(self.port(index)):
                self._held.add(index)
                return index
        raise NoPortBlock(f"all {self.count} port blocks of Coserve.Server.PortBase {self.base} and PortBlock "
                          f"{self.block} are in use")  # fmt: skip

    def free(self, index: int) -> None:
        self._held.discard(index)


def _bindable(port: int) -> bool:
    """Whether the block's first port is free on loopback now: another program's listener there would make every
    start of a newcomer fail to bind (SAGEMAKER_BIND_TO_PORT). A file's blocks are checked at start instead."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
