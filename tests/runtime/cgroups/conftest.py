"""Shared fixtures: a real v1 backend with a unique run root, spawning, polling."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

from runtime.cgroups import Backend, detect

from .helpers import leftovers, skip_unless_v1


@pytest.fixture
def run_root() -> str:
    return f"coserve-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def v1(run_root: str) -> Iterator[Backend]:
    backend = detect(run_root)
    if backend.kind != "v1":
        backend.close()
        skip_unless_v1(backend.kind)
    yield backend
    backend.close()
    assert leftovers(run_root) == []


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Popen with the supervisor's flags; every process is killed and reaped at teardown."""
    started: list[subprocess.Popen[str]] = []

    def start(argv: list[str], **kwargs: object) -> subprocess.Popen[str]:
        proc = subprocess.Popen(argv, start_new_session=True, text=True, **kwargs)  # type: ignore[call-overload]
        started.append(proc)
        return proc  # type: ignore[no-any-return]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
