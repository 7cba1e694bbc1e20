"""Each container's model directory: its artifact fetched and unpacked, or an empty one."""

from __future__ import annotations

import logging
from pathlib import Path

from adapters import get_adapter
from runtime.config import Deployment
from runtime.images import ImageError, ensure_image
from runtime.storage import ArtifactError, ArtifactStore, StorageSettings

log = logging.getLogger("runtime.models")


class ModelPreparer:
    def __init__(self, d: Deployment) -> None:
        self.d = d
        s = d.storage
        self.store = ArtifactStore(
            StorageSettings(
                cache_dir=s.cache_dir, s3_endpoint_url=s.s3_endpoint_url, s3_addressing_style=s.s3_addressing_style,
                max_unpacked_bytes=s.max_unpacked_bytes, max_files=s.max_files,
            )
        )  # fmt: skip

    def prepare(self, hostname: str, url: str | None) -> Path:
        """Runs in a worker thread. Raises an error whose text names the container, the URL and the cause."""
        spec = self.d.container(hostname)
        if spec is not None and spec.adapter == "oci":
            self._image(hostname, spec.image, spec.image_pull)
        name = f"{self.d.endpoint_name}--{hostname}"
        if url is None:
            empty = self.d.storage.cache_dir / "models" / name
            empty.mkdir(parents=True, exist_ok=True)
            return empty
        try:
            return self.store.materialize(url, name)
        except ArtifactError as exc:
            raise RuntimeError(f"container {hostname}: model artifact {exc}") from exc

    def _image(self, hostname: str, image: str, policy: str) -> None:
        try:
            log.info("container %s: image %s %s", hostname, image, ensure_image(image, policy))
        except ImageError as exc:
            raise RuntimeError(f"container {hostname}: image {exc}") from exc

    def ready(self, hostname: str, status: int, body: bytes) -> bool:
        spec = self.d.container(hostname)
        assert spec is not None
        return get_adapter(spec.adapter).ready(status, body)
