"""Containers that answer badly: cut off after their headers, or far too much. The real front door, real
container processes (tests/containers/hostile.py); a neighbour container must be served all along."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.runtime.router.hostile.frontdoor import containers, invoke_raw, rss, served
from tests.support import Coserve, start_coserve, wait_for

pytestmark = pytest.mark.integration
MIB = 2**20


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    entries, settings = containers()
    doc = {"EndpointName": "hostile-up", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": entries,
           "Coserve": {"Containers": settings}}  # fmt: skip
    c = start_coserve(doc, tmp_path_factory.mktemp("upstream"))
    yield c
    c.stop()


def five_xx(c: Coserve, hostname: str) -> float:
    with urllib.request.urlopen(f"{c.url}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(rf'coserve_invocation_5xx_errors_total{{[^}}]*container="{hostname}"[^}}]*}} (\S+)', text)
    assert m is not None, "the 5xx counter of the container is exported"
    return float(m.group(1))


@pytest.mark.parametrize("how", ["cut-length", "cut-chunked"])
def test_an_answer_cut_off_after_its_headers_is_a_model_error(door: Coserve, how: str) -> None:
    before = five_xx(door, "bad")
    status, error = invoke_raw(door, f"do={how}")
    assert status == 424
    assert error["Code"] == "ModelError"
    assert error["OriginalStatusCode"] == 502
    assert "could not load the entire response body" in error["Message"]
    assert five_xx(door, "bad") == before + 1
    served(door)


@pytest.mark.parametrize("how", ["huge-200", "huge-chunked-200"])
def test_an_answer_past_max_response_is_a_model_error_and_memory_comes_back(door: Coserve, how: str) -> None:
    served(door)
    baseline = rss(door)
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: invoke_raw(door, f"do={how}"), range(6)))
    for status, error in results:
        assert status == 424
        assert error["Code"] == "ModelError"
        assert "6291456" in error["Message"]  # the limit it passed, in bytes
    served(door)
    # Six answers of 200 MiB each: the front door reads at most MaxResponse of each, and gives it back.
    wait_for(lambda: rss(door) < baseline + 40 * MIB, 10, f"RSS back near {baseline >> 20} MiB")


def test_the_neighbour_is_served_while_a_container_streams_a_huge_answer(door: Coserve) -> None:
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(invoke_raw, door, "do=huge-chunked-200")
        served(door)
        assert pending.result()[0] == 424
