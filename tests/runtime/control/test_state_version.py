"""A state directory written by a coserve with another schema version: `serve` refuses it, saying which it found."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.control.schema import FILE_NAME
from tests.support import ROOT, free_port

pytestmark = pytest.mark.integration


def test_an_unknown_schema_version_is_refused_by_name(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    db = sqlite3.connect(state / FILE_NAME)
    db.execute("PRAGMA user_version = 99")
    db.close()
    argv = [sys.executable, "-m", "runtime", "serve", "--state-dir", str(state), "--port", str(free_port())]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "has schema version 99" in done.stderr and "Traceback" not in done.stderr, done.stderr
    db = sqlite3.connect(state / FILE_NAME)
    try:  # left as it was: the version it had, no tables of this coserve's
        assert db.execute("PRAGMA user_version").fetchone()[0] == 99
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    finally:
        db.close()
