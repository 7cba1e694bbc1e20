"""Serial mode: the chain, its content-type and Accept rules, its errors, bounds and tracing, through boto3."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import ECHO, Coserve, client_error, start_coserve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    """Three unnamed echo containers: each answers with what it got, in its own content type."""
    types = ["application/x-step1", "text/csv; charset=utf-8", "application/json"]
    doc = {
        "EndpointName": "chain-ep",
        "Containers": [{"Image": "process", "Environment": {"ECHO_CONTENT_TYPE": t}} for t in types],
        "Coserve": {
            "Containers": {f"container-{i}": {"Command": ECHO} for i in (1, 2, 3)},
            "Server": {"MaxPayload": "32KiB", "InvocationTimeout": "3s"},
        },
    }
    c = start_coserve(doc, tmp_path_factory.mktemp("chain"))
    yield c
    c.stop()


def invoke(c: Coserve, **kw: Any) -> Any:
    kw.setdefault("Body", b"raw-input")
    return c.client().invoke_endpoint(EndpointName="chain-ep", **kw)


def unwrap(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Each echo put the previous answer in `body`: peel the chain back into per-container views."""
    views = [doc]
    while True:
        try:
            inner = json.loads(views[-1]["body"])
        except (json.JSONDecodeError, TypeError):
            return list(reversed(views))
        views.append(inner)


def test_each_container_gets_the_previous_answer_with_its_content_type(chain: Coserve) -> None:
    r = invoke(chain, ContentType="text/plain", Accept="application/json", CustomAttributes="run=7")
    first, second, third = unwrap(json.loads(r["Body"].read()))
    assert [v["container"] for v in (first, second, third)] == ["container-1", "container-2", "container-3"]
    assert first["body"] == "raw-input"
    assert first["content_type"] == "text/plain", "the client's Content-Type goes to the first container"
    assert second["content_type"] == "application/x-step1", "container 1's response type, verbatim"
    assert third["content_type"] == "text/csv; charset=utf-8", "parameters included"
    assert (first["accept"], second["accept"], third["accept"]) == (None, None, "application/json")
    assert {v["custom_attributes"] for v in (first, second, third)} == {"run=7"}
    assert r["ContentType"] == "application/json"
    assert r["CustomAttributes"] == "from=container-3", "the last container's attributes come back"


@pytest.mark.parametrize(("failing", "status", "kind"), [(1, 500, "server"), (2, 415, "client"), (3, 503, "server")])
def test_a_failure_anywhere_stops_the_chain_naming_the_container(
    chain: Coserve, failing: int, status: int, kind: str
) -> None:
    info = client_error(lambda: invoke(chain, CustomAttributes=f"container-{failing}.status={status}"))
    resp = info
    assert resp["Error"]["Code"] == "ModelError"
    assert resp["OriginalStatusCode"] == status
    assert resp["Error"]["Message"].startswith(
        f"Received {kind} error ({status}) from container-{failing} with message"
    )
    assert resp["OriginalMessage"] == f"failure {status} in container-{failing}"


def test_an_oversize_intermediate_payload_names_both_containers(chain: Coserve) -> None:
    info = client_error(lambda: invoke(chain, CustomAttributes=f"container-2.big={40 * 1024}"))
    message = info["Error"]["Message"]
    assert "the request payload from container-2 to container-3 is 40960 bytes" in message
    assert "maximum limit of 32768 bytes" in message


def test_the_whole_chain_obeys_one_deadline(chain: Coserve) -> None:
    info = client_error(lambda: invoke(chain, CustomAttributes="sleep=1.2"))
    resp = info
    assert resp["Error"]["Code"] == "ModelError"
    assert "timed out while waiting for a response from container container-3" in resp["Error"]["Message"]


def test_a_target_header_is_rejected_on_a_serial_endpoint(chain: Coserve) -> None:
    info = client_error(lambda: invoke(chain, TargetContainerHostname="container-1"))
    assert info["Error"]["Code"] == "ValidationError"


def test_trace_header_lists_every_hop_when_asked(chain: Coserve) -> None:
    req = urllib.request.Request(f"{chain.url}/endpoints/chain-ep/invocations", data=b"x", method="POST",
                                 headers={"Content-Type": "text/plain", "X-Coserve-Trace": "1"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as r:
        trace = r.headers["X-Coserve-Trace"]
    hops = [h.strip().split(";") for h in trace.split(",")]
    assert [h[0] for h in hops] == ["container-1", "container-2", "container-3"]
    assert all(h[1] == "status=200" and h[2].startswith("ms=") for h in hops)
    assert hops[0][4] == 'type="application/x-step1"'
    assert 'type="text/csv; charset=utf-8"' in trace, "a type with parameters stays one quoted value"
    plain = urllib.request.Request(f"{chain.url}/invocations", data=b"x", method="POST")
    with urllib.request.urlopen(plain, timeout=10) as r:
        assert "X-Coserve-Trace" not in r.headers, "only when the client asks"
