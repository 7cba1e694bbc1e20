"""The iris pipeline example (examples/pipeline): three stacks chained, equal to the steps run by hand."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from types import ModuleType

import pytest
import yaml

from tests.support import ROOT, Coserve, client_error, start_coserve

pytestmark = pytest.mark.integration
EXAMPLE = ROOT / "examples" / "pipeline"


def load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pipeline_build", EXAMPLE / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coserve]:
    work = tmp_path_factory.mktemp("pipeline")
    artifacts = load_build().build(work / "artifacts")
    doc = yaml.safe_load((EXAMPLE / "deploy.yaml").read_text())
    for container in doc["Containers"]:
        container["ModelDataUrl"] = str(artifacts[container["ContainerHostname"]])
    del doc["Coserve"]["Server"], doc["Coserve"]["Storage"]  # start_coserve puts them in the temp dir
    c = start_coserve(doc, work)
    yield c
    c.stop()


def test_pipeline_output_equals_the_three_steps_by_hand(pipeline: Coserve) -> None:
    scaler, model, x_test, names = load_build().train()
    body = "".join(",".join(str(v) for v in row) + "\n" for row in x_test)
    r = pipeline.client().invoke_endpoint(
        EndpointName="iris-pipeline", ContentType="text/csv", Accept="application/json", Body=body
    )
    got = json.loads(r["Body"].read())
    probabilities = model.predict_proba(scaler.transform(x_test))
    expected = [{"label": names[p.argmax()], "confidence": round(float(p.max()), 4)} for p in probabilities]
    assert got == expected
    assert r["ContentType"] == "application/json"


def test_the_client_accept_reaches_the_last_step_only(pipeline: Coserve) -> None:
    r = pipeline.client().invoke_endpoint(
        EndpointName="iris-pipeline", ContentType="text/csv", Accept="text/csv", Body="5.1,3.5,1.4,0.2\n"
    )
    assert r["ContentType"] == "text/csv"
    assert r["Body"].read().decode().startswith("setosa,")


def test_a_bad_row_is_a_model_error_from_the_featurizer(pipeline: Coserve) -> None:

    info = client_error(
        lambda: pipeline.client().invoke_endpoint(EndpointName="iris-pipeline", ContentType="text/csv", Body="1,2\n")
    )
    assert info["Error"]["Message"].startswith("Received client error (400) from featurizer")
