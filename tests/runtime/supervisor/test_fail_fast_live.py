"""Fail fast, for real: a server that cannot import what it needs is FATAL at its second identical exit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support import start_coserve

pytestmark = pytest.mark.integration


def test_an_import_error_is_fatal_with_its_message_not_restarted_into(tmp_path: Path) -> None:
    doc = {
        "EndpointName": "fail-fast-ep",
        "Containers": [{"ContainerHostname": "tf", "Image": "process"}],
        "Coserve": {
            "Containers": {"tf": {"Command": [sys.executable, "-c", "import tensorflow_serving_missing"]}},
            "Server": {"StartRetries": 10, "BackoffBase": "0.1s"},
        },
    }
    c = start_coserve(doc, tmp_path, wait_ready=False)
    try:
        c.wait_state("tf", "FATAL", timeout=60)
    finally:
        assert c.stop() == 0
    log = (tmp_path / "logs" / "tf.log").read_text()
    assert log.count("-> STARTING: spawned") == 2, "not restarted ten times into the same error"
    assert (
        "gave up: failed the same way twice in a row before answering a ping: Traceback (most recent call last): / "
        in log
    )
    assert "ModuleNotFoundError: No module named 'tensorflow_serving_missing' (exit status 1)" in log
