"""Where an asynchronous request's answer and error go in S3, derived from its InferenceId alone.

The same request always maps to the same keys, so a retry after a crash overwrites what a first attempt may have
written: the result is written once in effect, however often the container ran.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.asyncinv.config import AsyncConfig


@dataclass(frozen=True)
class Locations:
    output: str
    failure: str


def locations(config: AsyncConfig, inference_id: str, extension: str | None, filename: str | None) -> Locations:
    """`<S3OutputPath>[/<S3OutputPathExtension>]/<Filename or InferenceId.out>`; the failure beside it under
    S3FailurePath (S3OutputPath when the config has none) as `<InferenceId>-error.out`."""
    out_dir = _join(config.output_path, extension)
    fail_dir = _join(config.failure_path or config.output_path, extension)
    return Locations(f"{out_dir}/{filename or inference_id + '.out'}", f"{fail_dir}/{inference_id}-error.out")


def _join(base: str, extension: str | None) -> str:
    base = base.rstrip("/")
    return f"{base}/{extension.strip('/')}" if extension else base


def split(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key); ValueError for anything else (the caller words the error)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ValueError(f"an S3 URI must name a bucket and a key: {uri}")
    return bucket, key
