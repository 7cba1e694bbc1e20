"""The constraints of botocore's service model that its ParamValidator leaves to the service.

ParamValidator checks required members, types and minimums (what a client can check before sending);
the service itself also enforces maximum lengths and counts, enums and patterns. Worded as AWS words them:
`Value 'x' at 'ModelName' failed to satisfy constraint: Member must ...`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from botocore.model import Shape  # type: ignore[import-untyped]

# Members whose pattern coserve widens on purpose: ModelDataUrl also takes file:// URLs and absolute paths
# (model data on the host itself), as a deployment file does. Their other constraints still hold.
WIDENED = frozenset({"ModelDataUrl"})


def check(shape: Shape, value: Any, at: str = "") -> list[str]:
    """Every violation under `value`, one line each, naming the member's path."""
    found: list[str] = []
    _walk(shape, value, at, found)
    return found


def _walk(shape: Shape, value: Any, at: str, found: list[str], widened: bool = False) -> None:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                _walk(member, value[name], f"{at}.{name}" if at else name, found, name in WIDENED)
    elif kind == "list" and isinstance(value, list):
        _bounded(shape, value, len(value), at, found, "have length")
        for i, item in enumerate(value):
            _walk(shape.member, item, f"{at}[{i}]", found)
    elif kind == "map" and isinstance(value, dict):
        _bounded(shape, value, len(value), at, found, "have length")
        for key, item in value.items():
            _walk(shape.key, key, f"{at}.{key}", found)
            _walk(shape.value, item, f"{at}.{key}", found)
    elif kind == "string" and isinstance(value, str):
        _string(shape, value, at, found, widened)
    elif kind in ("integer", "long", "float", "double") and isinstance(value, int | float):
        _numeric(shape, value, at, found)


def _bounded(shape: Shape, value: object, size: int, at: str, found: list[str], what: str) -> None:
    top = shape.metadata.get("max")
    if top is not None and size > top:
        found.append(_fail(value, at, f"Member must {what} less than or equal to {top}"))


def _string(shape: Shape, value: str, at: str, found: list[str], widened: bool) -> None:
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        found.append(_fail(value, at, f"Member must satisfy enum value set: [{', '.join(enum)}]"))
        return
    _bounded(shape, value, len(value), at, found, "have length")
    pattern = None if widened else shape.metadata.get("pattern")
    compiled = _compiled(pattern) if pattern else None
    if compiled is not None and compiled.fullmatch(value) is None:
        found.append(_fail(value, at, f"Member must satisfy regular expression pattern: {pattern}"))


def _numeric(shape: Shape, value: float, at: str, found: list[str]) -> None:
    top = shape.metadata.get("max")
    if top is not None and value > top:
        found.append(_fail(value, at, f"Member must have value less than or equal to {top}"))


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    """The model's patterns are Java regular expressions; the few Python cannot read are left unchecked."""
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _fail(value: object, at: str, rule: str) -> str:
    shown = value if isinstance(value, str | int | float) and len(str(value)) <= 256 else "..."
    return f"Value '{shown}' at '{at}' failed to satisfy constraint: {rule}"
