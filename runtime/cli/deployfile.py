"""The deployment argument of `coserve serve` as a local file: a path, or a file fetched from a URL.

A container image takes its deployment from a mounted path or from where a fleet keeps it (S3, or a
presigned https:// link). A fetched file is written under a temporary name and renamed, so a half-written
file is never read. Relative `ModelDataUrl` paths resolve against the local copy's folder, so a fetched
deployment should name its artifacts by URL or absolute path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TIMEOUT_S = 60.0


class DeploymentFetchError(Exception):
    """The deployment file named by a URL could not be fetched; the message names the URL and the cause."""


def localize(arg: str, workdir: Path) -> Path:
    """A local path for `arg`: a plain path (or file://) as is; s3:// and https:// downloaded into workdir."""
    if "://" not in arg:
        return Path(arg)
    scheme = urllib.parse.urlsplit(arg).scheme.lower()
    if scheme == "file":
        return Path(urllib.request.url2pathname(urllib.parse.urlsplit(arg).path))
    if scheme == "s3":
        return _fetch(arg, workdir, _s3_writer(arg))
    if scheme in ("https", "http"):
        return _fetch(arg, workdir, _http_writer(arg))
    raise DeploymentFetchError(f"deployment {arg}: unsupported scheme {scheme}:// (use a path, s3:// or https://)")


def _fetch(url: str, workdir: Path, write: Callable[[BinaryIO], None]) -> Path:
    name = _file_name(url)
    workdir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=workdir)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        target = workdir / name
        Path(tmp).replace(target)
        return target
    finally:
        Path(tmp).unlink(missing_ok=True)


def _file_name(url: str) -> str:
    """The URL's last path segment (so .yaml/.json still tells the format), else `deployment.yaml`."""
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    return name if name not in ("", ".", "..") else "deployment.yaml"


def _s3_writer(url: str) -> Callable[[BinaryIO], None]:
    parts = urllib.parse.urlsplit(url)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise DeploymentFetchError(f"deployment {url}: an S3 URL needs a bucket and a key (s3://bucket/key)")

    def write(out: BinaryIO) -> None:
        import boto3  # type: ignore[import-untyped]  # imported on use: a path-only start does not pay for it
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        try:
            boto3.session.Session().client("s3").download_fileobj(bucket, key, out)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            cause = f"{error.get('Code', 'error')}: {error.get('Message') or exc}"
            raise DeploymentFetchError(f"deployment {url}: {cause}") from exc
        except BotoCoreError as exc:
            raise DeploymentFetchError(f"deployment {url}: {exc}") from exc

    return write


def _http_writer(url: str) -> Callable[[BinaryIO], None]:
    def write(out: BinaryIO) -> None:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
                shutil.copyfileobj(response, out)
        except urllib.error.HTTPError as exc:
            with exc:
                raise DeploymentFetchError(f"deployment {_redact(url)}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            cause = getattr(exc, "reason", exc)
            raise DeploymentFetchError(f"deployment {_redact(url)}: {cause}") from exc

    return write


def _redact(url: str) -> str:
    """A presigned URL's query is a credential: errors name the URL without it."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(query="…" if parts.query else ""))
