"""Limits validation and the "do the memory limits fit" check."""

from __future__ import annotations

import pytest

from runtime.cgroups import Limits, check_memory_fits

GIB = 1 << 30


def test_limits_that_fit_pass() -> None:
    assert check_memory_fits([GIB, 2 * GIB, None], host_total=4 * GIB) is None
    assert check_memory_fits([], host_total=GIB) is None
    assert check_memory_fits([GIB], host_total=None) is None  # this host has far more


def test_limits_that_do_not_fit_are_named_with_numbers() -> None:
    message = check_memory_fits([3 * GIB, 2 * GIB, None], host_total=4 * GIB)
    assert message is not None
    assert "2 containers" in message
    assert str(5 * GIB) in message
    assert str(4 * GIB) in message


@pytest.mark.parametrize(
    ("field", "value"),
    [("memory_bytes", 0), ("cpus", 0.0), ("cpu_weight", 0), ("cpu_weight", 10001), ("pids", 0)],
)
def test_bad_limits_name_the_field_and_value(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{field}: {value!r}"):
        Limits(**{field: value})  # type: ignore[arg-type]
