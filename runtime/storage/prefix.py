"""Uncompressed model data in S3: every object under a prefix (or one object), laid out as SageMaker does.

Each object's key, less the prefix, is its path under the model directory, split on `/`. The objects
are checked before a byte is fetched: the same rules as tarball members (no absolute path, no `..`),
SageMaker's own (no empty, `.` or `..` part, none over 255 bytes, no folder-marker keys ending in `/`,
no name that is both a file and a directory), and the same size and file-count limits.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.storage.extract import ArchiveError, UnpackLimits, relative_name
from runtime.storage.s3 import S3Source
from runtime.storage.settings import ArtifactError


@dataclass(frozen=True)
class Entry:
    key: str  # the object's key in its bucket
    path: str  # where it goes under the model directory
    size: int


def list_entries(url: str, layout: str, client: Callable[[], Any]) -> list[Entry]:
    """The objects under an S3 prefix (layout "prefix") or the one object (layout "object")."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ArtifactError(url, "S3 URI must name a bucket", permanent=True)
    if layout == "object":
        size = S3Source(url, client).identify().size or 0
        return [Entry(prefix, posixpath.basename(prefix), size)]
    entries: list[Entry] = []
    try:
        pages = client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            entries += [Entry(o["Key"], o["Key"][len(prefix) :], int(o["Size"])) for o in page.get("Contents", [])]
    except Exception as exc:
        raise S3Source(url, client)._explain(exc, bucket, prefix) from exc
    if not entries:
        raise ArtifactError(url, "no objects under this prefix", permanent=True)
    return entries


def check_entries(entries: list[Entry], limits: UnpackLimits) -> None:
    """Refuse the whole set, before any download, if one name or a limit is broken."""
    if len(entries) > limits.max_files:
        raise ArchiveError(f"{len(entries)} objects, more than {limits.max_files}")
    total = sum(e.size for e in entries)
    if total > limits.max_bytes:
        raise ArchiveError(f"{total} bytes in all, more than {limits.max_bytes}")
    files: set[str] = set()
    for e in entries:
        files.add(_checked(e))
    for path in files:
        parent = posixpath.dirname(path)
        while parent:
            if parent in files:
                raise ArchiveError(f"key {path!r} clashes: {parent!r} is both a file and a directory")
            parent = posixpath.dirname(parent)


def _checked(e: Entry) -> str:
    if not e.path or e.path.endswith("/"):
        raise ArchiveError(f"key {e.key!r} names a folder (a key ending in /), which SageMaker refuses")
    parts = e.path.split("/")
    for part in parts:
        if part in ("", ".", "..") or "\0" in part or len(part.encode()) > 255:
            raise ArchiveError(f"key {e.key!r}: unsafe path part {part[:64]!r} (empty, ., .., NUL or over 255 bytes)")
    return relative_name(e.path, "key")


def tree_id(entries: list[Entry], shas: list[str]) -> str:
    """Names a laid-out tree by its content: every path and the sha256 of the bytes there."""
    manifest = sorted(zip((e.path for e in entries), shas, strict=True))
    return "data-" + hashlib.sha256(json.dumps(manifest).encode()).hexdigest()


def fill_tree(dest: Path, entries: list[Entry], blobs: list[Path]) -> None:
    """Hardlink each verified blob at its path: the bytes stay shared with the cache, read-only."""
    for entry, blob in zip(entries, blobs, strict=True):
        path = dest / entry.path
        path.parent.mkdir(parents=True, exist_ok=True)
        os.link(blob, path, follow_symlinks=False)
