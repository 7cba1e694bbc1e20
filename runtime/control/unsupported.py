"""What coserve cannot honour in a request: each field is named in a ValidationException, never ignored.

Fields that only place instances on SageMaker (InstanceType, InitialInstanceCount, ExecutionRoleArn, Tags,
VolumeSizeInGB, ...) have no meaning on one host of your own: they are accepted, kept and shown back.
"""

from __future__ import annotations

from typing import Any

from runtime.control.errors import unsupported

MODEL = {
    "VpcConfig": "containers run on this host's loopback network, not in a VPC",
}
CONTAINER = {
    "ModelPackageName": "give Image and ModelDataUrl instead of a model package",
    "InferenceSpecificationName": "give Image and ModelDataUrl instead of a model package",
    "MultiModelConfig": "multi-model endpoints are not supported",
    "ImageConfig": "images come from the host's own registries (see the README), not a VPC registry",
    "ContainerMetricsConfig": "coserve publishes its own per-container metrics",
}
CONFIG = {
    "DataCaptureConfig": "data capture is not supported",
    "KmsKeyId": "coserve does not encrypt the storage volume",
    "ExplainerConfig": "SageMaker Clarify explainers are not supported",
    "ShadowProductionVariants": "shadow variants are not supported",
    "VpcConfig": "containers run on this host's loopback network, not in a VPC",
    "MetricsConfig": "coserve publishes its own metrics",
}
VARIANT = {
    "AcceleratorType": "Elastic Inference accelerators do not exist on this host",
    "CoreDumpConfig": "core dumps are not collected",
    "ServerlessConfig": "serverless variants are not supported; a variant runs on this host",
    "ManagedInstanceScaling": "one host runs one copy of each variant",
    "InstancePools": "one host runs one copy of each variant",
    "AcceleratorPartitionLayouts": "accelerator partitions are not supported",
    "VariantInstanceProvisionTimeoutInSeconds": "no instances are provisioned",
}
# A variant that hosts inference components has no containers of its own to bound: each component's copies start
# within the host's Coserve.Server.StartupTimeout (runtime.control.components refuses StartupParameters too).
COMPONENT_HOST = {
    "ContainerStartupHealthCheckTimeoutInSeconds": "a variant that hosts inference components has no containers of "
    "its own; the components' copies start within the host's Coserve.Server.StartupTimeout",
    "ModelDataDownloadTimeoutInSeconds": "a variant that hosts inference components has no containers of its own; "
    "the components' artifacts are fetched without a bound",
}
DEPLOYMENT = "coserve switches all traffic at once, after the new containers pass their health checks (blue/green"
DEPLOYMENT += " ALL_AT_ONCE, SageMaker's default); leave DeploymentConfig out"


def check_model(p: dict[str, Any]) -> None:
    _named(p, "", MODEL)
    if p.get("EnableNetworkIsolation"):
        raise unsupported("EnableNetworkIsolation", "containers are not cut off from the network")
    containers = p.get("Containers", [p["PrimaryContainer"]] if "PrimaryContainer" in p else [])
    at = "Containers" if "Containers" in p else "PrimaryContainer"
    for i, c in enumerate(containers):
        where = f"{at}[{i}]." if at == "Containers" else f"{at}."
        _named(c, where, CONTAINER)
        if c.get("Mode", "SingleModel") != "SingleModel":
            raise unsupported(f"{where}Mode", "only SingleModel containers are supported")


def check_config(p: dict[str, Any]) -> None:
    _named(p, "", CONFIG)
    output = p.get("AsyncInferenceConfig", {}).get("OutputConfig", {})
    for key in ("S3OutputPath", "S3FailurePath"):
        if key in output and not str(output[key]).startswith("s3://"):
            raise unsupported(f"AsyncInferenceConfig.OutputConfig.{key} other than s3://",
                              "asynchronous answers are written to S3 (Coserve.Storage's endpoint)")  # fmt: skip
    if p.get("EnableNetworkIsolation"):
        raise unsupported("EnableNetworkIsolation", "containers are not cut off from the network")
    variants = p["ProductionVariants"]
    if len(variants) != 1:
        raise unsupported("ProductionVariants", f"an endpoint has exactly one production variant (got {len(variants)})")
    for i, v in enumerate(variants):
        _named(v, f"ProductionVariants[{i}].", VARIANT if "ModelName" in v else {**VARIANT, **COMPONENT_HOST})
        if v.get("EnableSSMAccess"):
            raise unsupported(f"ProductionVariants[{i}].EnableSSMAccess", "there is no SSM agent to reach")


def check_endpoint(p: dict[str, Any]) -> None:
    """CreateEndpoint and UpdateEndpoint."""
    if "DeploymentConfig" in p:
        raise unsupported("DeploymentConfig", DEPLOYMENT)
    if p.get("RetainAllVariantProperties"):
        raise unsupported("RetainAllVariantProperties", "the new config's variant properties always apply")
    if "ExcludeRetainedVariantProperties" in p:
        raise unsupported("ExcludeRetainedVariantProperties", "the new config's variant properties always apply")


def _named(p: dict[str, Any], at: str, table: dict[str, str]) -> None:
    for key, why in table.items():
        if key in p:
            raise unsupported(f"{at}{key}", why)
