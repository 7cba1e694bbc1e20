"""What the store keeps, typed: resources as their Create request wrote them, and endpoints with their lifecycle.

An endpoint keeps a `Snapshot` of what it runs (the endpoint config and every model it names, resolved when
the call was made), so deleting a model or config in use changes nothing for it, as on SageMaker, and a
restart can bring it back as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["model", "endpoint-config"]
# SystemUpdating: InService endpoints being brought back after coserve restarted, until their containers run again.
Status = Literal["Creating", "Updating", "InService", "SystemUpdating", "Deleting", "Failed"]
WORK_STATUSES: tuple[Status, ...] = ("Creating", "Updating", "Deleting")


@dataclass(frozen=True)
class Resource:
    """A model or an endpoint config: its Create request (Tags apart) and when it was made."""

    name: str
    arn: str
    created: float  # epoch seconds
    request: dict[str, Any]  # the validated Create request, without Tags
    tags: list[dict[str, str]]


@dataclass(frozen=True)
class Snapshot:
    """An endpoint config and the models it names, as they were when the endpoint was created or updated."""

    config_name: str
    config: dict[str, Any]  # CreateEndpointConfig request
    models: dict[str, dict[str, Any]]  # model name -> CreateModel request

    def to_json(self) -> dict[str, Any]:
        return {"ConfigName": self.config_name, "Config": self.config, "Models": self.models}

    @staticmethod
    def from_json(doc: dict[str, Any]) -> Snapshot:
        return Snapshot(doc["ConfigName"], doc["Config"], doc["Models"])


@dataclass(frozen=True)
class Endpoint:
    name: str
    arn: str
    config_name: str  # the config it runs (or, while Creating, the one it is being created from)
    status: Status
    failure_reason: str | None
    created: float
    modified: float
    running: Snapshot | None  # what serves now (None while Creating, or after a failed create)
    target: Snapshot | None  # what Creating/Updating moves to
    coserve: dict[str, Any] | None  # the deployment file's Coserve section for this endpoint, opaque here
    tags: list[dict[str, str]]
    generation: int  # bumped by every API change: a reconciler's result for an older one is stale
    target_since: float | None = None  # when the pending create/update was asked for


@dataclass(frozen=True)
class Work:
    """One endpoint needing the reconciler: start `target` (Creating), move `running` to `target`
    (Updating), or stop `running` (Deleting). Hand it back to `mark_*`/`forget` when done."""

    name: str
    status: Status
    running: Snapshot | None
    target: Snapshot | None
    coserve: dict[str, Any] | None
    generation: int
