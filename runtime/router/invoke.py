"""One invocation: Direct picks one container by hostname, Serial chains them all.

Pure request logic over a routing table and an upstream client; no process handles.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from runtime.errors import ModelError, SageMakerError, ServiceUnavailable, ValidationError
from runtime.router.upstream import Answer, Upstream, model_error
from runtime.routing import Route, RoutingTable

TARGET = "x-amzn-sagemaker-target-container-hostname"
CUSTOM = "x-amzn-sagemaker-custom-attributes"
# What SageMaker passes on to containers: the API's own headers, less the routing ones.
FORWARDED = (
    "x-amzn-sagemaker-inference-id", "x-amzn-sagemaker-enable-explanations",
    "x-amzn-sagemaker-target-model", "x-amzn-sagemaker-session-id",
)  # fmt: skip


@dataclass(frozen=True)
class Hop:
    hostname: str
    status: int
    seconds: float
    bytes_out: int
    content_type: str


@dataclass(frozen=True)
class Result:
    """What one invocation did, for the response and for metrics: every hop made, and how it ended."""

    answer: Answer | None  # the last container's answer; None when the invocation failed
    hops: tuple[Hop, ...]  # each container called, in order (a failed hop has status 0 if nothing came back)
    error: SageMakerError | None = None
    failed: str | None = None  # the hostname of the container that failed the invocation


@dataclass(frozen=True)
class Limits:
    timeout_s: float
    max_payload: int  # also bounds what one Serial container hands to the next


def targets(table: RoutingTable, target: str | None) -> tuple[Route, ...]:
    """The containers this request goes to, or the ValidationError SageMaker would answer."""
    if table.mode == "Direct":
        if target is None:
            raise ValidationError(
                f"Endpoint {table.endpoint_name} is a Direct-mode multi-container endpoint: "
                "the request must name a TargetContainerHostname."
            )
        route = table.route(target)
        if route is None:
            raise ValidationError(
                f"TargetContainerHostname {target} is not a container of endpoint {table.endpoint_name}."
            )
        return (route,)
    if target is not None:
        raise ValidationError(
            f"TargetContainerHostname is only supported on Direct-mode endpoints; "
            f"endpoint {table.endpoint_name} is configured for Serial invocation."
        )
    return table.routes


async def invoke(upstream: Upstream, routes: tuple[Route, ...], body: bytes,
                 headers: Mapping[str, str], limits: Limits) -> Result:  # fmt: skip
    down = [r.hostname for r in routes if not r.running]
    if down:
        states = ", ".join(f"{r.hostname} is {r.state}" for r in routes if not r.running)
        raise ServiceUnavailable(f"The container is not ready to serve requests: {states}.")
    deadline = time.monotonic() + limits.timeout_s
    common = {k: headers[k] for k in (CUSTOM, *FORWARDED) if k in headers}
    content_type = headers.get("content-type")
    hops: list[Hop] = []
    for i, route in enumerate(routes):
        last = i == len(routes) - 1
        sent = dict(common)
        if content_type:
            sent["Content-Type"] = content_type
        if last and "accept" in headers:
            sent["Accept"] = headers["accept"]  # intermediate containers get no client Accept
        started = time.perf_counter()
        try:
            answer = await upstream.call(route, body, sent, max(deadline - time.monotonic(), 0.001))
        except ModelError as exc:
            hops.append(Hop(route.hostname, 0, time.perf_counter() - started, 0, ""))
            return Result(None, tuple(hops), exc, route.hostname)
        content_type = answer.headers.get("Content-Type")
        hops.append(Hop(route.hostname, answer.status, answer.seconds, len(answer.body), content_type or ""))
        if not 200 <= answer.status < 300:
            return Result(None, tuple(hops), model_error(route, answer), route.hostname)
        if not last and len(answer.body) > limits.max_payload:
            error = _oversize(route, routes[i + 1], len(answer.body), limits.max_payload)
            return Result(None, tuple(hops), error, route.hostname)
        body = answer.body
        if last:
            return Result(answer, tuple(hops))
    raise AssertionError("a routing table has at least one container")


def _oversize(sender: Route, receiver: Route, size: int, limit: int) -> ModelError:
    return ModelError(
        f"Received response from {sender.hostname} with status code 200. However, the request payload from "
        f"{sender.hostname} to {receiver.hostname} is {size} bytes, "
        f"which has exceeded the maximum limit of {limit} bytes.",
        OriginalStatusCode=200, OriginalMessage=f"payload of {size} bytes", LogStreamArn=sender.log_path,
    )  # fmt: skip
