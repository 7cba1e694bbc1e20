"""Admission one set of containers at a time: set aside as they are added, given back as they go."""

from __future__ import annotations

import pytest

from runtime.admission import AdmissionError, Capacity, Need, admit
from runtime.config import parse_deployment

GIB = 2**30
HOST = Capacity(4 * GIB, "host memory", 2.0, "host CPUs")


def test_a_set_that_does_not_fit_is_refused_by_name_and_a_released_one_makes_room() -> None:
    d = parse_deployment({
        "EndpointName": "ep", "Containers": [{"ContainerHostname": "a", "Image": "process"}],
        "Coserve": {"Containers": {"a": {"Memory": "2GiB", "Command": ["srv"]}}, "Server": {"MemoryReserve": "0"}},
    })  # fmt: skip
    book = admit(d, HOST, ["ep.1.a"])
    spec = d.containers[0]
    more = book.admitted([Need.of(spec, "ep.2.a")])
    assert more.free_bytes == 0 and book.free_bytes == 2 * GIB, "the ledger is a value: the old one is unchanged"
    assert more.admitted([Need.of(spec, "ep.2.a")]) == more, "admitted once, whatever the retries"
    with pytest.raises(
        AdmissionError,
        match=r"ep\.3\.a do not fit: memory requests need 6\.0GiB \(ep\.1\.a 2\.0GiB, ep\.2\.a 2\.0GiB, ep\.3\.a 2",
    ):
        more.admitted([Need.of(spec, "ep.3.a")])
    room = more.released({"ep.1.a"})
    assert [n.key for n in room.admitted([Need.of(spec, "ep.3.a")]).needs] == ["ep.2.a", "ep.3.a"]
