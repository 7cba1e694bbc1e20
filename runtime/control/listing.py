"""List calls as SageMaker answers them: filter, sort, then one page of MaxResults with a NextToken.

The token is the offset of the next page in the filtered, sorted list, so pages stay in order as long as
nothing is created or deleted between them (as a scan of a changing table can only promise).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from botocore.utils import parse_to_aware_datetime  # type: ignore[import-untyped]

from runtime.control.errors import ValidationException

DEFAULT_MAX = 10  # SageMaker's default page size


def page(
    rows: list[dict[str, Any]], params: dict[str, Any], key: str, name: str, sort: dict[str, str]
) -> dict[str, Any]:
    """`rows` are summaries (CreationTime etc. as epoch seconds); `key` names the list in the answer, `name` the
    name member; `sort` maps SortBy values to members. Default order: CreationTime, Descending."""
    kept = [r for r in rows if _matches(r, params, name)]
    by = sort[params.get("SortBy", "CreationTime")]
    kept.sort(key=lambda r: (r[by], r[name].lower()), reverse=params.get("SortOrder", "Descending") == "Descending")
    start = _offset(params.get("NextToken"))
    end = start + int(params.get("MaxResults", DEFAULT_MAX))
    answer: dict[str, Any] = {key: kept[start:end]}
    if end < len(kept):
        answer["NextToken"] = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode()
    return answer


def _matches(row: dict[str, Any], params: dict[str, Any], name: str) -> bool:
    contains = params.get("NameContains")
    if contains and contains.lower() not in row[name].lower():
        return False
    for member, field in (("CreationTime", "CreationTime"), ("LastModifiedTime", "LastModifiedTime")):
        before, after = params.get(f"{member}Before"), params.get(f"{member}After")
        if before is not None and not row[field] < _epoch(before):
            return False
        if after is not None and not row[field] > _epoch(after):
            return False
    status = params.get("StatusEquals")
    return status is None or row.get("EndpointStatus") == status


def _epoch(value: Any) -> float:
    """A timestamp as botocore sends it (epoch seconds), or an ISO 8601 string from another client."""
    return float(parse_to_aware_datetime(value).timestamp())


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        offset = int(text.removeprefix("offset:")) if text.startswith("offset:") else -1
    except (binascii.Error, UnicodeDecodeError, ValueError):
        offset = -1
    if offset < 0:
        raise ValidationException(f"Invalid pagination token: {token!r}.")
    return offset
