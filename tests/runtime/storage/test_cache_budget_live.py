"""The artifact cache within its budget: a prune while a container runs keeps its artifact, evicts the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.storage import ArtifactStore, StorageSettings
from runtime.storage.cache import TMP_PREFIX
from tests.support import ROOT, echo_container, start_coserve, write_tarball

pytestmark = pytest.mark.integration


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "COLUMNS": "300"})  # fmt: skip


def test_prune_while_a_container_runs_keeps_its_artifact_and_evicts_the_others(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    others = [write_tarball(tmp_path / f"old-{i}.tar.gz", {"model.txt": f"old {i}" + "x" * 200_000}) for i in range(3)]
    old = ArtifactStore(StorageSettings(cache_dir=cache, progress=False))
    old_dirs = [old.materialize(str(p), f"gone--old{i}") for i, p in enumerate(others)]  # a past run, unleased
    leftover = cache / "artifacts" / "blobs" / f"{TMP_PREFIX}crashed"
    leftover.write_bytes(b"half a download")
    mine = write_tarball(tmp_path / "mine.tar.gz", {"model.txt": "the running model"})
    container, settings = echo_container("live")
    container["ModelDataUrl"] = str(mine)
    doc = {"EndpointName": "budget-ep", "Containers": [container], "Coserve": {"Containers": {"live": settings}}}
    c = start_coserve(doc, tmp_path)
    try:
        assert not leftover.exists(), "temporary files a crash left are swept at start"
        listing = cli("cache", "ls", str(tmp_path / "deploy.yaml"))
        assert listing.returncode == 0, listing.stderr
        assert "4 artifacts" in " ".join(listing.stdout.split()) and "budget-ep--live" in listing.stdout

        pruned = cli("cache", "prune", str(tmp_path / "deploy.yaml"), "--to", "0")
        assert pruned.returncode == 0, pruned.stderr
        assert "3 evicted" in pruned.stdout
        assert not any(d.exists() for d in old_dirs)
        assert len(list((cache / "artifacts" / "blobs").iterdir())) == 1
        assert (cache / "models" / "budget-ep--live" / "model.txt").read_text() == "the running model"
        r = c.client().invoke_endpoint(EndpointName="budget-ep", Body=b"{}")
        assert json.loads(r["Body"].read())["model"] == "the running model"
        metrics = _metrics(c.url)
        assert 'coserve_artifact_cache_bytes{endpoint="budget-ep"' in metrics
    finally:
        assert c.stop() == 0
    after = cli("cache", "prune", str(tmp_path / "deploy.yaml"), "--to", "0")
    assert "1 evicted" in after.stdout, "once nothing runs it, its artifact may go too"
    assert not (cache / "models" / "budget-ep--live").exists()


def test_the_budget_is_kept_as_artifacts_arrive(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    store = ArtifactStore(StorageSettings(cache_dir=cache, progress=False, cache_max=700_000))
    for i in range(4):  # about 2 x 300 kB per artifact: blob + unpacked tree
        path = write_tarball(tmp_path / f"m{i}.tar.gz", {"model.bin": os.urandom(150_000) * 2})
        store.materialize(str(path), f"ep--m{i}")
    stats = store.stats()
    assert stats.evictions >= 2 and stats.size_bytes <= 700_000
    assert (cache / "models" / "ep--m3" / "model.bin").exists(), "the newest stays"
    assert not (cache / "models" / "ep--m0").exists(), "the least recently used goes first"


def _metrics(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        return r.read().decode()  # type: ignore[no-any-return]
