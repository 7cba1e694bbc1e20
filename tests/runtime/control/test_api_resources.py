"""Models and endpoint configs through real boto3 against ControlPlane under uvicorn."""

from __future__ import annotations

import json
from typing import Any

from tests.runtime.control.helpers import ACCOUNT_ARN, config, error, model, tampered
from tests.support import client_error


def test_model_create_describe_list_delete(sm: Any) -> None:
    assert sm.create_model(**model("Alpha"))["ModelArn"] == f"{ACCOUNT_ARN}:model/alpha"
    d = sm.describe_model(ModelName="alpha")
    assert d["ModelName"] == "Alpha" and d["PrimaryContainer"]["Image"] == "process"
    assert d["CreationTime"].tzinfo is not None  # botocore parsed an epoch-seconds timestamp
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["Alpha"]
    sm.delete_model(ModelName="Alpha")
    assert sm.list_models()["Models"] == []


def test_missing_and_duplicate_models_are_worded_as_sagemaker(sm: Any) -> None:
    arn = f"{ACCOUNT_ARN}:model/nope"
    for call in (lambda: sm.describe_model(ModelName="nope"), lambda: sm.delete_model(ModelName="nope")):
        assert error(client_error(call)) == ("ValidationException", f'Could not find model "{arn}".')
    sm.create_model(**model("m1"))
    assert error(client_error(lambda: sm.create_model(**model("M1")))) == (
        "ValidationException",
        f'Cannot create already existing model "{ACCOUNT_ARN}:model/m1".',
    )


def test_endpoint_config_needs_its_model_and_is_worded_as_sagemaker(sm: Any) -> None:
    code, message = error(client_error(lambda: sm.create_endpoint_config(**config("c1", "ghost"))))
    assert (code, message) == ("ValidationException", f'Could not find model "{ACCOUNT_ARN}:model/ghost".')
    sm.create_model(**model("m1"))
    assert sm.create_endpoint_config(**config("c1"))["EndpointConfigArn"] == f"{ACCOUNT_ARN}:endpoint-config/c1"
    d = sm.describe_endpoint_config(EndpointConfigName="c1")
    assert d["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"  # placement fields are shown back
    assert error(client_error(lambda: sm.create_endpoint_config(**config("c1")))) == (
        "ValidationException",
        f'Cannot create already existing endpoint configuration "{ACCOUNT_ARN}:endpoint-config/c1".',
    )
    sm.delete_endpoint_config(EndpointConfigName="c1")
    for call in (
        lambda: sm.describe_endpoint_config(EndpointConfigName="c1"),
        lambda: sm.delete_endpoint_config(EndpointConfigName="c1"),
    ):
        assert error(client_error(call)) == (
            "ValidationException",
            f'Could not find endpoint configuration "{ACCOUNT_ARN}:endpoint-config/c1".',
        )


def test_input_is_validated_against_botocores_model(sm: Any) -> None:
    """boto3 validates before sending; the service (this host) must do it too, for requests boto3 would not build."""
    cases = [
        (b'{"PrimaryContainer": {"Image": "process"}}', 'Missing required parameter in input: "ModelName"'),
        (b'{"ModelName": "m", "Colour": "blue"}', 'Unknown parameter in input: "Colour"'),
        (b'{"ModelName": 7}', 'Invalid type for parameter ModelName, value: 7'),
        (b'{"ModelName": "bad_name"}', "Value 'bad_name' at 'ModelName' failed to satisfy constraint: Member must "
         "satisfy regular expression pattern"),
        (json.dumps({"ModelName": "m", "Containers": [{"Image": "process"}] * 16}).encode(),
         "at 'Containers' failed to satisfy constraint: Member must have length less than or equal to 15"),
    ]  # fmt: skip
    for body, expected in cases:
        undo = tampered(sm, "CreateModel", body)
        code, message = error(client_error(lambda: sm.create_model(**model("m1"))))
        undo()
        assert code == "ValidationException" and expected in message, (body, message)
    code, message = error(client_error(lambda: sm.list_models(SortBy="Size")))  # boto3 checks no enums
    assert "Value 'Size' at 'SortBy' failed to satisfy constraint: Member must satisfy enum value set" in message
    assert sm.list_models()["Models"] == []


def test_unknown_operation_and_malformed_json(sm: Any) -> None:
    undo = tampered(sm, "ListModels", b"{}", target="SageMaker.CreateTrainingJob")
    code, message = error(client_error(lambda: sm.list_models()))
    undo()
    assert (code, message) == (
        "UnknownOperationException",
        "Operation SageMaker.CreateTrainingJob is not supported by coserve.",
    )
    undo = tampered(sm, "ListModels", b"{}", target="DynamoDB_20120810.ListTables")
    assert error(client_error(lambda: sm.list_models()))[0] == "UnknownOperationException"
    undo()
    for body in (b"{not json", b"[1, 2]"):
        undo = tampered(sm, "ListModels", body)
        code, message = error(client_error(lambda: sm.list_models()))
        undo()
        assert code == "SerializationException" and "JSON" in message


def test_model_config_errors_name_the_field(sm: Any) -> None:
    direct = {"ModelName": "d", "InferenceExecutionConfig": {"Mode": "Direct"},
              "Containers": [{"Image": "process"}, {"Image": "process"}]}  # fmt: skip
    code, message = error(client_error(lambda: sm.create_model(**direct)))
    assert code == "ValidationException" and "Containers[0].ContainerHostname: required in Direct mode" in message
    code, message = error(client_error(lambda: sm.create_model(**model("m", image="nginx"))))
    assert "Containers[0].Image: unknown image" in message
    code, message = error(client_error(lambda: sm.create_model(**model("m", url="models/m.tar.gz"))))
    assert "Containers[0].ModelDataUrl: a path must be absolute through the API" in message
    assert sm.list_models()["Models"] == []  # nothing half-written
