"""One invocation: Direct picks one container by hostname, Serial chains them all.

Pure request logic over an endpoint's table and an upstream client; no process handles. Every outcome is a
value: the functions here return a Result (an answer, or the SageMakerError that ends the request) or the
error itself, and never raise one; `runtime.errors.render` is the one place an error becomes a reply.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from runtime.errors import ModelError, SageMakerError, ServiceUnavailable, ValidationError
from runtime.router.upstream import Answer, Upstream, model_error
from runtime.routing import ContainerRoute, EndpointTable, HostTable

TARGET = "x-amzn-sagemaker-target-container-hostname"
CUSTOM = "x-amzn-sagemaker-custom-attributes"
# What SageMaker passes on to containers: the API's own headers, less the routing ones.
FORWARDED = (
    "x-amzn-sagemaker-inference-id", "x-amzn-sagemaker-enable-explanations",
    "x-amzn-sagemaker-target-model", "x-amzn-sagemaker-session-id",
)  # fmt: skip
EMPTY_NAME = ValidationError(
    "1 validation error detected: Value '' at 'endpointName' failed to satisfy constraint: "
    "Member must have length greater than or equal to 1"
)


# Hop and Result are made on every request: plain slotted dataclasses, since a frozen one's __init__ costs an
# object.__setattr__ call per field (about 0.6 µs for a Result). Treat them as values all the same.
@dataclass(slots=True)
class Hop:
    hostname: str
    status: int
    seconds: float
    bytes_out: int
    content_type: str


@dataclass(slots=True)
class Result:
    """What one invocation did, for the response and for metrics: every hop made, and how it ended."""

    answer: Answer | None  # the last container's answer; None when the invocation failed
    hops: tuple[Hop, ...]  # each container called, in order (a failed hop has status 0 if nothing came back)
    error: SageMakerError | None = None
    failed: str | None = None  # the hostname of the container that failed the invocation
    endpoint: EndpointTable | None = None  # the endpoint it went to; None when refused before one was found
    routes: tuple[ContainerRoute, ...] = ()  # the containers it was for; () when refused before they were known


@dataclass(frozen=True)
class InvokeBounds:
    timeout_s: float
    max_payload: int  # also bounds what one Serial container hands to the next


def endpoint_name(table: HostTable, name: str | None) -> str | ValidationError:
    """The endpoint a request names (`None`: bare `/invocations`, which names none), before auth sees it."""
    if name:
        return name
    if name is None:
        bare = table.bare()
        if bare is None:
            return ValidationError(
                f"This host serves {len(table.endpoints)} endpoints and none is the default: "
                "call /endpoints/{EndpointName}/invocations."
            )
        return bare.name
    return EMPTY_NAME


def find(table: HostTable, name: str) -> EndpointTable | ValidationError:
    endpoint = table.endpoint(name)
    return endpoint if endpoint is not None else ValidationError(f"Endpoint {name} not found.")


def targets(endpoint: EndpointTable, target: str | None) -> tuple[ContainerRoute, ...] | ValidationError:
    """The containers this request goes to, or the ValidationError SageMaker would answer."""
    if endpoint.mode == "Direct":
        if target is None:
            return ValidationError(
                f"Endpoint {endpoint.name} is a Direct-mode multi-container endpoint: "
                "the request must name a TargetContainerHostname."
            )
        route = endpoint.route(target)
        if route is None:
            return ValidationError(f"TargetContainerHostname {target} is not a container of endpoint {endpoint.name}.")
        return (route,)
    if target is not None:
        return ValidationError(
            f"TargetContainerHostname is only supported on Direct-mode endpoints; "
            f"endpoint {endpoint.name} is configured for Serial invocation."
        )
    return endpoint.routes


def not_ready(routes: tuple[ContainerRoute, ...]) -> ServiceUnavailable | None:
    for r in routes:  # a loop, not all(<generator>): no object made per request
        if r.state != "RUNNING":
            break
    else:
        return None
    states = ", ".join(f"{r.hostname} is {r.state}" for r in routes if not r.running)
    return ServiceUnavailable(f"The container is not ready to serve requests: {states}.")


class InFlight:
    """Coserve.Server.MaxInFlight: requests under way per container, in this process. Past the bound a request is
    refused at once (a bounded wait, never a growing queue). Keyed by port: unique per container on a host,
    where hostnames repeat across endpoints (`container-1`, `primary`)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: dict[int, int] = {}

    def enter(self, routes: tuple[ContainerRoute, ...]) -> ServiceUnavailable | None:
        """Take a place at every container of `routes`, or the error when one is full (then none is taken)."""
        counts = self.counts
        for r in routes:
            if counts.get(r.port, 0) >= self.limit:
                return ServiceUnavailable(
                    f"Container {r.hostname} already has {self.limit} requests in flight "
                    "(Coserve.Server.MaxInFlight). Reduce the request rate and try again."
                )
        for r in routes:
            counts[r.port] = counts.get(r.port, 0) + 1
        return None

    def leave(self, routes: tuple[ContainerRoute, ...]) -> None:
        for r in routes:
            self.counts[r.port] -= 1


async def invoke(upstream: Upstream, endpoint: EndpointTable | None, routes: tuple[ContainerRoute, ...],
                 body: bytes, headers: Mapping[str, str], bounds: InvokeBounds) -> Result:  # fmt: skip
    """Call `routes` in order, each one's answer the next one's body; the last answer, or the first error."""
    down = not_ready(routes)
    if down is not None:
        return Result(None, (), down, None, endpoint, routes)
    deadline = time.monotonic() + bounds.timeout_s
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
        answer = await upstream.call(route, body, sent, max(deadline - time.monotonic(), 0.001))
        if isinstance(answer, ModelError):
            hops.append(Hop(route.hostname, 0, time.perf_counter() - started, 0, ""))
            return Result(None, tuple(hops), answer, route.hostname, endpoint, routes)
        content_type = answer.headers.get("Content-Type")
        hops.append(Hop(route.hostname, answer.status, answer.seconds, len(answer.body), content_type or ""))
        if not 200 <= answer.status < 300:
            return Result(None, tuple(hops), model_error(route, answer), route.hostname, endpoint, routes)
        if not last and (oversize := handoff(route, routes[i + 1], len(answer.body), bounds.max_payload)):
            return Result(None, tuple(hops), oversize, route.hostname, endpoint, routes)
        body = answer.body
        if last:
            return Result(answer, tuple(hops), None, None, endpoint, routes)
    raise AssertionError("an endpoint has at least one container")


def handoff(sender: ContainerRoute, receiver: ContainerRoute, size: int, limit: int) -> ModelError | None:
    """A Serial hand-off past MaxPayload, in SageMaker's words naming both containers; None when it fits."""
    if size <= limit:
        return None
    return ModelError(
        f"Received response from {sender.hostname} with status code 200. However, the request payload from "
        f"{sender.hostname} to {receiver.hostname} is {size} bytes, "
        f"which has exceeded the maximum limit of {limit} bytes.",
        OriginalStatusCode=200, OriginalMessage=f"payload of {size} bytes", LogStreamArn=sender.log_path,
    )  # fmt: skip
