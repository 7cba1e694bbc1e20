"""The README's main job, run as a user runs it: examples/demo/run.py end to end."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, free_port

pytestmark = pytest.mark.integration


def run_demo(suite: str, workdir: Path) -> str:
    argv = [sys.executable, "examples/demo/run.py", "--suite", suite, "--port", str(free_port())]
    done = subprocess.run([*argv, "--workdir", str(workdir)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def accuracies(output: str) -> dict[str, float]:
    rows = re.findall(r"│ (\S+)\s+│ .*? │ .*? │ ([\d.]+)%", output)
    return {host: float(acc) for host, acc in rows}


def test_the_framework_free_demo_classifies_digits(tmp_path: Path) -> None:
    output = run_demo("digits", tmp_path)
    got = accuracies(output)
    assert set(got) == {"digits-sklearn", "digits-centroid"}
    assert all(acc > 80 for acc in got.values()), got
    # The streaming container: 24 words, one part each (50 ms apart), the first long before the last.
    parts, first, whole = map(int, re.findall(r"zen-writer: (\d+) parts, first after (\d+) ms, all after (\d+) ms",
                                              output)[0])  # fmt: skip
    assert parts >= 12, output
    assert first < whole - 500, output


def test_the_tensorflow_and_pytorch_demo_classifies_digits(tmp_path: Path) -> None:
    output = run_demo("mnist", tmp_path)
    got = accuracies(output)
    assert set(got) == {"tensorflow-mnist", "pytorch-mnist"}, output
    assert all(acc > 80 for acc in got.values()), got
    assert "coserve stopped (exit 0)" in output
