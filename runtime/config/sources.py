"""ModelDataSource and AdditionalModelDataSources: where a container's model data lies, as CreateModel says.

Supported, as SageMaker lays them out:
- `S3Object` + `Gzip`: a model.tar.gz, the same as ModelDataUrl.
- `S3Object` + `None`: one uncompressed object, its key's last part as the file name.
- `S3Prefix` + `None`: every object under the prefix, keys relative to it.
Anything else (`S3Prefix` + `Gzip`, a manifest, hub access, an ETag to check) is a config error naming
the field: model data coserve would lay out differently from SageMaker must not start at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from runtime.config.validate import Problems

CHANNEL = re.compile(r"^[A-Za-z0-9.\-_]{1,64}$")
S3_KEYS = {"S3Uri", "S3DataType", "CompressionType", "ModelAccessConfig",
           "HubAccessConfig", "ManifestS3Uri", "ETag", "ManifestEtag"}  # fmt: skip
UNSUPPORTED = ("HubAccessConfig", "ManifestS3Uri", "ETag", "ManifestEtag")
MAX_ADDITIONAL = 5  # CreateModel's own limit


@dataclass(frozen=True)
class S3Data:
    uri: str  # s3://bucket/key (an object) or s3://bucket/prefix/ (a prefix)
    layout: Literal["tarball", "object", "prefix"]  # how it becomes a directory (see the module docstring)


@dataclass(frozen=True)
class Channel:
    name: str  # ChannelName: its directory under /opt/ml/additional-model-data-sources/
    data: S3Data


def parse_model_data(p: Problems, at: str, c: dict[str, Any]) -> tuple[str | None, S3Data | None]:
    """(ModelDataUrl for a tarball, S3Data for uncompressed data) from a Containers entry."""
    url, source = c.get("ModelDataUrl"), c.get("ModelDataSource")
    if url is not None and (not isinstance(url, str) or not url or len(url) > 1024):
        p.add(f"{at}.ModelDataUrl", "must be a URL or path of at most 1024 characters", url)
        url = None
    if source is None:
        return url, None
    if url is not None:
        p.add(f"{at}.ModelDataSource", "give either ModelDataUrl or ModelDataSource, not both", "both")
        return url, None
    wrapper = p.mapping(f"{at}.ModelDataSource", source)
    for key in sorted(set(wrapper) - {"S3DataSource"}):
        p.add(f"{at}.ModelDataSource.{key}", "unknown key (expected S3DataSource)", wrapper[key])
    data = parse_s3_data(p, f"{at}.ModelDataSource.S3DataSource", wrapper.get("S3DataSource"))
    if data is not None and data.layout == "tarball":
        return data.uri, None
    return None, data


def parse_additional(p: Problems, at: str, raw: object) -> tuple[Channel, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_ADDITIONAL:
        p.add(at, f"must be a list of at most {MAX_ADDITIONAL} sources", raw)
        return ()
    channels: list[Channel] = []
    for i, item in enumerate(raw):
        entry = p.mapping(f"{at}[{i}]", item)
        for key in sorted(set(entry) - {"ChannelName", "S3DataSource"}):
            p.add(f"{at}[{i}].{key}", "unknown key (expected ChannelName, S3DataSource)", entry[key])
        name = entry.get("ChannelName")
        if not isinstance(name, str) or not CHANNEL.match(name) or name in (".", ".."):
            p.add(f"{at}[{i}].ChannelName", "must match [A-Za-z0-9.-_]{1,64} (not . or ..)", name)
            continue
        if any(c.name == name for c in channels):
            p.add(f"{at}[{i}].ChannelName", "duplicates an earlier channel", name)
            continue
        data = parse_s3_data(p, f"{at}[{i}].S3DataSource", entry.get("S3DataSource"), required=True)
        if data is not None:
            channels.append(Channel(name, data))
    return tuple(channels)


def parse_s3_data(p: Problems, at: str, raw: object, required: bool = True) -> S3Data | None:
    s3 = p.mapping(at, raw)
    if not s3:
        if required:
            p.add(at, "required: S3Uri, S3DataType and CompressionType", raw)
        return None
    for key in sorted(set(s3) - S3_KEYS):
        p.add(f"{at}.{key}", "unknown key", s3[key])
    for key in UNSUPPORTED:
        if key in s3:
            p.add(f"{at}.{key}", "not supported by coserve (remove it, or use ModelDataUrl)", s3[key])
    _model_access(p, f"{at}.ModelAccessConfig", s3.get("ModelAccessConfig"))
    uri = p.string(f"{at}.S3Uri", s3.get("S3Uri"), required=True)
    kind, compression = s3.get("S3DataType"), s3.get("CompressionType")
    if kind not in ("S3Prefix", "S3Object"):
        p.add(f"{at}.S3DataType", "must be S3Prefix or S3Object", kind)
    if compression not in ("None", "Gzip"):
        p.add(f"{at}.CompressionType", "must be None or Gzip", compression)
    if kind == "S3Prefix" and compression == "Gzip":
        p.add(f"{at}.CompressionType", "S3Prefix takes CompressionType None (SageMaker unpacks no prefix)", compression)
        return None
    if uri is None or kind not in ("S3Prefix", "S3Object") or compression not in ("None", "Gzip"):
        return None
    return _data(p, f"{at}.S3Uri", uri, kind, compression)


def _data(p: Problems, at: str, uri: str, kind: str, compression: str) -> S3Data | None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or len(uri) > 1024:
        p.add(at, "must be an s3://bucket/key URI of at most 1024 characters", uri)
        return None
    if kind == "S3Prefix":
        if key and not key.endswith("/"):
            p.add(at, "an S3Prefix URI must end with / (as SageMaker requires)", uri)
            return None
        return S3Data(uri, "prefix")
    if not key or key.endswith("/"):
        p.add(at, "an S3Object URI must name an object, not a prefix", uri)
        return None
    return S3Data(uri, "tarball" if compression == "Gzip" else "object")


def _model_access(p: Problems, at: str, raw: object) -> None:
    """AcceptEula is the user's statement to AWS; coserve records nothing, so only its shape is checked."""
    if raw is None:
        return
    access = p.mapping(at, raw)
    if set(access) != {"AcceptEula"} or not isinstance(access["AcceptEula"], bool):
        p.add(at, "must be {AcceptEula: true|false}", raw)


def describe(url: str | None, data: S3Data | None, channels: tuple[Channel, ...]) -> str:
    """One line for `coserve check` and `coserve fetch`: the model data and each additional channel."""
    main = f"{data.uri} ({data.layout})" if data else url or "(no artifact)"
    more = "".join(f", {c.name}: {c.data.uri} ({c.data.layout})" for c in channels)
    return main + more
