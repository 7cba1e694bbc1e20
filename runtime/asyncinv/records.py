"""What the queue hands out and reports: a claimed request, and an endpoint's backlog."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    """One claimed request. `attempt` names the claim: only its holder can finish or release it."""

    seq: int
    attempt: int
    endpoint: str
    inference_id: str
    input_location: str | None
    body: bytes | None
    content_type: str | None
    accept: str | None
    custom_attributes: str | None
    output_location: str
    failure_location: str
    timeout_s: float
    enqueued: float
    expires: float


@dataclass(frozen=True)
class Backlog:
    """SageMaker's ApproximateBacklogSize (queued or in flight) and ApproximateAgeOfOldestRequest (seconds)."""

    size: int
    oldest_age_s: float


COLUMNS = (
    "seq, attempts, endpoint, inference_id, input_location, body, request, output_location, failure_location, "
    "timeout_s, enqueued, expires"
)


def item_of(row: sqlite3.Row | tuple[object, ...]) -> Item:
    seq, attempt, endpoint, inference_id, location, body, request, output, failure, timeout, enqueued, expires = row
    headers = json.loads(str(request))
    return Item(
        seq=int(str(seq)), attempt=int(str(attempt)), endpoint=str(endpoint), inference_id=str(inference_id),
        input_location=None if location is None else str(location),
        body=body if isinstance(body, bytes) else None, content_type=headers.get("content_type"),
        accept=headers.get("accept"), custom_attributes=headers.get("custom_attributes"),
        output_location=str(output), failure_location=str(failure), timeout_s=float(str(timeout)),
        enqueued=float(str(enqueued)), expires=float(str(expires)),
    )  # fmt: skip
