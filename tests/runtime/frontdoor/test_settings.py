"""The front door's resolved settings: everything a worker needs, secrets inline, through JSON and back unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.auth.build import build_authenticator
from runtime.config import load_deployment
from runtime.frontdoor import FrontSettings
from runtime.rundir import RunDir

ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def write_deployment(tmp_path: Path, auth: dict[str, Any] | None) -> Path:
    server = {"Workers": 3, "KeepAlive": "7s", "MaxHeaders": 50, "StatusListen": "127.0.0.1:9"}
    own: dict[str, Any] = {"Containers": {"a": {"Command": ["srv"]}}, "Server": server}
    if auth is not None:
        own["Auth"] = auth
    doc = {"EndpointName": "ep", "VariantName": "v", "Containers": [{"ContainerHostname": "a", "Image": "process"}],
           "Coserve": own}  # fmt: skip
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_settings_survive_json_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "key").write_text("from-file\n")
    monkeypatch.setenv("T_ENV_SECRET", "from-env")
    auth = {"Region": "eu-west-1", "Principals": [
        {"AccessKeyId": "AKIDFILE", "SecretAccessKeyFile": "key", "Policies": [ALL]},
        {"AccessKeyId": "AKIDENV", "SecretAccessKeyEnv": "T_ENV_SECRET", "Name": "env-user"}]}  # fmt: skip
    settings = FrontSettings.of(load_deployment(write_deployment(tmp_path, auth)))
    assert FrontSettings.from_json(settings.to_json()) == settings
    assert (settings.workers, settings.keep_alive_s, settings.limits.max_headers) == (3, 7, 50)
    assert (settings.labels.endpoint, settings.labels.variant, settings.labels.hostnames) == ("ep", "v", ("a",))
    assert settings.auth is not None
    # Built with no folder and none of coserve's environment: every secret is inline, nothing is looked up.
    (tmp_path / "key").unlink()
    monkeypatch.delenv("T_ENV_SECRET")
    built = build_authenticator(settings.auth, None)
    assert {k: p.secret_access_key for k, p in built.principals.items()} == {"AKIDFILE": "from-file",
                                                                            "AKIDENV": "from-env"}  # fmt: skip
    assert (built.principals["AKIDENV"].name, built.region) == ("env-user", "eu-west-1")


def test_without_auth_there_is_nothing_secret(tmp_path: Path) -> None:
    settings = FrontSettings.of(load_deployment(write_deployment(tmp_path, None)))
    assert settings.auth is None and FrontSettings.from_json(settings.to_json()) == settings


def test_the_run_directory_is_created_and_cleaned_by_its_owner(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    run.create(workers=True)
    (run.prometheus / "counter_1.db").write_bytes(b"stale")  # a crashed run's counts
    run.create(workers=True)
    assert list(run.prometheus.iterdir()) == [], "an earlier run's counts must not count again"
    for path in (run.routes, run.stats, run.settings):
        path.write_text("{}")
    (run.root / "a").mkdir()  # not the run directory's own: left alone
    run.clean()
    assert [p.name for p in run.root.iterdir()] == ["a"]
    run.create(workers=False)
    assert not run.prometheus.exists(), "one process counts in memory"
