"""Sizes (`512MiB`, `2GiB`, `6MB`) and durations (`250ms`, `30s`, `4m`) as the deployment file writes them.

Both are exact and bounded: a size is computed in decimal arithmetic, never through a float that could
overflow, and a duration must be finite (YAML's `.inf` and `.nan` are floats too).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

_SIZE = re.compile(r"^\s*(\d{1,30}(?:\.\d{1,30})?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_SIZE_FACTORS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "ki": 2**10, "kib": 2**10,
    "m": 1000**2, "mb": 1000**2, "mi": 2**20, "mib": 2**20,
    "g": 1000**3, "gb": 1000**3, "gi": 2**30, "gib": 2**30,
    "t": 1000**4, "tb": 1000**4, "ti": 2**40, "tib": 2**40,
}  # fmt: skip
_DURATION = re.compile(r"^\s*(\d{1,30}(?:\.\d{1,30})?)\s*(ms|s|m|h)?\s*$")
_DURATION_FACTORS = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_SIZE = 2**60  # an exabyte: more than any limit could mean, less than any arithmetic would mind
MAX_DURATION_S = 10 * 365 * 86400.0  # ten years: "never" must be written as a number that still adds up


def _shown(value: object) -> str:
    """A bad value in a message, never longer than a line however long the value."""
    text = repr(value) if isinstance(value, str | int | float) else f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def parse_size(value: object) -> int:
    """Bytes from an int or a string with an optional unit; ValueError names what was wrong."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 512MiB, got {_shown(value)}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative, got {_shown(value)}")
        return _bounded_size(value)
    match = _SIZE.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected a size such as 512MiB or 2GiB, got {_shown(value)}")
    number, unit = match.groups()
    return _bounded_size(int(Decimal(number) * _SIZE_FACTORS[(unit or "").lower()]))


def _bounded_size(n: int) -> int:
    if n > MAX_SIZE:
        raise ValueError(f"must be at most {MAX_SIZE} bytes (1EiB)")
    return n


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as `30s`, `4m`, `250ms`; finite and at most ten years."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, got {_shown(value)}")
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError("a duration must be finite")
        if seconds < 0:
            raise ValueError(f"a duration cannot be negative, got {_shown(value)}")
    else:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f"expected a duration such as 30s, 4m or 250ms, got {_shown(value)}")
        number, unit = match.groups()
        seconds = float(Decimal(number) * Decimal(_DURATION_FACTORS[unit or ""]))
    if seconds > MAX_DURATION_S:
        raise ValueError(f"a duration must be at most ten years ({MAX_DURATION_S:g}s)")
    return seconds


def format_size(n: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor:
            return f"{n / factor:.1f}{unit}"
    return f"{n}B"
