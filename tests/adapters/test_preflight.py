"""Framework modules an adapter needs: named at `coserve check`, and a container without them fails at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adapters import preflight
from adapters.preflight import Need, missing
from runtime.cli import main
from runtime.config import load_deployment
from runtime.models import ModelPreparer

ABSENT = Need("coserve_no_such_module", True, "pip install 'coserve[imaginary]'")
OPTIONAL = Need("coserve_no_such_grpc", False, "its gRPC API is off without it")


@pytest.fixture
def deploy(tmp_path: Path) -> Path:
    path = tmp_path / "deploy.yaml"
    doc = {"EndpointName": "ep", "Containers": [{"ContainerHostname": "tf", "Image": "tensorflow-serving"}],
           "Coserve": {"Storage": {"CacheDir": str(tmp_path / "cache")},
                       "Server": {"LogDir": str(tmp_path / "logs")}}}  # fmt: skip
    path.write_text(yaml.safe_dump(doc))
    return path


def test_check_names_a_missing_module_and_the_extra(
    deploy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(preflight.NEEDS, "tensorflow-serving", (ABSENT, OPTIONAL))
    assert main(["check", str(deploy)]) == 2
    err = capsys.readouterr().err
    assert "error: container tf (tensorflow-serving) needs the Python module 'coserve_no_such_module'" in err
    assert "pip install 'coserve[imaginary]'" in err
    assert "note: container tf (tensorflow-serving) can use the Python module 'coserve_no_such_grpc'" in err


def test_an_optional_module_alone_is_a_note_not_an_error(deploy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(preflight.NEEDS, "tensorflow-serving", (OPTIONAL,))
    assert main(["check", str(deploy)]) == 0


def test_a_container_without_its_framework_fails_before_any_start(
    deploy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(preflight.NEEDS, "tensorflow-serving", (ABSENT,))
    with pytest.raises(RuntimeError, match="container tf: tensorflow-serving needs the Python module"):
        d = load_deployment(deploy)
        ModelPreparer(d).prepare(d.containers[0])


def test_a_tensorflow_model_server_binary_needs_no_tensorflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(preflight.NEEDS, "tensorflow-serving", (ABSENT,))
    assert missing("tensorflow-serving", {"COSERVE_TFS_SERVER": "/opt/tfs/tensorflow_model_server"}) == []
    assert missing("tensorflow-serving", {"COSERVE_TFS_SERVER": "builtin"}) == [ABSENT]
