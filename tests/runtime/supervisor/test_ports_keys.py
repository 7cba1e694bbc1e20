"""Port blocks and container keys: what lets containers come and go on a running host."""

from __future__ import annotations

import re

import pytest

from runtime.supervisor.keys import ContainerKey
from runtime.supervisor.ports import NoPortBlock, PortBlocks


def test_blocks_are_handed_out_lowest_first_never_twice_and_come_back() -> None:
    blocks = PortBlocks(60000, 1000)
    assert blocks.count == 5  # 60000..64999; a sixth would pass 65535
    assert [blocks.take() for _ in range(3)] == [0, 1, 2]
    with pytest.raises(NoPortBlock, match=r"port block 1 \(port 61000\) is not free"):
        blocks.take(1)
    blocks.free(1)
    assert blocks.take(1) == 1 and blocks.take() == 3 and blocks.take() == 4
    with pytest.raises(NoPortBlock, match=r"all 5 port blocks of Coserve\.Server\.PortBase 60000 and PortBlock 1000"):
        blocks.take()


def test_a_block_holding_the_front_doors_port_is_never_picked() -> None:
    blocks = PortBlocks(20000, 100, avoid=[20150, 8080])
    assert [blocks.take(), blocks.take()] == [0, 2]
    assert blocks.take(1) == 1, "a block asked for by index is the caller's choice (the file's, checked by config)"


def test_a_keys_name_is_a_valid_cgroup_name_and_unique_per_generation() -> None:
    short = ContainerKey("ep", 2, "a")
    assert (short.name, str(short), short.storage_name) == ("ep.2.a", "ep/2/a", "ep.2--a")
    assert ContainerKey("ep", 1, "a").storage_name == "ep--a", "the first generation's model dir as before"
    long = [ContainerKey("e" * 63, g, "h" * 63) for g in (1, 2)]
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", k.name) for k in long)
    assert long[0].name != long[1].name
