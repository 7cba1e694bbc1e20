"""Admission by requests, limits that overcommit, and the OOM order under pressure (pure: numbers in, numbers out)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from runtime.admission import AdmissionError, Capacity, Ledger, Need, admit, ledger, oom_score_adj
from runtime.config import parse_deployment

MIB, GIB = 2**20, 2**30
HOST = Capacity(4 * GIB, "host memory", 2.0, "host CPUs")


def deployment(reserve: str = "256MiB", **per: dict[str, Any]) -> Any:
    return parse_deployment({
        "EndpointName": "ep", "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [{"ContainerHostname": h, "Image": "process"} for h in per],
        "Coserve": {"Containers": {h: {"Command": ["srv"], **s} for h, s in per.items()},
                    "Server": {"MemoryReserve": reserve}},
    })  # fmt: skip


def test_requests_that_fit_are_admitted_while_limits_overcommit() -> None:
    d = deployment(a={"Memory": "3GiB", "MemoryRequest": "1GiB"}, b={"Memory": "2GiB", "MemoryRequest": "512MiB"})
    book = admit(d, HOST)
    assert book.requested_bytes == 1536 * MIB
    assert book.reserved_bytes == 1792 * MIB  # + coserve's own 256 MiB
    assert book.free_bytes == 4 * GIB - 1792 * MIB
    assert book.limits_bytes == 5 * GIB
    assert book.overcommit_bytes == 5 * GIB + 256 * MIB - 4 * GIB
    assert "overcommit it by 1.2GiB" in book.summary()


def test_a_request_defaults_to_its_limit_so_limits_that_do_not_fit_are_still_refused() -> None:
    d = deployment(a={"Memory": "3GiB"}, b={"Memory": "2GiB"})
    with pytest.raises(AdmissionError) as info:
        admit(d, HOST)
    message = str(info.value)
    assert "memory requests need 5.0GiB (a 3.0GiB, b 2.0GiB)" in message
    assert "capacity is 4.0GiB (host memory)" in message
    assert "reserve 256.0MiB (Coserve.Server.MemoryReserve, for coserve itself)" in message
    assert "free 3.8GiB" in message


def test_the_reserve_counts_against_the_capacity() -> None:
    fits = deployment(reserve="0", a={"Memory": "4GiB"})
    assert admit(fits, HOST).free_bytes == 0
    with pytest.raises(AdmissionError, match=r"reserve 1.0MiB .* free 4.0GiB"):
        admit(deployment(reserve="1MiB", a={"Memory": "4GiB"}), HOST)


def test_containers_without_limit_or_request_are_not_counted_but_named() -> None:
    book = admit(deployment(a={}, b={"Memory": "1GiB"}), HOST)
    assert (book.requested_bytes, book.limits_bytes, book.unlimited) == (GIB, GIB, ("a",))
    assert "no limit: a" in book.summary()


def test_cpu_requests_are_admitted_against_the_cores() -> None:
    ok = admit(deployment(a={"Cpus": 2, "CpuRequest": 0.5}, b={"Cpus": 2, "CpuRequest": 1.5}), HOST)
    assert ok.cpu_requested == 2.0
    with pytest.raises(AdmissionError, match=r"CPU requests need 3 cores \(a 1.5, b 1.5\), but capacity is 2 cores"):
        admit(deployment(a={"Cpus": 1.5}, b={"Cpus": 1.5}), HOST)


def test_the_capacity_names_where_it_comes_from() -> None:
    own = Capacity(GIB, "the memory limit of coserve's own cgroup", 1.0, "the CPU quota of coserve's own cgroup")
    with pytest.raises(
        AdmissionError, match=re.escape("capacity is 1.0GiB (the memory limit of coserve's own cgroup)")
    ):
        admit(deployment(a={"Memory": "1GiB"}), own)


def badness(use: int, adj: int, total: int) -> int:
    """The kernel's oom_badness, as mm/oom_kill.c computes it: pages in use plus adj thousandths of the total."""
    return use + adj * total // 1000


def test_the_oom_order_is_by_how_far_each_container_is_above_its_request() -> None:
    capacity = 512 * MIB
    # a is big but within its request; b is small but far above its own: b goes first.
    a = badness(270 * MIB, oom_score_adj(256 * MIB, capacity), capacity)
    b = badness(120 * MIB, oom_score_adj(32 * MIB, capacity), capacity)
    coserve = badness(100 * MIB, 0, capacity)
    assert b > a > coserve
    assert b - a == pytest.approx((120 - 32) * MIB - (270 - 256) * MIB, abs=MIB)


def test_oom_score_adj_bounds() -> None:
    assert oom_score_adj(None, GIB) == 1000  # no request: no protection
    assert oom_score_adj(0, GIB) == 1000
    assert oom_score_adj(GIB, GIB) == 1  # never below a request-less 0: coserve itself stays last
    assert oom_score_adj(2 * GIB, GIB) == 1
    assert oom_score_adj(GIB // 4, GIB) == 750


def test_the_ledger_gives_each_container_its_adj() -> None:
    book = ledger(deployment(reserve="0", a={"Memory": "1GiB", "MemoryRequest": "1GiB"}, b={}), HOST)
    assert [book.oom_score_adj(n) for n in book.needs] == [750, 1000]
    assert isinstance(book, Ledger) and book.needs[1] == Need("b", None, None, None)
