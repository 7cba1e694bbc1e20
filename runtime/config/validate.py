"""A collector of config problems, so that one run reports all of them together."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from runtime.units import parse_duration, parse_size

NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
T = TypeVar("T")


class Problems:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, field: str, rule: str, value: object) -> None:
        self.problems.append(f"{field}: {rule} (got {value!r})")

    def mapping(self, field: str, value: object) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        self.add(field, "must be a mapping", value)
        return {}

    def string(self, field: str, value: object, required: bool = False) -> str | None:
        if value is None and not required:
            return None
        if isinstance(value, str) and value:
            return value
        self.add(field, "required, a non-empty string" if value is None else "must be a non-empty string", value)
        return None

    def name(self, field: str, value: object, required: bool = False) -> str | None:
        """An EndpointName or VariantName: SageMaker's name pattern, at most 63 characters."""
        text = self.string(field, value, required)
        if text is not None and not NAME.match(text):
            self.add(field, "must match [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", text)
            return None
        return text

    def convert(self, field: str, value: object, conv: Callable[[Any], T]) -> T | None:
        if isinstance(value, bool):
            self.add(field, "must not be a boolean", value)
            return None
        try:
            return conv(value)
        except (TypeError, ValueError) as exc:
            self.add(field, str(exc), value)
            return None

    @staticmethod
    def size(value: object) -> int:
        return parse_size(value)

    @staticmethod
    def duration(value: object) -> float:
        return parse_duration(value)
