"""Admission as containers come and go: CgroupIsolation on the `none` backend (no cgroups needed: it only
watches process trees), under a supervisor with the fake OS seam. A set that does not fit is refused with
admission's message and leaves nothing; a forgotten set gives its requests back."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.admission import AdmissionError, Capacity, Ledger
from runtime.cgroups.none import NoneBackend
from runtime.config import parse_deployment
from runtime.confinement import CgroupIsolation
from runtime.supervisor import Supervisor
from runtime.supervisor.keys import ContainerKey
from runtime.supervisor.units import Unit, deployment_units
from tests.runtime.supervisor.test_supervisor import FakeOs, FakeWork

GIB = 2**30


def test_a_set_that_does_not_fit_is_refused_and_a_forgotten_one_makes_room(tmp_path: Path) -> None:
    d = parse_deployment({
        "EndpointName": "ep", "Containers": [{"ContainerHostname": "a", "Image": "process"}],
        "Coserve": {"Containers": {"a": {"Command": ["srv"], "Memory": "3GiB", "MemoryRequest": "3GiB"}},
                    "Server": {"MemoryReserve": "0", "PortBase": 30000, "PortBlock": 10,
                               "LogDir": str(tmp_path / "logs"), "RunDir": str(tmp_path / "run")}},
    })  # fmt: skip
    isolation = CgroupIsolation(NoneBackend(), False, Ledger(Capacity(4 * GIB, "host memory", 2.0, "host CPUs"), 0, ()))
    sup = Supervisor(d.server, FakeOs(), FakeWork(), isolation)
    first, second = deployment_units(d), deployment_units(d, 2)
    sup.add(first, 0.0)
    assert isolation.ledger.requested_bytes == 3 * GIB and set(isolation.groups) == {"ep.1.a"}
    with pytest.raises(AdmissionError, match=r"ep\.2\.a do not fit: memory requests need 6\.0GiB"):
        sup.add(second, 1.0)
    assert [r.key for r in sup.routes()] == [first[0].key], "the refused set left nothing behind"
    assert isolation.ledger.requested_bytes == 3 * GIB and set(isolation.groups) == {"ep.1.a"}

    sup.stop([first[0].key], 2.0)
    sup.forget([first[0].key])
    assert isolation.ledger.needs == () and isolation.groups == {}, "requests and cgroup given back"
    sup.add(second, 3.0)
    assert sup.routes()[0].port == 30000, "and its port block"
    other = Unit(ContainerKey("other", 1, "a"), d.containers[0], tmp_path / "other.log")
    with pytest.raises(AdmissionError, match=r"other\.1\.a do not fit"):
        sup.add([other], 4.0)
