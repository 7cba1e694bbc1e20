"""code/requirements.txt: installed from a local wheelhouse into a cached environment before the server starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, start_coserve, write_tarball

pytestmark = pytest.mark.integration
LISTER = ["python", str(ROOT / "tests" / "containers" / "lister.py")]  # the environment's, first on PATH


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of a tiny pure-Python package written here (`pip wheel`, no index)."""
    src = tmp_path_factory.mktemp("tinypkg")
    (src / "coserve_tinypkg").mkdir()
    (src / "coserve_tinypkg" / "__init__.py").write_text('VALUE = "installed from the wheelhouse"\n')
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "coserve-tinypkg"\nversion = "1.0"\n'
    )
    house = tmp_path_factory.mktemp("wheelhouse")
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
            "-w", str(house), str(src)]  # fmt: skip
    subprocess.run(argv, check=True, capture_output=True, timeout=300)
    return house


def deployment(artifact: Path, wheelhouse: Path) -> dict[str, Any]:
    return {
        "EndpointName": "req-ep",
        "Containers": [{"ContainerHostname": "app", "Image": "process", "ModelDataUrl": str(artifact),
                        "Environment": {"LISTER_IMPORT": "coserve_tinypkg"}}],
        "Coserve": {"Containers": {"app": {"Command": LISTER}}, "Storage": {"Wheelhouse": str(wheelhouse)},
                    "Server": {"OnArtifactError": "fatal"}},
    }  # fmt: skip


def test_requirements_installed_once_and_imported_by_the_container(wheelhouse: Path, tmp_path: Path) -> None:
    artifact = write_tarball(tmp_path / "model.tar.gz", {"code/requirements.txt": "coserve-tinypkg==1.0\n"})
    c = start_coserve(deployment(artifact, wheelhouse), tmp_path)
    try:
        r = json.loads(c.client().invoke_endpoint(EndpointName="req-ep", Body=b"{}")["Body"].read())
        assert r["imported"] == "installed from the wheelhouse"
        assert r["python"].startswith(str(tmp_path / "cache" / "pyenvs"))
        assert "Successfully installed coserve-tinypkg-1.0" in (tmp_path / "logs" / "app.log").read_text()
    finally:
        assert c.stop() == 0
    (tmp_path / "logs" / "app.log").unlink()
    again = start_coserve(deployment(artifact, wheelhouse), tmp_path)
    try:
        r = json.loads(again.client().invoke_endpoint(EndpointName="req-ep", Body=b"{}")["Body"].read())
        assert r["imported"] == "installed from the wheelhouse"
        assert "pip" not in (tmp_path / "logs" / "app.log").read_text(), "the same file installs nothing again"
        assert "already has it; nothing to install" in again.log.read_text()
        kept = _cli("cache", "prune", str(tmp_path / "deploy.yaml"), "--to", "0")
        assert kept.returncode == 0 and len(list((tmp_path / "cache" / "pyenvs").glob("*/bin"))) == 1, kept.stdout
    finally:
        assert again.stop() == 0
    listing = _cli("cache", "ls", str(tmp_path / "deploy.yaml"))
    assert "code/requirements.txt" in listing.stdout, "the environment counts against the cache budget"
    pruned = _cli("cache", "prune", str(tmp_path / "deploy.yaml"), "--to", "0")
    assert pruned.returncode == 0 and not list((tmp_path / "cache" / "pyenvs").glob("*/bin")), pruned.stdout


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "COLUMNS": "300"})  # fmt: skip


def test_a_pip_failure_is_fatal_at_once_with_pips_message(wheelhouse: Path, tmp_path: Path) -> None:
    artifact = write_tarball(tmp_path / "model.tar.gz", {"code/requirements.txt": "no-such-package-here==9.9\n"})
    c = start_coserve(deployment(artifact, wheelhouse), tmp_path, wait_ready=False)
    try:
        c.wait_state("app", "FATAL")
        log = (tmp_path / "logs" / "app.log").read_text()
        assert "No matching distribution found for no-such-package-here==9.9" in log
        assert "FETCHING -> FATAL" in log and "spawned" not in c.log.read_text(), "never started, never retried"
        assert not list((tmp_path / "cache" / "pyenvs").glob("*/bin")), "no half-built environment is kept"
    finally:
        c.stop()
