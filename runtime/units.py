"""Sizes (`512MiB`, `2GiB`, `6MB`) and durations (`250ms`, `30s`, `4m`) as the deployment file writes them."""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_SIZE_FACTORS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "ki": 2**10, "kib": 2**10,
    "m": 1000**2, "mb": 1000**2, "mi": 2**20, "mib": 2**20,
    "g": 1000**3, "gb": 1000**3, "gi": 2**30, "gib": 2**30,
    "t": 1000**4, "tb": 1000**4, "ti": 2**40, "tib": 2**40,
}  # fmt: skip
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_FACTORS = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_size(value: object) -> int:
    """Bytes from an int or a string with an optional unit; ValueError names what was wrong."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 512MiB, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative, got {value!r}")
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected a size such as 512MiB or 2GiB, got {value!r}")
    number, unit = match.groups()
    return int(float(number) * _SIZE_FACTORS[(unit or "").lower()])


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as `30s`, `4m`, `250ms`."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected a duration such as 30s, 4m or 250ms, got {value!r}")
    number, unit = match.groups()
    return float(number) * _DURATION_FACTORS[unit or ""]


def format_size(n: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor:
            return f"{n / factor:.1f}{unit}"
    return f"{n}B"
