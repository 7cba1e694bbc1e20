"""A collector of config problems, so that one run reports all of them together."""

from __future__ import annotations

import re
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from runtime.units import parse_duration, parse_size

NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
T = TypeVar("T")
SHOWN = 200  # characters of a bad value or field name that a message repeats

# Bounded in breadth and depth as well as length: a value may be a huge or alias-shared structure.
_repr = reprlib.Repr()  # attributes, not keywords: Repr's keyword arguments are new in Python 3.12
_repr.maxlevel, _repr.maxdict, _repr.maxlist, _repr.maxtuple, _repr.maxset = 3, 6, 6, 6, 6
_repr.maxstring = _repr.maxother = 160
_repr.maxlong = 60


def shown(value: object) -> str:
    """The value as a message quotes it: a repr, cut short so that no value can flood a message."""
    text = _repr.repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


class Problems:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, field: str, rule: str, value: object) -> None:
        name = str(field) if len(str(field)) <= SHOWN else str(field)[: SHOWN - 3] + "..."
        self.problems.append(f"{name}: {rule} (got {shown(value)})")

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
        except (TypeError, ValueError, OverflowError) as exc:
            # The converters say ", got <value>" for their other callers; add() names the value once already.
            self.add(field, str(exc).split(", got ", 1)[0][:SHOWN], value)
            return None

    @staticmethod
    def integer(value: object) -> int:
        """An integer as written: 1.5 and 2.0 are refused, not truncated."""
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,18}", value.strip()):
            return int(value)
        raise ValueError("must be an integer")

    @staticmethod
    def path(value: object) -> Path:
        if not isinstance(value, str) or not value:
            raise ValueError("must be a non-empty path")
        if "\0" in value:
            raise ValueError("must not contain a NUL character")
        return Path(value)

    @staticmethod
    def size(value: object) -> int:
        return parse_size(value)

    @staticmethod
    def duration(value: object) -> float:
        return parse_duration(value)
