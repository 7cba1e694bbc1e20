"""Many endpoints on one host: the routing table, which endpoint a request reaches, /ping, and the errors
rendered outside InvokeEndpoint (the stream path before its first byte, unknown paths)."""

from __future__ import annotations

import asyncio
import json

from runtime.routing import HostTable
from tests.runtime.router.fakes import FakeUpstream, Reply, endpoint, error, front_door, get, post, route

ALPHA = endpoint("Alpha", "Serial", route("container-1", 30000), variant="blue")
BETA = endpoint("beta", "Direct", route("container-1", 30010), route("b2", 30020, "FETCHING"), variant="green")
TWO = HostTable((ALPHA, BETA), version=7)


def test_the_table_survives_its_json_file_and_finds_endpoints_case_insensitively() -> None:
    again = HostTable.from_json(TWO.to_json())
    assert again == TWO
    assert again.endpoint("ALPHA") == ALPHA and again.endpoint("Beta") == BETA and again.endpoint("gamma") is None
    assert HostTable.from_json(HostTable((ALPHA,), 1, "alpha").to_json()).default == "alpha"


def test_each_endpoint_gets_its_own_containers_mode_and_variant() -> None:
    fake = FakeUpstream({"container-1": lambda body: Reply(body=body.upper())})
    app, _, seen = front_door(TWO, fake)
    a = asyncio.run(post(app, "/endpoints/alpha/invocations", b"to alpha"))
    b = asyncio.run(post(app, "/endpoints/BETA/invocations", b"to beta",
                         **{"X-Amzn-SageMaker-Target-Container-Hostname": "container-1"}))  # fmt: skip
    assert (a.content, a.headers["x-amzn-invoked-production-variant"]) == (b"TO ALPHA", "blue")
    assert (b.content, b.headers["x-amzn-invoked-production-variant"]) == (b"TO BETA", "green")
    assert [(c.hostname, c.body) for c in fake.calls] == [("container-1", b"to alpha"), ("container-1", b"to beta")]
    assert [s[1].endpoint.name for s in seen] == ["Alpha", "beta"], "metrics are told which endpoint"
    assert error(asyncio.run(post(app, "/endpoints/beta/invocations")))[2].startswith(
        "Endpoint beta is a Direct-mode"
    ), "each endpoint's own mode"


def test_the_in_flight_bound_counts_containers_not_hostnames() -> None:
    async def main() -> None:
        fake = FakeUpstream({"container-1": Reply()})
        app, _, _ = front_door(TWO, fake, max_in_flight=1)
        fake.gate = asyncio.Event()
        held = asyncio.ensure_future(post(app, "/endpoints/alpha/invocations"))
        await fake.reached(1)
        beside = asyncio.ensure_future(
            post(app, "/endpoints/beta/invocations", **{"X-Amzn-SageMaker-Target-Container-Hostname": "container-1"})
        )
        await fake.reached(2)  # beta's container-1 is another container: not refused as alpha's is busy
        fake.gate.set()
        assert [(await held).status_code, (await beside).status_code] == [200, 200]

    asyncio.run(main())


def test_bare_invocations_goes_to_the_only_endpoint_or_the_default_else_says_how_to_choose() -> None:
    fake = FakeUpstream({"container-1": Reply(body=b"one")})
    one, _, _ = front_door(HostTable((ALPHA,)), fake)
    assert asyncio.run(post(one, "/invocations")).content == b"one"
    several, _, _ = front_door(TWO, fake)
    assert error(asyncio.run(post(several, "/invocations")))[:3] == (
        400, "ValidationError",
        "This host serves 2 endpoints and none is the default: call /endpoints/{EndpointName}/invocations.",
    )  # fmt: skip
    chosen, _, _ = front_door(HostTable((ALPHA, BETA), default="ALPHA"), fake)
    resp = asyncio.run(post(chosen, "/invocations"))
    assert resp.content == b"one" and resp.headers["x-amzn-invoked-production-variant"] == "blue"


def test_ping_is_healthy_only_when_every_endpoints_containers_run() -> None:
    healthy, _, _ = front_door(HostTable((ALPHA,)), FakeUpstream({}))
    resp = asyncio.run(get(healthy, "/ping"))
    assert (resp.status_code, resp.json()) == (200, {"status": "Healthy"})
    app, _, _ = front_door(TWO, FakeUpstream({}))
    status, code, message, doc = error(asyncio.run(get(app, "/ping")))
    assert (status, code, message, doc["status"]) == (503, "ServiceUnavailable", "containers not running: b2",
                                                      "Unhealthy")  # fmt: skip
    assert doc["containers"] == {"b2": "FETCHING"} and doc["endpoints"] == {"beta": {"b2": "FETCHING"}}


def test_unknown_paths_and_methods_are_rendered_as_sagemaker_errors() -> None:
    app, _, _ = front_door(TWO, FakeUpstream({}))
    assert error(asyncio.run(get(app, "/nothing")))[:3] == (
        404,
        "UnknownOperationException",
        "No operation at GET /nothing.",
    )
    assert error(asyncio.run(get(app, "/endpoints/alpha/invocations")))[:3] == (
        405,
        "UnknownOperationException",
        "GET is not supported on /endpoints/alpha/invocations.",
    )
    assert error(asyncio.run(get(app, "/endpoints/alpha/invocations-response-stream")))[0] == 405


def test_the_stream_path_answers_its_errors_before_the_first_byte_as_invoke_endpoint_does() -> None:
    fake = FakeUpstream({})
    app, _, seen = front_door(TWO, fake)
    stream = "/endpoints/{}/invocations-response-stream"
    assert error(asyncio.run(post(app, stream.format("gamma"))))[:3] == (
        400,
        "ValidationError",
        "Endpoint gamma not found.",
    )
    assert error(asyncio.run(post(app, stream.format("Beta"),
                                  **{"X-Amzn-SageMaker-Target-Container-Hostname": "b2"})))[:3] == (
        503, "ServiceUnavailable", "The container is not ready to serve requests: b2 is FETCHING.")  # fmt: skip
    refused = asyncio.run(post(app, stream.format("alpha"), **{"X-Amzn-SageMaker-Inference-Component": "ic"}))
    assert error(refused)[:2] == (400, "ValidationError")
    assert fake.calls == [] and [s[1].error.status for s in seen] == [400, 503, 400]
    assert json.loads(refused.content)["message"].startswith("Inference Component Name header is not allowed")


def test_a_request_goes_to_the_table_published_while_its_body_arrived() -> None:
    old = HostTable((endpoint("ep", "Serial", route("old", 30000)),), version=1)
    new = HostTable((endpoint("ep", "Serial", route("new", 30010)),), version=2)
    fake = FakeUpstream({"old": Reply(body=b"old"), "new": Reply(body=b"new")})
    _, router, _ = front_door(old, fake)

    async def receive() -> dict[str, object]:
        router.source.set(new)  # the endpoint switched to new containers while the body was on its way
        return {"type": "http.request", "body": b"{}", "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/endpoints/ep/invocations", "headers": []}
    status, _, body = asyncio.run(router.invocations(scope, receive))
    assert (status, body, [c.hostname for c in fake.calls]) == (200, b"new", ["new"])
