"""ModelDataSource, AdditionalModelDataSources and the cache/pip settings: what parses, and each refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.config import ConfigError, load_deployment, parse_deployment
from runtime.config.sources import S3Data


def container(**fields: Any) -> dict[str, Any]:
    return {"EndpointName": "ep", "Containers": [{"ContainerHostname": "a", "Image": "process", **fields}],
            "Coserve": {"Containers": {"a": {"Command": ["srv"]}}}}  # fmt: skip


def s3(uri: str, kind: str = "S3Prefix", compression: str = "None", **more: Any) -> dict[str, Any]:
    return {"S3DataSource": {"S3Uri": uri, "S3DataType": kind, "CompressionType": compression, **more}}


def problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_deployment(doc)
    return info.value.problems


def test_each_supported_layout() -> None:
    prefix = parse_deployment(container(ModelDataSource=s3("s3://b/llm/"))).containers[0]
    assert prefix.model_data == S3Data("s3://b/llm/", "prefix") and prefix.model_data_url is None
    one = parse_deployment(container(ModelDataSource=s3("s3://b/w.bin", "S3Object"))).containers[0]
    assert one.model_data == S3Data("s3://b/w.bin", "object")
    packed = parse_deployment(container(ModelDataSource=s3("s3://b/m.tar.gz", "S3Object", "Gzip"))).containers[0]
    assert packed.model_data is None and packed.model_data_url == "s3://b/m.tar.gz"
    eula = s3("s3://b/llm/", ModelAccessConfig={"AcceptEula": True})
    assert parse_deployment(container(ModelDataSource=eula)).containers[0].model_data is not None


def test_additional_sources_by_channel() -> None:
    extra = [{"ChannelName": "lora", **s3("s3://b/lora/")}, {"ChannelName": "v.1", **s3("s3://b/v", "S3Object")}]
    spec = parse_deployment(container(ModelDataUrl="m.tar.gz", AdditionalModelDataSources=extra)).containers[0]
    assert [(c.name, c.data.layout) for c in spec.additional_sources] == [("lora", "prefix"), ("v.1", "object")]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"ModelDataUrl": "s3://b/m.tar.gz", "ModelDataSource": s3("s3://b/p/")}, "not both"),
        ({"ModelDataSource": s3("s3://b/p/", "S3Prefix", "Gzip")}, "S3Prefix takes CompressionType None"),
        ({"ModelDataSource": s3("s3://b/p", "S3Prefix")}, "must end with /"),
        ({"ModelDataSource": s3("s3://b/p/", "S3Object")}, "must name an object"),
        ({"ModelDataSource": s3("https://b/p/")}, "must be an s3://bucket/key URI"),
        ({"ModelDataSource": s3("s3://b/p/", "Manifest")}, "must be S3Prefix or S3Object"),
        ({"ModelDataSource": s3("s3://b/p/", compression="Zstd")}, "must be None or Gzip"),
        ({"ModelDataSource": s3("s3://b/p/", ManifestS3Uri="s3://b/m.csv")}, "ManifestS3Uri: not supported"),
        ({"ModelDataSource": s3("s3://b/p/", ETag="abc")}, "ETag: not supported"),
        ({"ModelDataSource": s3("s3://b/p/", ModelAccessConfig={"AcceptEula": "yes"})}, "AcceptEula"),
        ({"ModelDataSource": {"S3DataSource": {}}}, "required: S3Uri"),
        ({"ModelDataSource": {"S3Data": {}}}, "unknown key (expected S3DataSource)"),
        ({"AdditionalModelDataSources": [{"ChannelName": "../up", **s3("s3://b/x/")}]}, "ChannelName: must match"),
        ({"AdditionalModelDataSources": [{"ChannelName": "x", **s3("s3://b/x/")}] * 2}, "duplicates"),
        ({"AdditionalModelDataSources": [{"ChannelName": "x"}]}, "required: S3Uri"),
        ({"AdditionalModelDataSources": [{"ChannelName": f"c{i}", **s3("s3://b/x/")} for i in range(6)]}, "at most 5"),
    ],
)
def test_unsupported_combinations_are_config_errors(fields: dict[str, Any], expected: str) -> None:
    found = problems(container(**fields))
    assert any(expected in p for p in found), found


def test_cache_budget_and_wheelhouse(tmp_path: Path) -> None:
    doc = container()
    doc["Coserve"]["Storage"] = {"CacheMaxSize": "25%"}
    assert parse_deployment(doc).storage.cache_max == 0.25
    doc["Coserve"]["Storage"] = {"CacheMaxSize": "2GiB", "Wheelhouse": "wheels"}
    path = tmp_path / "deploy.yaml"
    path.write_text(str(doc).replace("'", '"'))
    loaded = load_deployment(path)
    assert loaded.storage.cache_max == 2 * 2**30
    assert loaded.storage.wheelhouse == tmp_path / "wheels", "a relative wheelhouse lies next to the file"
    for bad in ("150%", "0%", "0"):
        doc["Coserve"]["Storage"] = {"CacheMaxSize": bad}
        assert any("Coserve.Storage.CacheMaxSize" in p for p in problems(doc)), bad
