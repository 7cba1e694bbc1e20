"""The invoke path in process, with a scripted upstream (tests/runtime/router/fakes.py says why a fake):
Direct and Serial, and every error's status, code and message."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from runtime.routing import HostTable
from tests.runtime.router.fakes import FakeUpstream, Reply, endpoint, error, front_door, post, route

DIRECT = HostTable((endpoint("Multi-EP", "Direct", route("tf", 30000), route("torch", 30010)),))
SERIAL = HostTable((endpoint("pipe", "Serial", route("container-1", 30000), route("container-2", 30010)),))
TARGET = "X-Amzn-SageMaker-Target-Container-Hostname"


def test_direct_goes_to_the_named_container_only_and_passes_its_answer_back() -> None:
    fake = FakeUpstream(
        {
            "tf": Reply(
                body=b'{"tf": 1}',
                headers={"Content-Type": "text/csv; charset=utf-8", "X-Amzn-SageMaker-Custom-Attributes": "seen"},
            )
        }
    )
    app, _, seen = front_door(DIRECT, fake)
    resp = asyncio.run(
        post(
            app,
            "/endpoints/multi-ep/invocations",
            b"[1]",
            **{
                TARGET: "tf",
                "Accept": "text/csv",
                "Content-Type": "application/json",
                "X-Amzn-SageMaker-Custom-Attributes": "c=1",
            },
        )
    )
    assert resp.status_code == 200 and resp.content == b'{"tf": 1}'
    assert resp.headers["content-type"] == "text/csv; charset=utf-8", "verbatim, no charset added or removed"
    assert resp.headers["x-amzn-invoked-production-variant"] == "AllTraffic"
    assert resp.headers["x-amzn-sagemaker-custom-attributes"] == "seen"
    (call,) = fake.calls
    assert (call.hostname, call.body) == ("tf", b"[1]")
    assert call.headers == {
        "Content-Type": "application/json",
        "Accept": "text/csv",
        "x-amzn-sagemaker-custom-attributes": "c=1",
    }, "the target header is not forwarded"
    ((routes, result, _),) = seen
    assert routes == ("tf",) and result.endpoint.name == "Multi-EP" and result.error is None


def test_serial_chains_every_container_and_only_the_last_gets_the_client_accept() -> None:
    fake = FakeUpstream({
        "container-1": Reply(body=b"1,2", headers={"Content-Type": "text/csv"}),
        "container-2": Reply(body=b'{"y": 3}', headers={"Content-Type": "application/json"}),
    })  # fmt: skip
    app, _, _ = front_door(SERIAL, fake)
    resp = asyncio.run(post(app, "/endpoints/PIPE/invocations", b"raw", Accept="application/json",
                            **{"Content-Type": "text/plain"}))  # fmt: skip
    assert resp.status_code == 200 and resp.content == b'{"y": 3}'
    first, second = fake.calls
    assert (first.hostname, first.body, first.headers) == ("container-1", b"raw", {"Content-Type": "text/plain"})
    assert (second.hostname, second.body) == ("container-2", b"1,2")
    assert second.headers == {"Content-Type": "text/csv", "Accept": "application/json"}


@pytest.mark.parametrize(
    ("table", "path", "headers", "message"),
    [
        (DIRECT, "/endpoints/Multi-EP/invocations", {},
         "Endpoint Multi-EP is a Direct-mode multi-container endpoint: the request must name a "
         "TargetContainerHostname."),
        (DIRECT, "/endpoints/Multi-EP/invocations", {TARGET: "nope"},
         "TargetContainerHostname nope is not a container of endpoint Multi-EP."),
        (SERIAL, "/endpoints/pipe/invocations", {TARGET: "container-1"},
         "TargetContainerHostname is only supported on Direct-mode endpoints; endpoint pipe is configured for "
         "Serial invocation."),
        (DIRECT, "/endpoints/other/invocations", {TARGET: "tf"}, "Endpoint other not found."),
        (DIRECT, "/endpoints//invocations", {},
         "1 validation error detected: Value '' at 'endpointName' failed to satisfy constraint: "
         "Member must have length greater than or equal to 1"),
    ],
    ids=["missing-target", "unknown-target", "target-on-serial", "unknown-endpoint", "empty-name"],
)  # fmt: skip
def test_a_request_the_endpoint_cannot_take_is_a_validation_error_and_calls_no_container(
    table: HostTable, path: str, headers: dict[str, str], message: str
) -> None:
    fake = FakeUpstream({})
    app, _, seen = front_door(table, fake)
    resp = asyncio.run(post(app, path, **headers))
    assert error(resp)[:3] == (400, "ValidationError", message)
    assert fake.calls == [] and seen[0][1].hops == ()


def test_a_container_not_running_is_service_unavailable_naming_its_state() -> None:
    table = HostTable((endpoint("pipe", "Serial", route("a", 30000), route("b", 30010, "BACKOFF")),))
    fake = FakeUpstream({"a": Reply()})
    app, _, _ = front_door(table, fake)
    resp = asyncio.run(post(app, "/endpoints/pipe/invocations"))
    assert error(resp)[:3] == (503, "ServiceUnavailable", "The container is not ready to serve requests: b is BACKOFF.")
    assert fake.calls == []


def test_a_container_non_2xx_is_a_model_error_with_its_status_and_body() -> None:
    fake = FakeUpstream({"container-1": Reply(), "container-2": Reply(415, b"no csv here")})
    app, _, seen = front_door(SERIAL, fake)
    status, code, message, doc = error(asyncio.run(post(app, "/endpoints/pipe/invocations")))
    assert (status, code) == (424, "ModelError")
    assert message == ('Received client error (415) from container-2 with message "no csv here". '
                       "See /logs/container-2.log for more information.")  # fmt: skip
    assert (doc["OriginalStatusCode"], doc["OriginalMessage"], doc["LogStreamArn"], doc["ErrorCode"]) == (
        415,
        "no csv here",
        "/logs/container-2.log",
        "CLIENT_ERROR_FROM_MODEL",
    )
    result = seen[0][1]
    assert result.failed == "container-2" and [h.status for h in result.hops] == [200, 415]


def test_a_server_error_says_server() -> None:
    fake = FakeUpstream({"tf": Reply(503, b"busy")})
    app, _, _ = front_door(DIRECT, fake)
    _, _, message, doc = error(asyncio.run(post(app, "/endpoints/Multi-EP/invocations", **{TARGET: "tf"})))
    assert message.startswith('Received server error (503) from tf with message "busy".')
    assert doc["ErrorCode"] == "SERVER_ERROR_FROM_MODEL" and doc["OriginalStatusCode"] == 503


def test_an_oversize_serial_hand_off_is_a_model_error_naming_both_containers() -> None:
    fake = FakeUpstream({"container-1": Reply(body=b"x" * 101), "container-2": Reply()})
    app, _, seen = front_door(SERIAL, fake, max_payload=100)
    status, code, message, doc = error(asyncio.run(post(app, "/endpoints/pipe/invocations")))
    assert (status, code) == (424, "ModelError")
    assert message == ("Received response from container-1 with status code 200. However, the request payload "
                       "from container-1 to container-2 is 101 bytes, which has exceeded the maximum limit of "
                       "100 bytes.")  # fmt: skip
    assert (doc["OriginalStatusCode"], doc["LogStreamArn"]) == (200, "/logs/container-1.log")
    assert [c.hostname for c in fake.calls] == ["container-1"] and seen[0][1].failed == "container-1"


def test_a_request_body_past_max_payload_is_a_validation_error() -> None:
    fake = FakeUpstream({"tf": Reply()})
    app, _, _ = front_door(DIRECT, fake, max_payload=10)
    resp = asyncio.run(post(app, "/endpoints/Multi-EP/invocations", b"x" * 11, **{TARGET: "tf"}))
    assert error(resp)[:3] == (
        400,
        "ValidationError",
        "Request payload of 11 bytes exceeds the maximum allowed size of 10 bytes.",
    )
    assert fake.calls == []


def test_the_chain_shares_one_deadline_and_a_timeout_is_a_model_error_504() -> None:
    fake = FakeUpstream({"container-1": Reply(delay=0.05), "container-2": Reply(delay=5)})
    app, _, _ = front_door(SERIAL, fake, timeout_s=0.3)
    status, code, message, doc = error(asyncio.run(post(app, "/endpoints/pipe/invocations")))
    assert (status, code, doc["OriginalStatusCode"]) == (424, "ModelError", 504)
    assert message.startswith("Your invocation timed out while waiting for a response from container container-2.")
    first, second = fake.calls
    assert first.seconds == pytest.approx(0.3, abs=0.02)
    assert second.seconds < first.seconds - 0.04, "the second container gets what the first left of the deadline"


def test_max_in_flight_refuses_at_once_past_the_bound_and_frees_its_place_after() -> None:
    async def main() -> None:
        fake = FakeUpstream({"tf": Reply(), "torch": Reply()})
        app, router, _ = front_door(DIRECT, fake, max_in_flight=1)
        fake.gate = asyncio.Event()
        first = asyncio.ensure_future(post(app, "/endpoints/Multi-EP/invocations", **{TARGET: "tf"}))
        await fake.reached(1)  # the first request is at the container
        busy = await post(app, "/endpoints/Multi-EP/invocations", **{TARGET: "tf"})
        assert error(busy)[:3] == (
            503,
            "ServiceUnavailable",
            "Container tf already has 1 requests in flight "
            "(Coserve.Server.MaxInFlight). Reduce the request rate and try again.",
        )
        fake.gate.set()
        other = await post(app, "/endpoints/Multi-EP/invocations", **{TARGET: "torch"})
        assert other.status_code == 200, "another container is not held up"
        assert (await first).status_code == 200
        again = await post(app, "/endpoints/Multi-EP/invocations", **{TARGET: "tf"})
        assert again.status_code == 200 and set(router.in_flight.counts.values()) == {0}

    asyncio.run(main())


def test_an_unexpected_exception_is_one_internal_failure_logged_without_a_traceback_to_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(body: bytes) -> Reply:
        raise RuntimeError("a bug")

    app, _, _ = front_door(DIRECT, FakeUpstream({"tf": explode}))
    with caplog.at_level(logging.ERROR, "runtime.router"):
        resp = asyncio.run(post(app, "/endpoints/Multi-EP/invocations", **{TARGET: "tf"}))
    assert error(resp)[:3] == (500, "InternalFailure", "An internal error occurred in coserve.")
    assert b"a bug" not in resp.content and b"Traceback" not in resp.content
    assert [r.message for r in caplog.records] == ["unexpected failure handling POST /endpoints/Multi-EP/invocations"]


def test_a_guard_refusal_is_rendered_before_the_endpoint_is_looked_up() -> None:
    from runtime.errors import AccessDeniedException

    asked: list[tuple[str, str | None]] = []

    def guard(scope: object, headers: object, name: str, target: str | None) -> AccessDeniedException:
        asked.append((name, target))
        return AccessDeniedException("no")

    app, _, _ = front_door(DIRECT, FakeUpstream({}), guard=guard)  # type: ignore[arg-type]
    resp = asyncio.run(post(app, "/endpoints/nowhere/invocations", **{TARGET: "tf"}))
    assert error(resp)[:3] == (403, "AccessDeniedException", "no"), "not 'Endpoint nowhere not found.'"
    assert asked == [("nowhere", "tf")]
    assert json.loads(resp.content)["__type"] == "AccessDeniedException"
