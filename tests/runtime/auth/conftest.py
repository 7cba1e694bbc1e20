"""Fixtures: a principal allowed everything, and an authenticator that knows it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from runtime.auth import Authenticator, Principal, load_principals
from tests.runtime.auth.boto_wire import ALLOW_ALL, KEY_ID, SECRET, Wire


@pytest.fixture
def principal() -> Principal:
    raw = [{"AccessKeyId": KEY_ID, "SecretAccessKey": SECRET, "Name": "alice", "Policies": [ALLOW_ALL]}]
    return load_principals(raw)[0]


@pytest.fixture
def authenticator(principal: Principal) -> Authenticator:
    return Authenticator([principal], region="us-east-1", account="123456789012")


@pytest.fixture
def authenticate(authenticator: Authenticator) -> Callable[..., Principal]:
    """Authenticate a captured request, by default at the moment it was signed."""

    def run(wire: Wire, now: datetime | None = None) -> Principal:
        return authenticator.authenticate(
            wire.method, wire.path, wire.query, wire.headers, wire.body, now=now or wire.signed_at
        )

    return run
