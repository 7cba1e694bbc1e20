"""Bring-your-own images in podman's local storage before their first start: pulled, or used as found.

Runs in the fetch step, beside the artifact, so a long pull does not count against StartupTimeout and
`podman run` never pulls. The policy is `Coserve.Containers.<hostname>.ImagePull`:

- missing (default): use the image when podman's local storage has it, else pull it;
- always: pull at every coserve start (a moving tag picks up its new image);
- never: use local storage only (images built or loaded on this host); absent is an error.

Credentials: podman's own (`podman login`, REGISTRY_AUTH_FILE, auth.json). For an ECR registry
(`<account>.dkr.ecr.<region>.amazonaws.com`), an authorization token from boto3's
`ecr.get_authorization_token` (so the instance role or AWS_* credentials work, as on SageMaker) goes to
`podman pull` in a temporary auth file, readable by root only and removed after the pull.
"""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.oci import podman_path
from adapters.ociref import EcrRegistry, ecr_registry, parse_reference

log = logging.getLogger("runtime.images")
PULL_TIMEOUT_S = 3600.0


class ImageError(RuntimeError):
    pass


def ecr_auth(registry: EcrRegistry, host: str, client: Callable[..., Any] | None = None) -> dict[str, Any]:
    """An auth.json document for one ECR registry, from a fresh authorization token (valid 12 hours)."""
    if client is None:
        import boto3  # type: ignore[import-untyped]  # only ECR pulls need it

        client = boto3.client
    try:
        answer = client("ecr", region_name=registry.region).get_authorization_token(registryIds=[registry.account])
        token = answer["authorizationData"][0]["authorizationToken"]
    except Exception as exc:  # botocore's errors: no credentials, access denied, no network
        raise ImageError(f"ECR authorization token for {host}: {exc}") from exc
    # The token is base64 of "AWS:<password>", which is what auth.json's "auth" holds.
    return {"auths": {host: {"auth": token}}}


def pull_command(podman: str, image: str, authfile: Path | None) -> list[str]:
    return [podman, "pull", "--quiet", *(["--authfile", str(authfile)] if authfile else []), image]


def ensure_image(image: str, policy: str, run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
                 ecr_client: Callable[..., Any] | None = None) -> str:  # fmt: skip
    """Make `image` present in podman's local storage as `policy` says; returns what was done."""
    podman = podman_path()
    ref = parse_reference(image)
    if podman is None or ref is None:
        raise ImageError(f"{image}: needs podman on PATH and a fully qualified image reference")
    if policy != "always" and _present(run, podman, image):
        return "found in local storage"
    if policy == "never":
        raise ImageError(f"{image} is not in podman's local storage, and ImagePull is never")
    ecr = ecr_registry(ref)
    with tempfile.TemporaryDirectory(prefix="coserve-auth-") as tmp:  # mode 0700: the token stays root's
        authfile = None
        if ecr is not None:
            authfile = Path(tmp) / "auth.json"
            authfile.write_text(json.dumps(ecr_auth(ecr, ref.registry, ecr_client)))
        log.info("pulling %s%s", image, " with an ECR token" if ecr else "")
        done = _run(run, pull_command(podman, image, authfile), PULL_TIMEOUT_S)
    if done.returncode != 0:
        raise ImageError(f"podman pull {image} failed: {_last_line(done.stderr) or f'exit {done.returncode}'}")
    return "pulled"


def _present(run: Callable[..., subprocess.CompletedProcess[str]], podman: str, image: str) -> bool:
    return bool(_run(run, [podman, "image", "exists", image], 60).returncode == 0)


def _run(run: Callable[..., subprocess.CompletedProcess[str]], argv: list[str], timeout: float) -> Any:
    try:
        return run(argv, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ImageError(f"{' '.join(argv[:3])}: {exc}") from exc


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
