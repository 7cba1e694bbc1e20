"""SageMaker's request handling in front of TF Serving (the njs half of its TF container), as pure functions.

Bodies stay bytes: JSON that is already a TFS request passes through untouched, and the other formats are
rewritten as text the way the njs script does, so each request is parsed once, by whoever runs the model.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

from servers.tfs.errors import TfsError, bad_request

JSON_TYPES = frozenset({"application/json", "application/jsonlines", "application/jsons"})
METHODS = frozenset({"predict", "classify", "regress"})
_TFS_JSON = re.compile(rb'"(instances|inputs|examples)"\s*:')
_JSON_LINES = re.compile(rb"[}\]]\s*[\[{]")  # two values side by side with only whitespace between
_BATCH = re.compile(rb"^\s*\[\s*\[")
_ATTRIBUTE = re.compile(r"tfs-[a-z\-]+=[^,]+")
_NUMBER = re.compile(r"^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Target:
    """Which model, version and method a request is for: TFS's `/v1/models/<m>[/versions/<v>]:<method>`."""

    model: str
    version: int | None
    method: str = "predict"

    @property
    def path(self) -> str:
        version = f"/versions/{self.version}" if self.version is not None else ""
        return f"/v1/models/{self.model}{version}:{self.method}"


def media_type(header: str | None) -> str:
    # njs compares the whole header; parameters such as `; charset=utf-8` are dropped here on purpose.
    return (header or "").split(";", 1)[0].strip().lower()


def custom_attributes(header: str | None) -> dict[str, str]:
    """`tfs-model-name=a,tfs-model-version=2,tfs-method=regress` → its tfs-* pairs; other words ignored."""
    return dict(m.split("=", 1) for m in _ATTRIBUTE.findall(header or ""))


def target_of(attributes: dict[str, str], default_model: str) -> Target:
    version = attributes.get("tfs-model-version")
    method = attributes.get("tfs-method", "predict")
    if version is not None and not version.isdigit():
        raise bad_request(f"tfs-model-version={version!r}: not a version number")
    if method not in METHODS:
        raise bad_request(f"tfs-method={method!r}: expected one of predict, classify, regress")
    return Target(attributes.get("tfs-model-name", default_model), int(version) if version else None, method)


def to_tfs_request(content_type: str | None, body: bytes) -> bytes:
    """The TFS JSON request for an /invocations body; 415 for a content type SageMaker's container refuses."""
    kind = media_type(content_type)
    if kind in JSON_TYPES:
        return _json(body)
    if kind == "text/csv":
        return _csv(body)
    raise TfsError(415, f"Unsupported Media Type: {content_type or 'Unknown'}")


def _json(body: bytes) -> bytes:
    if _TFS_JSON.search(body):
        return body
    if _JSON_LINES.search(body):
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        return b'{"instances":[' + b",".join(lines) + b"]}"
    # One instance, unless it already looks like a batch (a list of lists).
    return b'{"instances":' + (body if _BATCH.match(body) else b"[" + body + b"]") + b"}"


def _csv(body: bytes) -> bytes:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(f"CSV body is not UTF-8: {exc}") from exc
    rows = [_csv_row(row) for row in csv.reader(io.StringIO(text.strip())) if row]
    return ('{"instances":[' + ",".join(rows) + "]}").encode()


def _csv_row(row: list[str]) -> str:
    cells = [c.strip() if _NUMBER.match(c.strip()) else json.dumps(c) for c in row]
    return cells[0] if len(cells) == 1 else "[" + ",".join(cells) + "]"


def reply_type(accept: str | None) -> str | None:
    """The Content-Type to answer with when Accept asks for JSON (its first type, as njs does), else None."""
    if not accept:
        return None
    types = [t.strip() for t in accept.split(",")]
    return types[0] if "application/json" in types or "application/jsonlines" in types else None
